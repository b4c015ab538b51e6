//! Opening sealed segments in place.
//!
//! Invariant: no function here returns a byte of plaintext from a segment whose tag did not
//! verify. A failed segment's buffer is wiped by aws-lc (`EVP_AEAD_CTX_open_gather` clears its
//! output on any error) and the call returns [`CryptoError::Tampered`].

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce};

use crate::format::{
    HEADER_LEN, NONCE_PREFIX_LEN, ReadPlan, SEALED_SEGMENT_LEN, TAG_LEN, parse_header, plan_range,
    sealed_len, segment_nonce,
};
use crate::keys::aead_key;
use crate::{CryptoError, PartKey};

/// Opens the segments of one part. Made from the part's key and its header, which is checked
/// (magic, version, algorithm, segment size) and then authenticated with every segment.
pub struct PartOpener {
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    prefix: [u8; NONCE_PREFIX_LEN],
}

impl PartOpener {
    /// An opener for the part whose blob starts with `header` (exactly [`HEADER_LEN`] bytes).
    pub fn new(key: &PartKey, header: &[u8]) -> Result<Self, CryptoError> {
        let (header, prefix) = parse_header(header)?;
        Ok(Self {
            key: aead_key(key.bytes()),
            header,
            prefix,
        })
    }

    /// Opens segment `index` in place and returns its plaintext, a prefix of `sealed`.
    ///
    /// `sealed` is the segment's ciphertext and tag; `is_final` says whether it is the part's
    /// last segment (see [`ReadPlan::is_final`]). A segment that is not final must be exactly
    /// [`SEALED_SEGMENT_LEN`] bytes; a final one from [`TAG_LEN`] up to that.
    pub fn open_segment<'a>(
        &self,
        index: u32,
        is_final: bool,
        sealed: &'a mut [u8],
    ) -> Result<&'a [u8], CryptoError> {
        let len_ok = if is_final {
            (TAG_LEN..=SEALED_SEGMENT_LEN).contains(&sealed.len())
        } else {
            sealed.len() == SEALED_SEGMENT_LEN
        };
        if !len_ok {
            return Err(CryptoError::WrongLength);
        }
        let nonce = Nonce::assume_unique_for_key(segment_nonce(&self.prefix, index, is_final));
        // The tag passed apart: aws-lc-rs's `open_in_place` would move the plaintext down over
        // its own place afterwards (a 64 KiB `copy_within` per segment); this decrypts where it
        // lies.
        let (ciphertext, tag) = sealed.split_at_mut(sealed.len() - TAG_LEN);
        match self
            .key
            .open_in_place_separate_tag(nonce, Aad::from(&self.header), tag, ciphertext)
        {
            Ok(plaintext) => Ok(plaintext),
            Err(_) => Err(CryptoError::Tampered),
        }
    }

    /// Opens the sealed segments that `plan` names, in place, and returns the plaintext of the
    /// planned range, compacted to the front of `sealed`.
    ///
    /// `sealed` must be exactly the blob bytes at [`ReadPlan::blob_range`]. On error no plaintext
    /// is returned, even from segments before the failing one; `sealed` is left partly opened
    /// and must be discarded. For large ranges, stream instead: [`Self::open_segment`] on each
    /// segment of the plan and [`ReadPlan::trim`] (no compaction, constant memory).
    pub fn open_range<'a>(
        &self,
        plan: &ReadPlan,
        sealed: &'a mut [u8],
    ) -> Result<&'a [u8], CryptoError> {
        let blob_range = plan.blob_range();
        if sealed.len() as u64 != blob_range.end - blob_range.start {
            return Err(CryptoError::WrongLength);
        }
        let mut read = 0;
        let mut written = 0;
        for index in plan.segments() {
            let segment_len = plan.sealed_segment_len(index);
            let segment = &mut sealed[read..read + segment_len];
            let plaintext_len = self
                .open_segment(index, plan.is_final(index), segment)?
                .len();
            let kept = plan.kept_range(index, plaintext_len);
            // The kept bytes move left over the tags already passed: `written` ≤ `read + start`.
            sealed.copy_within(read + kept.start..read + kept.end, written);
            written += kept.len();
            read += segment_len;
        }
        Ok(&sealed[..written])
    }
}

