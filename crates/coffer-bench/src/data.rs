//! Object content: one pseudo-random base buffer, made distinct per object by its first
//! 16 bytes, which hold the object index.

use bytes::{Bytes, BytesMut};

/// Length of the per-object header (the index, little-endian).
const HEADER: usize = 16;

/// The shared base content of every object.
pub struct Payload {
    base: Bytes,
}

impl Payload {
    /// Fills `size` bytes deterministically from `seed` (SplitMix64).
    pub fn new(size: usize, seed: u64) -> Self {
        let mut state = seed;
        let mut base = vec![0u8; size];
        for chunk in base.chunks_mut(8) {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        Self {
            base: Bytes::from(base),
        }
    }

    pub fn len(&self) -> usize {
        self.base.len()
    }

    /// The full content of object `index` (one copy of the base buffer).
    pub fn object(&self, index: u64) -> Bytes {
        let mut buf = BytesMut::from(&self.base[..]);
        let header = header(index);
        let n = HEADER.min(buf.len());
        buf[..n].copy_from_slice(&header[..n]);
        buf.freeze()
    }

    /// Incremental check of a downloaded object against the content of `index`,
    /// without materialising the expected bytes.
    pub fn verifier(&self, index: u64) -> Verifier<'_> {
        Verifier {
            base: &self.base,
            header: header(index),
            offset: 0,
            first_mismatch: None,
        }
    }
}

fn header(index: u64) -> [u8; HEADER] {
    u128::from(index).to_le_bytes()
}

/// Compares a body chunk by chunk with the expected content.
pub struct Verifier<'a> {
    base: &'a [u8],
    header: [u8; HEADER],
    offset: usize,
    first_mismatch: Option<usize>,
}

impl Verifier<'_> {
    /// Checks the next chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        let start = self.offset;
        self.offset += chunk.len();
        if self.first_mismatch.is_some() {
            return;
        }
        let end = self.offset.min(self.base.len());
        let mut pos = start;
        while pos < end {
            // Within the header, expected bytes come from the index, beyond it from the base.
            let expected = if pos < HEADER {
                &self.header[pos..end.min(HEADER)]
            } else {
                &self.base[pos..end]
            };
            let got = &chunk[pos - start..pos - start + expected.len()];
            if got != expected {
                let at = got.iter().zip(expected).position(|(a, b)| a != b);
                self.first_mismatch = Some(pos + at.unwrap_or(0));
                return;
            }
            pos += expected.len();
        }
        if self.offset > self.base.len() {
            self.first_mismatch = Some(self.base.len());
        }
    }

    /// `Ok` if the whole body matched, otherwise a description of the first difference.
    pub fn finish(self) -> Result<(), String> {
        if let Some(at) = self.first_mismatch {
            return Err(format!("content differs at byte {at}"));
        }
        if self.offset != self.base.len() {
            return Err(format!(
                "length {} instead of {}",
                self.offset,
                self.base.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Payload;

    fn check(p: &Payload, index: u64, body: &[u8], chunk: usize) -> Result<(), String> {
        let mut v = p.verifier(index);
        for c in body.chunks(chunk.max(1)) {
            v.update(c);
        }
        v.finish()
    }

    #[test]
    fn objects_are_distinct_and_verify() {
        let p = Payload::new(1000, 7);
        let a = p.object(1);
        let b = p.object(2);
        assert_ne!(a, b);
        assert_eq!(a[16..], b[16..]);
        for chunk in [1, 5, 16, 17, 999, 1000, 4096] {
            assert_eq!(check(&p, 1, &a, chunk), Ok(()));
        }
        assert!(check(&p, 2, &a, 7).is_err());
    }

    #[test]
    fn detects_corruption_and_length() {
        let p = Payload::new(100, 1);
        let mut body = p.object(3).to_vec();
        body[50] ^= 1;
        assert_eq!(
            check(&p, 3, &body, 10),
            Err("content differs at byte 50".to_string())
        );
        let good = p.object(3);
        assert!(check(&p, 3, &good[..99], 10).is_err());
        let mut long = good.to_vec();
        long.push(0);
        assert!(check(&p, 3, &long, 10).is_err());
    }

    #[test]
    fn tiny_objects() {
        let p = Payload::new(3, 1);
        assert_eq!(p.object(5).len(), 3);
        assert_eq!(check(&p, 5, &p.object(5), 1), Ok(()));
        let empty = Payload::new(0, 1);
        assert_eq!(check(&empty, 0, &[], 1), Ok(()));
    }
}
