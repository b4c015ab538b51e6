//! Sealing a part: as a stream in constant memory ([`PartSealer`]), or segment by segment in
//! the caller's own buffers ([`SegmentSealer`]).
//!
//! Invariant: [`PartSealer`] only ever appends sealed bytes (the header, then ciphertext and tags)
//! to the caller's output; plaintext waits in the sealer's own buffer until it is sealed.
//! [`SegmentSealer`] turns the caller's plaintext buffer into ciphertext in place.
//!
//! Sealing the same part number again under the same data key (an S3 client re-uploading a part)
//! is safe: every sealer draws a fresh random 56-bit nonce prefix, so nonces repeat only if two
//! prefixes collide, about n²/2^57 for n seals of one part.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce};

use crate::format::{
    HEADER_LEN, MAX_PART_LEN, NONCE_PREFIX_LEN, SEALED_SEGMENT_LEN, SEGMENT_SIZE, TAG_LEN,
    encode_header, sealed_len, segment_nonce,
};
use crate::keys::{SEAL_CANNOT_FAIL, aead_key, random_array};
use crate::{CryptoError, PartKey};

/// Seals one part segment by segment, in place in the caller's buffers: no copy at all.
///
/// For a server that knows the part's size in advance (S3 sends `Content-Length`) and reads the
/// body straight into segment-sized buffers. The caller writes [`header`](Self::header) first,
/// then each segment's ciphertext followed by its tag. The types enforce the format: every
/// segment before the last is exactly [`SEGMENT_SIZE`] bytes, and after
/// [`seal_last`](Self::seal_last) the sealer is gone. A blob missing its header or its last
/// segment opens to nothing but an error.
pub struct SegmentSealer {
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    prefix: [u8; NONCE_PREFIX_LEN],
    /// Index of the next segment to seal. u64 so that it cannot wrap; checked against u32.
    next_index: u64,
}

impl SegmentSealer {
    /// A sealer for one part under `key`, with a fresh random nonce prefix.
    pub fn new(key: &PartKey) -> Result<Self, CryptoError> {
        Ok(Self::with_nonce_prefix(key, random_array()?))
    }

    /// A sealer with a chosen nonce prefix: for known-answer tests only, since a repeated prefix
    /// under one key repeats nonces.
    pub(crate) fn with_nonce_prefix(key: &PartKey, prefix: [u8; NONCE_PREFIX_LEN]) -> Self {
        Self {
            key: aead_key(key.bytes()),
            header: encode_header(&prefix),
            prefix,
            next_index: 0,
        }
    }

    /// The part's header: the first [`HEADER_LEN`] bytes of the blob.
    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    /// Seals a full segment that is not the part's last, in place, and returns its tag, which
    /// follows the ciphertext in the blob.
    pub fn seal_next(
        &mut self,
        segment: &mut [u8; SEGMENT_SIZE],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        self.seal(segment, false)
    }

    /// Seals the part's last segment (1 to [`SEGMENT_SIZE`] bytes; empty only when it is the
    /// only segment, i.e. the part is empty) in place and returns its tag.
    pub fn seal_last(mut self, segment: &mut [u8]) -> Result<[u8; TAG_LEN], CryptoError> {
        if segment.len() > SEGMENT_SIZE || (segment.is_empty() && self.next_index > 0) {
            return Err(CryptoError::WrongLength);
        }
        self.seal(segment, true)
    }

    /// Seals `segment` in place as the next segment. The caller guarantees the length rules.
    fn seal(&mut self, segment: &mut [u8], is_final: bool) -> Result<[u8; TAG_LEN], CryptoError> {
        let index = u32::try_from(self.next_index).map_err(|_| CryptoError::PartTooLarge)?;
        self.next_index += 1;
        let nonce = Nonce::assume_unique_for_key(segment_nonce(&self.prefix, index, is_final));
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(&self.header), segment)
            .expect(SEAL_CANNOT_FAIL);
        let mut bytes = [0u8; TAG_LEN];
        bytes.copy_from_slice(tag.as_ref());
        Ok(bytes)
    }
}