/// Opens a whole part held in memory. `plaintext_len` is the size from the object record; a blob
/// of any other size fails with [`CryptoError::WrongLength`] before anything is decrypted. For
/// tests and small objects; servers stream with [`PartOpener`].
pub fn open_part(key: &PartKey, blob: &[u8], plaintext_len: u64) -> Result<Vec<u8>, CryptoError> {
    if blob.len() as u64 != sealed_len(plaintext_len)? {
        return Err(CryptoError::WrongLength);
    }
    let opener = PartOpener::new(key, &blob[..HEADER_LEN])?;
    let plan = plan_range(plaintext_len, 0..plaintext_len)?;
    let mut buffer = blob[HEADER_LEN..].to_vec();
    let kept = opener.open_range(&plan, &mut buffer)?.len();
    buffer.truncate(kept);
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::SEGMENT_SIZE;
    use crate::{DataKey, seal_part};

    const LEN: usize = 2 * SEGMENT_SIZE + 100;

    fn plaintext() -> Vec<u8> {
        (0..LEN).map(|i| (i % 253) as u8).collect()
    }

    /// A three-segment part (full, full, 100 bytes) and its key.
    fn sealed() -> (PartKey, Vec<u8>) {
        let key = DataKey::generate().unwrap().part_key(1);
        let blob = seal_part(&key, &plaintext()).unwrap();
        (key, blob)
    }

    fn segment(i: usize) -> std::ops::Range<usize> {
        let start = HEADER_LEN + i * SEALED_SEGMENT_LEN;
        start..(start + SEALED_SEGMENT_LEN).min(HEADER_LEN + LEN + 3 * TAG_LEN)
    }

    #[test]
    fn round_trip() {
        let (key, blob) = sealed();
        assert_eq!(open_part(&key, &blob, LEN as u64).unwrap(), plaintext());
    }

    #[test]
    fn empty_part_round_trip() {
        let key = DataKey::generate().unwrap().part_key(1);
        let blob = seal_part(&key, b"").unwrap();
        assert_eq!(blob.len(), HEADER_LEN + TAG_LEN);
        assert_eq!(open_part(&key, &blob, 0).unwrap(), b"");
    }

    /// Stops: silent corruption or an edit of stored ciphertext.
    #[test]
    fn flipped_ciphertext_bit_is_rejected() {
        let (key, mut blob) = sealed();
        blob[segment(1).start + 1234] ^= 0x80;
        assert_eq!(
            open_part(&key, &blob, LEN as u64),
            Err(CryptoError::Tampered)
        );
    }

    /// Stops: forging a segment by editing its tag.
    #[test]
    fn flipped_tag_bit_is_rejected() {
        let (key, mut blob) = sealed();
        let tag_byte = segment(2).end - 1;
        blob[tag_byte] ^= 0x01;
        assert_eq!(
            open_part(&key, &blob, LEN as u64),
            Err(CryptoError::Tampered)
        );
    }

    /// Stops: any edit of the header, which is every segment's additional data. Edits of the
    /// checked fields fail the checks; edits of the nonce prefix fail authentication.
    #[test]
    fn flipped_header_bit_is_rejected() {
        let (key, blob) = sealed();
        for byte in 0..HEADER_LEN {
            let mut tampered = blob.clone();
            tampered[byte] ^= 0x04;
            let err = open_part(&key, &tampered, LEN as u64).unwrap_err();
            let expected = match byte {
                0..=3 | 6..=9 => CryptoError::BadHeader,
                4 => CryptoError::UnsupportedVersion(5),
                5 => CryptoError::UnsupportedAlgorithm(5),
                _ => CryptoError::Tampered,
            };
            assert_eq!(err, expected, "header byte {byte}");
        }
    }

    /// Stops: rearranging header fields, or putting another part's header in front of these
    /// segments.
    #[test]
    fn reordered_or_replaced_header_is_rejected() {
        let (key, blob) = sealed();
        let mut reordered = blob.clone();
        reordered[10..HEADER_LEN].reverse();
        assert_eq!(
            open_part(&key, &reordered, LEN as u64),
            Err(CryptoError::Tampered)
        );
        let mut swapped_fields = blob.clone();
        swapped_fields.swap(4, 5);
        swapped_fields[6..10].rotate_left(1);
        assert!(open_part(&key, &swapped_fields, LEN as u64).is_err());
        let other = seal_part(&key, &plaintext()).unwrap();
        let mut replaced = blob.clone();
        replaced[..HEADER_LEN].copy_from_slice(&other[..HEADER_LEN]);
        assert_eq!(
            open_part(&key, &replaced, LEN as u64),
            Err(CryptoError::Tampered)
        );
    }

    /// Stops: reordering segments within a part.
    #[test]
    fn swapped_segments_are_rejected() {
        let (key, blob) = sealed();
        let mut swapped = blob.clone();
        swapped[segment(0)].copy_from_slice(&blob[segment(1)]);
        swapped[segment(1)].copy_from_slice(&blob[segment(0)]);
        assert_eq!(
            open_part(&key, &swapped, LEN as u64),
            Err(CryptoError::Tampered)
        );
    }

    /// Stops: truncation at a segment boundary, even if the recorded size is cut to match.
    #[test]
    fn dropped_last_segment_is_rejected() {
        let (key, blob) = sealed();
        let truncated = &blob[..segment(2).start];
        assert_eq!(
            open_part(&key, truncated, LEN as u64),
            Err(CryptoError::WrongLength)
        );
        assert_eq!(
            open_part(&key, truncated, 2 * SEGMENT_SIZE as u64),
            Err(CryptoError::Tampered)
        );
    }

    /// Stops: a reader told a wrong (shorter) size opening a middle segment as if it were last.
    #[test]
    fn middle_segment_opened_as_final_is_rejected() {
        let (key, mut blob) = sealed();
        let opener = PartOpener::new(&key, &blob[..HEADER_LEN]).unwrap();
        let range = segment(1);
        assert_eq!(
            opener.open_segment(1, true, &mut blob[range]),
            Err(CryptoError::Tampered)
        );
    }

    /// Stops: appending a segment after the final one.
    #[test]
    fn segment_appended_after_final_is_rejected() {
        let (key, blob) = sealed();
        let mut extended = blob.clone();
        extended.extend_from_slice(&blob[segment(1)]);
        let claimed = plaintext_len_of(&extended);
        assert!(open_part(&key, &extended, claimed).is_err());
    }

    fn plaintext_len_of(blob: &[u8]) -> u64 {
        crate::plaintext_len(blob.len() as u64).unwrap()
    }

    /// Stops: splicing a segment of another part of the same object (same data key, other part
    /// key) into this part.
    #[test]
    fn segment_from_another_part_is_rejected() {
        let dek = DataKey::generate().unwrap();
        let one = dek.part_key(1);
        let two = dek.part_key(2);
        // Same nonce prefix (so the same header) for both, so only the key differs.
        let seal = |key: &PartKey| {
            let mut sealer = crate::PartSealer::with_nonce_prefix(key, [3; 7]);
            let mut out = Vec::new();
            sealer.push(&plaintext(), &mut out).unwrap();
            sealer.finish(&mut out).unwrap();
            out
        };
        let blob_one = seal(&one);
        let blob_two = seal(&two);
        assert_eq!(blob_one[..HEADER_LEN], blob_two[..HEADER_LEN]);
        let mut spliced = blob_one.clone();
        spliced[segment(1)].copy_from_slice(&blob_two[segment(1)]);
        assert_eq!(
            open_part(&one, &spliced, LEN as u64),
            Err(CryptoError::Tampered)
        );
    }

    /// Stops: splicing a segment of another object (other data key) into this part.
    #[test]
    fn segment_from_another_object_is_rejected() {
        let (key, blob) = sealed();
        let (_, other) = sealed();
        let mut spliced = blob.clone();
        spliced[segment(0)].copy_from_slice(&other[segment(0)]);
        assert_eq!(
            open_part(&key, &spliced, LEN as u64),
            Err(CryptoError::Tampered)
        );
    }

    /// Stops: splicing a segment sealed under the same key but another nonce prefix (the same
    /// part sealed twice, for example a retried upload).
    #[test]
    fn segment_from_another_upload_of_the_same_part_is_rejected() {
        let (key, blob) = sealed();
        let again = seal_part(&key, &plaintext()).unwrap();
        let mut spliced = blob.clone();
        spliced[segment(2)].copy_from_slice(&again[segment(2)]);
        assert_eq!(
            open_part(&key, &spliced, LEN as u64),
            Err(CryptoError::Tampered)
        );
    }

    /// Stops: reading with the wrong key (another object's data key).
    #[test]
    fn wrong_key_is_rejected() {
        let (_, blob) = sealed();
        let other = DataKey::generate().unwrap().part_key(1);
        assert_eq!(
            open_part(&other, &blob, LEN as u64),
            Err(CryptoError::Tampered)
        );
    }

    /// A range whose last segment fails returns no plaintext at all, even from the segments
    /// before it that did authenticate.
    #[test]
    fn failed_range_returns_nothing() {
        let (key, mut blob) = sealed();
        let opener = PartOpener::new(&key, &blob[..HEADER_LEN]).unwrap();
        let plan = plan_range(LEN as u64, 10..LEN as u64).unwrap();
        blob[segment(2).start] ^= 1;
        let range = plan.blob_range();
        let sealed = &mut blob[range.start as usize..range.end as usize];
        assert_eq!(opener.open_range(&plan, sealed), Err(CryptoError::Tampered));
    }

    #[test]
    fn segment_lengths_are_checked_before_decrypting() {
        let (key, mut blob) = sealed();
        let opener = PartOpener::new(&key, &blob[..HEADER_LEN]).unwrap();
        assert_eq!(
            opener.open_segment(0, false, &mut blob[HEADER_LEN..HEADER_LEN + 100]),
            Err(CryptoError::WrongLength)
        );
        assert_eq!(
            opener.open_segment(2, true, &mut blob[HEADER_LEN..HEADER_LEN + 15]),
            Err(CryptoError::WrongLength)
        );
        let plan = plan_range(LEN as u64, 0..10).unwrap();
        assert_eq!(
            opener.open_range(&plan, &mut blob[HEADER_LEN..HEADER_LEN + 10]),
            Err(CryptoError::WrongLength)
        );
    }

    #[test]
    fn ranges_open_to_the_right_bytes() {
        let (key, blob) = sealed();
        let expected = plaintext();
        let opener = PartOpener::new(&key, &blob[..HEADER_LEN]).unwrap();
        let s = SEGMENT_SIZE;
        for (start, end) in [
            (0, 1),
            (0, LEN),
            (s - 1, s + 1),
            (s, 2 * s),
            (2 * s, LEN),
            (LEN - 1, LEN),
            (5, 6),
        ] {
            let plan = plan_range(LEN as u64, start as u64..end as u64).unwrap();
            let range = plan.blob_range();
            let mut fetched = blob[range.start as usize..range.end as usize].to_vec();
            let opened = opener.open_range(&plan, &mut fetched).unwrap();
            assert_eq!(opened, &expected[start..end], "{start}..{end}");
        }
    }
}
