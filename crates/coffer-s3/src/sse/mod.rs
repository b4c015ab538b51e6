//! Server-side encryption: deciding how each object is encrypted and everything about its
//! keys. The verb handlers beside this module ask it for a write's mode, a sealed data key
//! and the headers a response reports; nothing outside it seals or opens a key.
//!
//! - `encryption`: the decision (request headers, else the bucket's default) and the
//!   response echoes.
//! - `data_key`: sealing and opening an object's data key, per mode.
//! - `customer_key`: SSE-C keys as they arrive in headers.
//! - `sse_kms`, `bucket_keys`: calling the KMS, and S3 Bucket Keys cached in memory.
//! - `bucket_encryption`, `object_encryption`: the `?encryption` APIs of buckets and objects.
//! - `rekey`: SSE-S3 master-key rotation and re-sealing under the newest version.

pub(crate) mod bucket_encryption;
pub(crate) mod bucket_keys;
pub(crate) mod customer_key;
pub(crate) mod data_key;
pub(crate) mod encryption;
pub(crate) mod object_encryption;
pub(crate) mod rekey;
pub(crate) mod sse_kms;