/// Seals one part as its plaintext arrives in chunks of any size.
///
/// Everything appended to `out` by [`push`](Self::push) and [`finish`](Self::finish), taken in
/// order, is exactly the part's blob: the header comes out with the first sealed segment. A
/// segment is sealed only once it is known whether it is the part's last (the final flag is in
/// its nonce), so up to one full segment (64 KiB) stays buffered until more data arrives or
/// `finish` is called. Dropping a sealer without `finish` yields an incomplete blob that no
/// opener accepts.
///
/// Each plaintext byte is copied once (from `data` into the sealer's buffer or into `out`) and
/// then sealed where it lies. After an error the sealer must be discarded.
pub struct PartSealer {
    segments: SegmentSealer,
    /// `[header if not yet emitted] ‖ plaintext of the next segment`, sealed in place. Its
    /// capacity stays at least `HEADER_LEN + SEALED_SEGMENT_LEN`, so it never reallocates.
    pending: Vec<u8>,
    /// Where the plaintext starts in `pending` (after the header, while it is still there).
    pending_start: usize,
    plaintext_len: u64,
}

const PENDING_CAPACITY: usize = HEADER_LEN + SEALED_SEGMENT_LEN;

impl PartSealer {
    /// A sealer for one part under `key`, with a fresh random nonce prefix.
    pub fn new(key: &PartKey) -> Result<Self, CryptoError> {
        Ok(Self::from_segments(SegmentSealer::new(key)?))
    }

    /// A sealer with a chosen nonce prefix: for known-answer tests only.
    #[cfg(test)]
    pub(crate) fn with_nonce_prefix(key: &PartKey, prefix: [u8; NONCE_PREFIX_LEN]) -> Self {
        Self::from_segments(SegmentSealer::with_nonce_prefix(key, prefix))
    }

    fn from_segments(segments: SegmentSealer) -> Self {
        let mut pending = Vec::with_capacity(PENDING_CAPACITY);
        pending.extend_from_slice(&segments.header);
        Self {
            segments,
            pending,
            pending_start: HEADER_LEN,
            plaintext_len: 0,
        }
    }

    /// Plaintext bytes pushed so far.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// Takes `data` as the next plaintext of the part and appends every segment that can now be
    /// sealed to `out`. Fails with [`CryptoError::PartTooLarge`] past [`MAX_PART_LEN`], before
    /// taking any of `data`.
    ///
    /// Whole segments inside a large `data` are copied straight into `out` and sealed there.
    /// When `out` is empty and no larger than the sealer's buffer, the sealer hands its buffer
    /// over instead of copying it (the allocation behind `out` then changes): a caller that
    /// drains `out` after every push pays no second copy.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let new_len = self
            .plaintext_len
            .checked_add(data.len() as u64)
            .filter(|&len| len <= MAX_PART_LEN)
            .ok_or(CryptoError::PartTooLarge)?;
        if data.len() >= SEGMENT_SIZE {
            out.reserve(data.len() + (data.len() / SEGMENT_SIZE + 1) * TAG_LEN + HEADER_LEN);
        }
        while !data.is_empty() {
            let buffered = self.pending.len() - self.pending_start;
            if buffered == SEGMENT_SIZE {
                // More plaintext follows, so the buffered segment is not the last.
                self.seal_pending(false, out)?;
                continue;
            }
            if buffered == 0 && data.len() > SEGMENT_SIZE {
                // A whole segment with more plaintext after it: seal it straight into `out`.
                let (segment, rest) = data.split_at(SEGMENT_SIZE);
                self.seal_into(segment, out)?;
                data = rest;
                continue;
            }
            let take = (SEGMENT_SIZE - buffered).min(data.len());
            let (head, rest) = data.split_at(take);
            self.pending.extend_from_slice(head);
            data = rest;
        }
        self.plaintext_len = new_len;
        Ok(())
    }

    /// Seals the last segment (an empty one if nothing was pushed), appends it to `out`, and
    /// returns the part's plaintext length.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<u64, CryptoError> {
        self.seal_pending(true, out)?;
        Ok(self.plaintext_len)
    }

    /// Seals the buffered plaintext in place and moves `pending` (with the header, if still
    /// there) to `out`.
    fn seal_pending(&mut self, is_final: bool, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let tag = self
            .segments
            .seal(&mut self.pending[self.pending_start..], is_final)?;
        self.pending.extend_from_slice(&tag);
        if out.is_empty() && out.capacity() <= self.pending.capacity() {
            // Hand the sealed buffer over instead of copying it; keep the caller's allocation.
            std::mem::swap(out, &mut self.pending);
            self.pending.clear();
            self.pending.reserve_exact(PENDING_CAPACITY);
        } else {
            out.extend_from_slice(&self.pending);
            self.pending.clear();
        }
        self.pending_start = 0;
        Ok(())
    }

    /// Seals a whole non-final `segment` directly into `out`, after the header if it is still
    /// pending. Precondition: no plaintext is buffered.
    fn seal_into(&mut self, segment: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        debug_assert_eq!(self.pending.len(), self.pending_start);
        debug_assert_eq!(segment.len(), SEGMENT_SIZE);
        let mark = out.len();
        out.extend_from_slice(&self.pending);
        let start = out.len();
        out.extend_from_slice(segment);
        match self.segments.seal(&mut out[start..], false) {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                self.pending.clear();
                self.pending_start = 0;
                Ok(())
            }
            Err(err) => {
                // Never leave plaintext in `out`.
                out.truncate(mark);
                Err(err)
            }
        }
    }
}

