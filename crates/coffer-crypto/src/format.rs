//! The sealed part format: layout, sizes, nonces and the mapping of plaintext ranges to segments.
//!
//! A part blob (a single PUT is part 1) is a header followed by sealed segments:
//!
//! ```text
//! offset  len  field
//! 0       4    magic            "CFRS"                       never changes
//! 4       1    format version   1                            a new layout gets a new number
//! 5       1    algorithm        1 = AES-256-GCM               never reused for another algorithm
//! 6       4    segment size     65536, u32 big-endian         fixed for version 1
//! 10      7    nonce prefix     random, drawn once per part
//! 17      ...  segment 0, segment 1, ... each = ciphertext ‖ 16-byte GCM tag
//! ```
//!
//! - Plaintext is cut into [`SEGMENT_SIZE`] (64 KiB) segments; every segment but the last is full.
//!   Segment `i` starts at `HEADER_LEN + i × SEALED_SEGMENT_LEN`.
//! - An empty part is one empty final segment (a bare tag). A part whose size is an exact multiple
//!   of 64 KiB ends with a full segment flagged final; there is no trailing empty segment. Hence
//!   `segment_count(n) = max(1, ⌈n / 65536⌉)` and `sealed_len(n) = 17 + n + 16 × segment_count(n)`.
//! - Every segment is sealed with the part's key (see [`crate::PartKey`]), the whole 17-byte
//!   header as additional authenticated data, and the 12-byte nonce
//!   `nonce prefix (7) ‖ segment index (u32 big-endian) ‖ final flag (1 byte: 1 on the part's last
//!   segment, else 0)`. This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár) in
//!   the same layout as RustCrypto's `StreamBE32`: the index stops reordering and swapping, the
//!   final flag stops truncation, the per-part key and random prefix stop splicing segments
//!   between parts or objects, and the header as AAD stops editing the header.
//! - To open a segment a reader needs its index and whether it is final, which it computes from
//!   the plaintext size kept in the object record ([`ReadPlan::is_final`]).
//!
//! Every constant here is part of data at rest: changing one makes every stored object unreadable.
//! A different layout needs a new [`FORMAT_VERSION`] and readers for both.

use std::ops::{Range, RangeInclusive};

use crate::CryptoError;

/// First four bytes of every part blob. Never changes.
pub const MAGIC: [u8; 4] = *b"CFRS";
/// The format version this build writes and reads. Never reuse a number for another layout.
pub const FORMAT_VERSION: u8 = 1;
/// Algorithm id of AES-256-GCM in the header. Never reuse for another algorithm.
pub const ALGORITHM_AES_256_GCM: u8 = 1;
/// Plaintext bytes per segment (64 KiB). Fixed for format version 1.
pub const SEGMENT_SIZE: usize = 65536;
/// Bytes of AES-GCM tag after each segment's ciphertext.
pub const TAG_LEN: usize = 16;
/// Bytes one full segment occupies in the blob: ciphertext and tag.
pub const SEALED_SEGMENT_LEN: usize = SEGMENT_SIZE + TAG_LEN;
/// Bytes of the random nonce prefix in the header.
pub const NONCE_PREFIX_LEN: usize = 7;
/// Bytes of the part header: magic, version, algorithm, segment size, nonce prefix.
pub const HEADER_LEN: usize = 4 + 1 + 1 + 4 + NONCE_PREFIX_LEN;
/// Largest plaintext a part may hold: 2^32 segments of 64 KiB (256 TiB), beyond which the
/// segment index in the nonce would wrap. S3 parts are at most 5 GiB.
pub const MAX_PART_LEN: u64 = (1 << 32) * SEGMENT_SIZE as u64;

/// Bytes of an AES-GCM nonce.
pub(crate) const NONCE_LEN: usize = 12;

const SEGMENT_SIZE_U64: u64 = SEGMENT_SIZE as u64;
const SEALED_SEGMENT_LEN_U64: u64 = SEALED_SEGMENT_LEN as u64;
const HEADER_LEN_U64: u64 = HEADER_LEN as u64;
const TAG_LEN_U64: u64 = TAG_LEN as u64;

/// The header of a part sealed with `nonce_prefix`.
pub(crate) fn encode_header(nonce_prefix: &[u8; NONCE_PREFIX_LEN]) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(&MAGIC);
    header[4] = FORMAT_VERSION;
    header[5] = ALGORITHM_AES_256_GCM;
    header[6..10].copy_from_slice(&(SEGMENT_SIZE as u32).to_be_bytes());
    header[10..HEADER_LEN].copy_from_slice(nonce_prefix);
    header
}

