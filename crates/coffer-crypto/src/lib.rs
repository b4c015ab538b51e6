//! Coffer's encryption at rest: the sealed-segment format of object parts, the keys that protect
//! them, and the sealing of those keys.
//!
//! What this crate owns:
//! - the on-disk format of every part blob ([`format`](mod@format)): a header followed by AES-256-GCM sealed
//!   segments of 64 KiB, with STREAM nonces so that no segment can be reordered, swapped between
//!   parts or objects, or dropped from the end without detection;
//! - constant-memory sealing, streaming ([`PartSealer`]) or in the caller's own buffers
//!   ([`SegmentSealer`]), in-place opening ([`PartOpener`]), and the mapping of a plaintext byte
//!   range to the sealed segments that hold it ([`plan_range`]);
//! - key types ([`DataKey`], [`PartKey`], [`KeyEncryptionKey`]), per-part key derivation, HKDF
//!   key-encryption-key derivation ([`derive_kek`]) and key sealing ([`seal_key`], [`open_key`]);
//! - every other AES-GCM sealing in Coffer: byte strings of any length under a key-encryption
//!   key with caller-chosen AAD ([`seal_bytes`], [`open_bytes`]), for the KMS ciphertext blob
//!   and secrets sealed under the root key.
//!
//! What it must never do:
//! - expose key bytes through `Debug` or `Display` (key types print `<redacted>`; the only way to
//!   read a key's bytes is an explicit `expose_secret()` call);
//! - return or emit plaintext that has not been authenticated: every opening function either
//!   returns plaintext whose tag verified, or an error and no plaintext at all; [`PartSealer`]
//!   only ever appends sealed bytes to its output;
//! - perform I/O, block, spawn, or know anything about S3, HTTP or storage.
//!
//! Who may call it: the S3 layer (sealing and opening object data, unsealing data keys) and the
//! KMS layer (sealing key material and secrets under the root key, KMS ciphertexts). It
//! imports no other Coffer crate.
//!
//! # Example: a part written as a stream and read back by range
//!
//! ```
//! use coffer_crypto::{DataKey, HEADER_LEN, PartOpener, PartSealer, plan_range};
//!
//! let dek = DataKey::generate()?;
//! let key = dek.part_key(1);
//!
//! // PUT: push body chunks as they arrive; write whatever `out` holds after each push.
//! let mut blob = Vec::new();
//! let mut out = Vec::new();
//! let mut sealer = PartSealer::new(&key)?;
//! for chunk in [&b"hello, "[..], &b"world"[..]] {
//!     sealer.push(chunk, &mut out)?;
//!     blob.append(&mut out);
//! }
//! let plaintext_len = sealer.finish(&mut out)?;
//! blob.append(&mut out);
//!
//! // GET with Range: bytes=7-11. Fetch the header and the planned segments only.
//! let plan = plan_range(plaintext_len, 7..12)?;
//! let opener = PartOpener::new(&key, &blob[..HEADER_LEN])?;
//! let fetched = plan.blob_range();
//! let mut segments = blob[fetched.start as usize..fetched.end as usize].to_vec();
//! let mut body = Vec::new();
//! let mut at = 0;
//! for index in plan.segments() {
//!     let end = at + plan.sealed_segment_len(index);
//!     let plaintext = opener.open_segment(index, plan.is_final(index), &mut segments[at..end])?;
//!     body.extend_from_slice(plan.trim(index, plaintext));
//!     at = end;
//! }
//! assert_eq!(body, b"world");
//! # Ok::<(), coffer_crypto::CryptoError>(())
//! ```
//!
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod format;
mod keys;
mod open;
mod seal;
mod sealed_bytes;

pub use error::CryptoError;
pub use format::{
    HEADER_LEN, MAX_PART_LEN, ReadPlan, SEALED_SEGMENT_LEN, SEGMENT_SIZE, TAG_LEN, plaintext_len,
    plan_range, sealed_len, segment_count,
};
pub use keys::{
    DataKey, EtagMac, KEY_LEN, KeyEncryptionKey, PartKey, SEALED_KEY_LEN, SealableKey, SealedKey,
    derive_kek, open_key, seal_key,
};
pub use open::{PartOpener, open_part};
pub use seal::{PartSealer, SegmentSealer, seal_part};
pub use sealed_bytes::{SEALED_BYTES_OVERHEAD, open_bytes, seal_bytes};