/// Seals a whole part held in memory: the blob is `sealed_len(plaintext.len())` bytes. For tests
/// and small objects; servers stream with [`PartSealer`].
pub fn seal_part(key: &PartKey, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let capacity = usize::try_from(sealed_len(plaintext.len() as u64)?)
        .map_err(|_| CryptoError::PartTooLarge)?;
    let mut out = Vec::with_capacity(capacity);
    let mut sealer = PartSealer::new(key)?;
    sealer.push(plaintext, &mut out)?;
    sealer.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DataKey, open_part};

    const PREFIX: [u8; NONCE_PREFIX_LEN] = [0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6];

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn kat_key() -> PartKey {
        let bytes: Vec<u8> = (0..32).collect();
        DataKey::from_bytes(&bytes).unwrap().part_key(1)
    }

    fn seal_with_prefix(key: &PartKey, plaintext: &[u8]) -> Vec<u8> {
        let mut sealer = PartSealer::with_nonce_prefix(key, PREFIX);
        let mut out = Vec::new();
        sealer.push(plaintext, &mut out).unwrap();
        sealer.finish(&mut out).unwrap();
        out
    }

    // Known answers computed independently with Python's `cryptography` AESGCM and `hmac`:
    // key = HKDF-SHA256(00..1f, salt empty, "coffer part" ‖ 00000001), prefix a0..a6.

    #[test]
    fn one_short_segment_known_answer() {
        assert_eq!(
            hex(&seal_with_prefix(&kat_key(), b"coffer")),
            "43465253010100010000a0a1a2a3a4a5a6\
             efd71bf14e1378f069334cb5ac6830a8899cba17b569"
        );
    }

    #[test]
    fn empty_part_is_one_empty_final_segment_known_answer() {
        assert_eq!(
            hex(&seal_with_prefix(&kat_key(), b"")),
            "43465253010100010000a0a1a2a3a4a5a648f1b7af99e485ce193e2755cd988d97"
        );
    }

    /// Two segments: index 0 not final, index 1 (one byte) final.
    #[test]
    fn two_segments_known_answer() {
        let plaintext: Vec<u8> = (0..65537u32).map(|i| (i % 251) as u8).collect();
        let blob = seal_with_prefix(&kat_key(), &plaintext);
        assert_eq!(blob.len(), 65586);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &blob);
        assert_eq!(
            hex(digest.as_ref()),
            "b5ca3c3e61b1d34f9620ba1430fc6eb8d9bff2cf66c3dbd5abbab0ae287c1e95"
        );
    }

    /// The in-place segment sealer writes the same blob as the streaming one.
    #[test]
    fn segment_sealer_matches_part_sealer() {
        let key = kat_key();
        let plaintext: Vec<u8> = (0..65537u32).map(|i| (i % 251) as u8).collect();
        let mut sealer = SegmentSealer::with_nonce_prefix(&key, PREFIX);
        let mut blob = sealer.header().to_vec();
        let mut first: [u8; SEGMENT_SIZE] = plaintext[..SEGMENT_SIZE].try_into().unwrap();
        let tag = sealer.seal_next(&mut first).unwrap();
        blob.extend_from_slice(&first);
        blob.extend_from_slice(&tag);
        let mut last = plaintext[SEGMENT_SIZE..].to_vec();
        let tag = sealer.seal_last(&mut last).unwrap();
        blob.extend_from_slice(&last);
        blob.extend_from_slice(&tag);
        assert_eq!(blob, seal_with_prefix(&key, &plaintext));
    }

    /// Stops a segment sealer from writing a blob the format cannot describe: a trailing empty
    /// segment, or a last segment longer than a segment.
    #[test]
    fn segment_sealer_refuses_impossible_last_segments() {
        let key = kat_key();
        let mut sealer = SegmentSealer::new(&key).unwrap();
        sealer.seal_next(&mut [0; SEGMENT_SIZE]).unwrap();
        assert_eq!(sealer.seal_last(&mut []), Err(CryptoError::WrongLength));
        let sealer = SegmentSealer::new(&key).unwrap();
        assert_eq!(
            sealer.seal_last(&mut vec![0; SEGMENT_SIZE + 1]),
            Err(CryptoError::WrongLength)
        );
        let sealer = SegmentSealer::new(&key).unwrap();
        let mut empty = [];
        let tag = sealer.seal_last(&mut empty).unwrap();
        assert_eq!(tag.len(), TAG_LEN);
    }

    #[test]
    fn push_chunking_does_not_change_the_blob() {
        let key = kat_key();
        let plaintext: Vec<u8> = (0..3 * SEGMENT_SIZE as u32 + 5)
            .map(|i| (i * 7) as u8)
            .collect();
        let whole = seal_with_prefix(&key, &plaintext);
        for chunk in [1, 1000, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1] {
            let mut sealer = PartSealer::with_nonce_prefix(&key, PREFIX);
            let mut out = Vec::new();
            let mut drained = Vec::new();
            for piece in plaintext.chunks(chunk) {
                sealer.push(piece, &mut out).unwrap();
                // Drain like a server writing to disk, so the buffer hand-over path is taken.
                drained.extend_from_slice(&out);
                out.clear();
            }
            assert_eq!(sealer.plaintext_len(), plaintext.len() as u64);
            sealer.finish(&mut out).unwrap();
            drained.extend_from_slice(&out);
            assert_eq!(drained, whole, "chunk {chunk}");
        }
    }

    /// The sealer never lets plaintext out: nothing is emitted until a segment is sealed, and
    /// what is emitted never contains the plaintext.
    #[test]
    fn output_never_holds_plaintext() {
        let key = kat_key();
        let plaintext = vec![0x5A; SEGMENT_SIZE];
        let mut sealer = PartSealer::new(&key).unwrap();
        let mut out = Vec::new();
        sealer.push(&plaintext, &mut out).unwrap();
        assert!(
            out.is_empty(),
            "a full segment waits until its final flag is known"
        );
        sealer.push(&plaintext[..10], &mut out).unwrap();
        assert_eq!(out.len(), HEADER_LEN + SEALED_SEGMENT_LEN);
        assert!(!out.windows(32).any(|w| w == &plaintext[..32]));
        sealer.finish(&mut out).unwrap();
        assert_eq!(
            out.len() as u64,
            sealed_len(SEGMENT_SIZE as u64 + 10).unwrap()
        );
    }

    /// Stops nonce reuse across parts: each sealer draws its own prefix.
    #[test]
    fn each_part_gets_a_fresh_nonce_prefix() {
        let key = kat_key();
        let a = seal_part(&key, b"same").unwrap();
        let b = seal_part(&key, b"same").unwrap();
        assert_ne!(a[10..HEADER_LEN], b[10..HEADER_LEN]);
        assert_eq!(open_part(&key, &a, 4).unwrap(), b"same");
        assert_eq!(open_part(&key, &b, 4).unwrap(), b"same");
    }

    #[test]
    fn part_larger_than_the_nonce_space_is_refused() {
        let mut sealer = PartSealer::new(&kat_key()).unwrap();
        sealer.plaintext_len = MAX_PART_LEN;
        let mut out = Vec::new();
        assert_eq!(sealer.push(b"x", &mut out), Err(CryptoError::PartTooLarge));
        assert!(out.is_empty());
    }
}