/// Checks a part header and returns it with its nonce prefix. The checks run in an order that
/// gives the most useful error: a future version is reported as such even if its header is longer.
pub(crate) fn parse_header(
    bytes: &[u8],
) -> Result<([u8; HEADER_LEN], [u8; NONCE_PREFIX_LEN]), CryptoError> {
    if bytes.len() < 5 || bytes[0..4] != MAGIC {
        return Err(CryptoError::BadHeader);
    }
    if bytes[4] != FORMAT_VERSION {
        return Err(CryptoError::UnsupportedVersion(bytes[4]));
    }
    let header: [u8; HEADER_LEN] = bytes.try_into().map_err(|_| CryptoError::BadHeader)?;
    if header[5] != ALGORITHM_AES_256_GCM {
        return Err(CryptoError::UnsupportedAlgorithm(header[5]));
    }
    if header[6..10] != (SEGMENT_SIZE as u32).to_be_bytes() {
        return Err(CryptoError::BadHeader);
    }
    let mut prefix = [0u8; NONCE_PREFIX_LEN];
    prefix.copy_from_slice(&header[10..HEADER_LEN]);
    Ok((header, prefix))
}

/// The STREAM nonce of segment `index`: `prefix ‖ index (u32 BE) ‖ final flag`.
pub(crate) fn segment_nonce(
    prefix: &[u8; NONCE_PREFIX_LEN],
    index: u32,
    is_final: bool,
) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..NONCE_PREFIX_LEN].copy_from_slice(prefix);
    nonce[NONCE_PREFIX_LEN..NONCE_LEN - 1].copy_from_slice(&index.to_be_bytes());
    nonce[NONCE_LEN - 1] = u8::from(is_final);
    nonce
}

/// How many segments a part of `plaintext_len` bytes has: `max(1, ⌈plaintext_len / 65536⌉)`.
pub fn segment_count(plaintext_len: u64) -> Result<u64, CryptoError> {
    if plaintext_len > MAX_PART_LEN {
        return Err(CryptoError::PartTooLarge);
    }
    Ok(plaintext_len.div_ceil(SEGMENT_SIZE_U64).max(1))
}

/// Size of the blob that a part of `plaintext_len` bytes seals to:
/// `HEADER_LEN + plaintext_len + TAG_LEN × segment_count(plaintext_len)`.
pub fn sealed_len(plaintext_len: u64) -> Result<u64, CryptoError> {
    let segments = segment_count(plaintext_len)?;
    Ok(HEADER_LEN_U64 + plaintext_len + TAG_LEN_U64 * segments)
}

/// The plaintext size of a blob of `sealed_len` bytes, the inverse of [`sealed_len`]. Fails with
/// [`CryptoError::WrongLength`] for a size no sealer produces (for example a trailing segment
/// shorter than a tag).
pub fn plaintext_len(sealed_len: u64) -> Result<u64, CryptoError> {
    let body = sealed_len
        .checked_sub(HEADER_LEN_U64)
        .filter(|&body| body >= TAG_LEN_U64)
        .ok_or(CryptoError::WrongLength)?;
    let segments = body.div_ceil(SEALED_SEGMENT_LEN_U64);
    let plaintext = body - TAG_LEN_U64 * segments;
    if self::sealed_len(plaintext)? == sealed_len {
        Ok(plaintext)
    } else {
        Err(CryptoError::WrongLength)
    }
}

/// Index of the last segment of a part of `part_len` bytes (at most [`MAX_PART_LEN`]).
fn final_index(part_len: u64) -> u32 {
    // part_len ≤ MAX_PART_LEN, so the count is ≤ 2^32 and the index fits in a u32.
    (part_len.saturating_sub(1) / SEGMENT_SIZE_U64) as u32
}

/// Plaintext bytes in segment `index` of a part of `part_len` bytes.
fn segment_plain_len(part_len: u64, index: u32) -> usize {
    let start = u64::from(index) * SEGMENT_SIZE_U64;
    // At most SEGMENT_SIZE, so the cast is lossless.
    part_len.saturating_sub(start).min(SEGMENT_SIZE_U64) as usize
}

/// Which sealed segments hold a plaintext byte range of a part, where they are in the blob, and
/// which of their plaintext bytes to keep. Made by [`plan_range`]; consumed by
/// [`crate::PartOpener::open_range`] or used to drive [`crate::PartOpener::open_segment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPlan {
    part_len: u64,
    first_segment: u32,
    last_segment: u32,
    start: u64,
    keep: u64,
}

