//! Object content that can be regenerated from two numbers.
//!
//! The soak model remembers only a seed and a size per object, so 64 workers can keep
//! hundreds of objects in check without holding their bytes. Any range of an object is
//! computed on demand: byte `i` is byte `i % 8` of SplitMix64 applied to `seed + i / 8`.

use bytes::Bytes;

/// The content of one object version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Content {
    pub seed: u64,
    pub size: u64,
}

impl Content {
    /// Bytes `start..end` of the content.
    pub fn range(&self, start: u64, end: u64) -> Bytes {
        let end = end.min(self.size);
        let start = start.min(end);
        let mut out = vec![0u8; (end - start) as usize];
        self.fill(start, &mut out);
        Bytes::from(out)
    }

    /// The whole content.
    pub fn bytes(&self) -> Bytes {
        self.range(0, self.size)
    }

    /// Writes the bytes that start at `offset` into `out`.
    fn fill(&self, offset: u64, out: &mut [u8]) {
        let mut pos = offset;
        let mut written = 0;
        while written < out.len() {
            let block = self.block(pos / 8);
            let within = (pos % 8) as usize;
            let n = (8 - within).min(out.len() - written);
            out[written..written + n].copy_from_slice(&block[within..within + n]);
            written += n;
            pos += n as u64;
        }
    }

    fn block(&self, index: u64) -> [u8; 8] {
        splitmix64(self.seed.wrapping_add(index)).to_le_bytes()
    }

    /// A checker for a body that should hold bytes `start..end` of the content.
    pub fn verifier(&self, start: u64, end: u64) -> RangeVerifier {
        RangeVerifier {
            content: *self,
            start,
            end,
            offset: start,
            first_mismatch: None,
            scratch: Vec::new(),
        }
    }
}

/// The SplitMix64 output function (Steele, Lea, Flood), a good 64-bit mixer.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Compares a streamed body chunk by chunk with the expected range, in constant memory.
pub struct RangeVerifier {
    content: Content,
    start: u64,
    end: u64,
    offset: u64,
    first_mismatch: Option<u64>,
    scratch: Vec<u8>,
}

impl RangeVerifier {
    /// Checks the next chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        let at = self.offset;
        self.offset += chunk.len() as u64;
        if self.first_mismatch.is_some() {
            return;
        }
        let expected_len = self.end.saturating_sub(at).min(chunk.len() as u64) as usize;
        self.scratch.resize(expected_len, 0);
        self.content.fill(at, &mut self.scratch);
        if let Some(i) = chunk[..expected_len]
            .iter()
            .zip(&self.scratch)
            .position(|(a, b)| a != b)
        {
            self.first_mismatch = Some(at + i as u64);
        } else if expected_len < chunk.len() {
            self.first_mismatch = Some(self.end);
        }
    }

    /// Bytes checked so far.
    pub fn checked(&self) -> u64 {
        self.offset - self.start
    }

    /// `Ok` if the body was exactly the expected range.
    pub fn finish(&self) -> Result<(), String> {
        if let Some(at) = self.first_mismatch {
            return Err(format!(
                "content differs at byte {at} (expected bytes {}..{} of seed {:#x}, size {})",
                self.start, self.end, self.content.seed, self.content.size
            ));
        }
        if self.offset != self.end {
            return Err(format!(
                "body ends at byte {} instead of {} (range {}..{} of size {})",
                self.offset, self.end, self.start, self.end, self.content.size
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Content;

    fn check(c: &Content, start: u64, end: u64, body: &[u8], chunk: usize) -> Result<(), String> {
        let mut v = c.verifier(start, end);
        for piece in body.chunks(chunk.max(1)) {
            v.update(piece);
        }
        v.finish()
    }

    #[test]
    fn ranges_are_slices_of_the_whole() {
        let c = Content {
            seed: 42,
            size: 1000,
        };
        let whole = c.bytes();
        assert_eq!(whole.len(), 1000);
        for (s, e) in [
            (0, 0),
            (0, 1),
            (3, 11),
            (7, 8),
            (8, 16),
            (999, 1000),
            (500, 2000),
        ] {
            assert_eq!(
                c.range(s, e),
                whole.slice(s as usize..(e as usize).min(1000))
            );
        }
        assert_ne!(
            whole,
            Content {
                seed: 43,
                size: 1000
            }
            .bytes()
        );
    }

    #[test]
    fn verifies_ranges_in_any_chunking() {
        let c = Content { seed: 7, size: 300 };
        for chunk in [1, 3, 8, 64, 300] {
            assert_eq!(check(&c, 0, 300, &c.bytes(), chunk), Ok(()));
            assert_eq!(check(&c, 13, 101, &c.range(13, 101), chunk), Ok(()));
        }
        let empty = Content { seed: 1, size: 0 };
        assert_eq!(check(&empty, 0, 0, &[], 1), Ok(()));
    }

    #[test]
    fn detects_flipped_short_long_and_shifted_bodies() {
        let c = Content { seed: 9, size: 100 };
        let mut flipped = c.bytes().to_vec();
        flipped[40] ^= 1;
        assert!(
            check(&c, 0, 100, &flipped, 7)
                .unwrap_err()
                .contains("byte 40")
        );
        assert!(check(&c, 0, 100, &c.range(0, 99), 7).is_err());
        let mut long = c.bytes().to_vec();
        long.push(0);
        assert!(check(&c, 0, 100, &long, 7).is_err());
        assert!(check(&c, 10, 20, &c.range(11, 21), 4).is_err());
    }
}
