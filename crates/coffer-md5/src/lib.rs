//! MD5 on aws-lc's x86-64 and AArch64 assembly.
//!
//! Why a crate of its own: MD5 is the ETag of every SSE-S3 object and of each part, so an
//! SSE-S3 PUT hashes its whole body with it, and on this project's 2-core benchmark machine
//! that was 46% of the server's CPU on 64 MiB PUTs (perf, `coffer-bench --sse s3`).
//! RustCrypto's `md-5` 0.11 runs at 482 MiB/s there, aws-lc's at 618 MiB/s
//! (`cargo bench -p coffer-md5`). aws-lc is already linked for the TLS listener (rustls's
//! aws-lc-rs provider), but aws-lc-rs exposes no MD5, so this crate calls aws-lc-sys's three
//! MD5 functions itself. Apart from the binary's three libc calls, it is the only place
//! where our code calls C. It holds nothing else, so the exception to the workspace's
//! `unsafe_code = "deny"` stays this small, and `coffer-crypto` and `coffer-s3` keep
//! `forbid(unsafe_code)`.
//!
//! Large bodies go to [`SharedMd5`] instead (module `lanes`): one engine thread hashes the
//! bodies of concurrent uploads side by side in SIMD lanes with `md5-many`, 4 uploads at
//! 1.5 GiB/s on one core against 0.48 GiB/s a core for each alone. Its one `unsafe` block
//! wipes the hashing state.
//!
//! MD5 is not used here for anything that needs collision resistance: S3 defines the ETag
//! as the MD5 of the content, and Content-MD5 as an integrity check against accidents.

mod lanes;

pub use lanes::{EngineFailed, MAX_QUEUED, SharedMd5};

use std::mem::MaybeUninit;

use aws_lc_sys::{MD5_CTX, MD5_DIGEST_LENGTH};
use zeroize::Zeroize;

/// The length of an MD5 digest in bytes.
pub const DIGEST_LEN: usize = MD5_DIGEST_LENGTH as usize;

/// An incremental MD5 digest.
///
/// The context holds up to 63 bytes of the input not yet compressed (plaintext, on a PUT),
/// so it is wiped when dropped.
pub struct Md5 {
    ctx: MD5_CTX,
}

impl Md5 {
    /// A digest of nothing yet.
    #[must_use]
    pub fn new() -> Self {
        let mut ctx = MaybeUninit::<MD5_CTX>::uninit();
        // SAFETY: MD5_Init zeroes the whole context and then sets the chaining values
        // (aws-lc crypto/fipsmodule/md5/md5.c), so after it returns every byte is
        // initialised; it cannot fail (it always returns 1).
        #[allow(unsafe_code)]
        let ctx = unsafe {
            aws_lc_sys::MD5_Init(ctx.as_mut_ptr());
            ctx.assume_init()
        };
        Self { ctx }
    }

    /// Adds `data` to the digest.
    pub fn update(&mut self, data: &[u8]) {
        if data.is_empty() {
            // An empty slice's pointer is dangling; there is nothing to hash anyway.
            return;
        }
        // SAFETY: the context was initialised by MD5_Init and is exclusively borrowed; the
        // pointer and length come from one live slice, which MD5_Update only reads.
        #[allow(unsafe_code)]
        unsafe {
            aws_lc_sys::MD5_Update(&mut self.ctx, data.as_ptr().cast(), data.len());
        }
    }

    /// The digest of everything added.
    #[must_use]
    pub fn finalize(mut self) -> [u8; DIGEST_LEN] {
        let mut out = [0u8; DIGEST_LEN];
        // SAFETY: the context is initialised and ours; `out` has the MD5_DIGEST_LENGTH
        // bytes MD5_Final writes.
        #[allow(unsafe_code)]
        unsafe {
            aws_lc_sys::MD5_Final(out.as_mut_ptr(), &mut self.ctx);
        }
        out
    }

    /// The MD5 of `data` in one call.
    #[must_use]
    pub fn digest(data: &[u8]) -> [u8; DIGEST_LEN] {
        let mut md5 = Self::new();
        md5.update(data);
        md5.finalize()
    }
}

impl Default for Md5 {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Md5 {
    fn drop(&mut self) {
        self.ctx.data.zeroize();
        self.ctx.h.zeroize();
        self.ctx.Nl.zeroize();
        self.ctx.Nh.zeroize();
        self.ctx.num.zeroize();
    }
}

impl std::fmt::Debug for Md5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The buffered input is plaintext: never print it.
        f.debug_struct("Md5").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest as _;
    use proptest::prelude::*;

    fn hex(d: [u8; 16]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 1321's test suite (appendix A.5).
    #[test]
    fn rfc_1321_vectors() {
        let cases = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(hex(Md5::digest(input.as_bytes())), want, "MD5({input:?})");
        }
    }

    #[test]
    fn empty_updates_change_nothing() {
        let mut m = Md5::new();
        m.update(b"");
        m.update(b"abc");
        m.update(&[]);
        assert_eq!(hex(m.finalize()), "900150983cd24fb0d6963f7d28e17f72");
    }

    proptest! {
        /// Any input, fed in any split, digests as RustCrypto's MD5 does in one call.
        #[test]
        fn matches_rustcrypto_in_any_split(
            data in proptest::collection::vec(any::<u8>(), 0..5000),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            let mut m = Md5::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([data.len()]) {
                m.update(&data[at..c]);
                at = c;
            }
            let want: [u8; 16] = md5::Md5::digest(&data).into();
            prop_assert_eq!(m.finalize(), want);
        }
    }

    /// Past 512 MiB the 32-bit low word of the bit count wraps into the high word.
    #[test]
    fn long_input_matches_rustcrypto() {
        let chunk = vec![0x5au8; 1 << 20];
        let mut ours = Md5::new();
        let mut theirs = md5::Md5::new();
        for _ in 0..600 {
            ours.update(&chunk);
            theirs.update(&chunk);
        }
        let want: [u8; 16] = theirs.finalize().into();
        assert_eq!(ours.finalize(), want);
    }
}