/// Maps the plaintext byte range `range` (`start..end`, end exclusive) of a part holding
/// `part_len` plaintext bytes to the sealed segments that cover it.
///
/// Valid ranges are non-empty and within the part, plus `0..0` on an empty part, so that
/// `0..part_len` is valid for every part and reads the whole of it (for an empty part: its one
/// empty final segment, which still authenticates the header).
pub fn plan_range(part_len: u64, range: Range<u64>) -> Result<ReadPlan, CryptoError> {
    if part_len > MAX_PART_LEN {
        return Err(CryptoError::PartTooLarge);
    }
    let within = range.start < range.end && range.end <= part_len;
    let whole_empty_part = part_len == 0 && range.start == 0 && range.end == 0;
    if !(within || whole_empty_part) {
        return Err(CryptoError::BadRange);
    }
    let first_segment = (range.start / SEGMENT_SIZE_U64) as u32;
    let last_segment = (range.end.saturating_sub(1) / SEGMENT_SIZE_U64) as u32;
    Ok(ReadPlan {
        part_len,
        first_segment,
        last_segment,
        start: range.start,
        keep: range.end - range.start,
    })
}

impl ReadPlan {
    /// The segments to fetch and open, in order.
    pub fn segments(&self) -> RangeInclusive<u32> {
        self.first_segment..=self.last_segment
    }

    /// Whether `index` is the part's last segment, i.e. must be opened with the final flag.
    pub fn is_final(&self, index: u32) -> bool {
        index == final_index(self.part_len)
    }

    /// The bytes of the blob to fetch: from the start of the first segment to the end of the
    /// last (the header, bytes `0..HEADER_LEN`, is fetched separately unless the range starts at
    /// segment 0 and the caller chooses to fetch from 0).
    pub fn blob_range(&self) -> Range<u64> {
        let start = HEADER_LEN_U64 + u64::from(self.first_segment) * SEALED_SEGMENT_LEN_U64;
        let end = HEADER_LEN_U64
            + u64::from(self.last_segment) * SEALED_SEGMENT_LEN_U64
            + self.sealed_segment_len(self.last_segment) as u64;
        start..end
    }

    /// Sealed bytes of segment `index` (ciphertext and tag): full for every segment but the last.
    pub fn sealed_segment_len(&self, index: u32) -> usize {
        segment_plain_len(self.part_len, index) + TAG_LEN
    }

    /// Plaintext bytes to drop from the front of the first segment.
    pub fn skip(&self) -> usize {
        (self.start % SEGMENT_SIZE_U64) as usize
    }

    /// The part of segment `index`'s opened plaintext that lies within the range: what a
    /// streaming reader sends after [`crate::PartOpener::open_segment`]. Empty for a segment
    /// outside the plan.
    pub fn trim<'a>(&self, index: u32, plaintext: &'a [u8]) -> &'a [u8] {
        &plaintext[self.kept_range(index, plaintext.len())]
    }

    /// Which bytes of segment `index`'s plaintext (`plaintext_len` bytes) lie within the range.
    pub(crate) fn kept_range(&self, index: u32, plaintext_len: usize) -> Range<usize> {
        let segment_start = u64::from(index) * SEGMENT_SIZE_U64;
        let len = plaintext_len as u64;
        let from = self.start.saturating_sub(segment_start).min(len);
        let to = (self.start + self.keep)
            .saturating_sub(segment_start)
            .clamp(from, len);
        // Both are at most `plaintext_len`, so the casts are lossless.
        from as usize..to as usize
    }

    /// Plaintext bytes the range holds (`end - start`).
    pub fn keep(&self) -> u64 {
        self.keep
    }

    /// The plaintext size of the whole part this plan was made for.
    pub fn part_len(&self) -> u64 {
        self.part_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_is_fixed() {
        let header = encode_header(&[0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6]);
        assert_eq!(HEADER_LEN, 17);
        assert_eq!(
            header,
            [
                b'C', b'F', b'R', b'S', // magic
                1,    // format version
                1,    // AES-256-GCM
                0, 1, 0, 0, // segment size 65536, big-endian
                0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, // nonce prefix
            ]
        );
        let (parsed, prefix) = parse_header(&header).unwrap();
        assert_eq!(parsed, header);
        assert_eq!(prefix, [0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6]);
    }

    #[test]
    fn nonce_layout_is_prefix_index_be_final_flag() {
        let prefix = [1, 2, 3, 4, 5, 6, 7];
        assert_eq!(
            segment_nonce(&prefix, 0x0A0B_0C0D, false),
            [1, 2, 3, 4, 5, 6, 7, 0x0A, 0x0B, 0x0C, 0x0D, 0]
        );
        assert_eq!(
            segment_nonce(&prefix, 0, true),
            [1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 1]
        );
        assert_eq!(
            segment_nonce(&prefix, u32::MAX, true),
            [1, 2, 3, 4, 5, 6, 7, 0xFF, 0xFF, 0xFF, 0xFF, 1]
        );
    }

    #[test]
    fn header_checks_reject_what_they_must() {
        let good = encode_header(&[0; 7]);
        let mut bad_magic = good;
        bad_magic[0] = b'X';
        assert_eq!(parse_header(&bad_magic), Err(CryptoError::BadHeader));
        let mut future = good;
        future[4] = 2;
        assert_eq!(
            parse_header(&future),
            Err(CryptoError::UnsupportedVersion(2))
        );
        let mut other_alg = good;
        other_alg[5] = 2;
        assert_eq!(
            parse_header(&other_alg),
            Err(CryptoError::UnsupportedAlgorithm(2))
        );
        let mut other_size = good;
        other_size[6..10].copy_from_slice(&4096u32.to_be_bytes());
        assert_eq!(parse_header(&other_size), Err(CryptoError::BadHeader));
        assert_eq!(parse_header(&good[..16]), Err(CryptoError::BadHeader));
        assert_eq!(parse_header(&[]), Err(CryptoError::BadHeader));
        let mut long = good.to_vec();
        long.push(0);
        assert_eq!(parse_header(&long), Err(CryptoError::BadHeader));
    }

    #[test]
    fn sizes_at_segment_boundaries() {
        let seg = SEGMENT_SIZE as u64;
        let cases = [
            (0, 1),
            (1, 1),
            (seg - 1, 1),
            (seg, 1),
            (seg + 1, 2),
            (2 * seg, 2),
            (2 * seg + 1, 3),
        ];
        for (n, segments) in cases {
            assert_eq!(segment_count(n), Ok(segments), "n = {n}");
            let sealed = 17 + n + 16 * segments;
            assert_eq!(sealed_len(n), Ok(sealed), "n = {n}");
            assert_eq!(plaintext_len(sealed), Ok(n), "n = {n}");
        }
        assert_eq!(sealed_len(0), Ok(33));
        assert_eq!(segment_count(MAX_PART_LEN), Ok(1 << 32));
        assert_eq!(
            segment_count(MAX_PART_LEN + 1),
            Err(CryptoError::PartTooLarge)
        );
    }

    #[test]
    fn impossible_blob_sizes_are_rejected() {
        for sealed in [0, 16, 17, 32, 17 + 65552 + 1, 17 + 65552 + 16] {
            assert_eq!(
                plaintext_len(sealed),
                Err(CryptoError::WrongLength),
                "{sealed}"
            );
        }
    }

    #[test]
    fn range_plan_maps_to_whole_segments() {
        let seg = SEGMENT_SIZE as u64;
        let part = 3 * seg + 10;
        // Inside the second segment.
        let plan = plan_range(part, seg + 5..seg + 20).unwrap();
        assert_eq!(plan.segments(), 1..=1);
        assert_eq!(plan.skip(), 5);
        assert_eq!(plan.keep(), 15);
        assert_eq!(plan.blob_range(), 17 + 65552..17 + 2 * 65552);
        assert!(!plan.is_final(1));
        let plaintext: Vec<u8> = (0..SEGMENT_SIZE).map(|i| i as u8).collect();
        assert_eq!(plan.trim(1, &plaintext), &plaintext[5..20]);
        assert_eq!(plan.trim(0, &plaintext), b"");
        assert_eq!(plan.trim(2, &plaintext), b"");
        // Across the end: the last segment is short and final.
        let plan = plan_range(part, seg - 1..part).unwrap();
        assert_eq!(plan.segments(), 0..=3);
        assert!(plan.is_final(3));
        assert_eq!(plan.blob_range(), 17..17 + 3 * 65552 + 26);
        assert_eq!(plan.blob_range().end, sealed_len(part).unwrap());
        // The whole of an empty part is its one empty final segment.
        let plan = plan_range(0, 0..0).unwrap();
        assert_eq!(plan.segments(), 0..=0);
        assert!(plan.is_final(0));
        assert_eq!(plan.blob_range(), 17..33);
    }

    #[test]
    fn bad_ranges_are_rejected() {
        assert_eq!(plan_range(10, 5..5), Err(CryptoError::BadRange));
        let reversed = std::ops::Range { start: 6, end: 5 };
        assert_eq!(plan_range(10, reversed), Err(CryptoError::BadRange));
        assert_eq!(plan_range(10, 0..11), Err(CryptoError::BadRange));
        assert_eq!(plan_range(0, 0..1), Err(CryptoError::BadRange));
        assert_eq!(
            plan_range(MAX_PART_LEN + 1, 0..1),
            Err(CryptoError::PartTooLarge)
        );
    }
}
