//! Coffer's built-in KMS: the root key; KMS keys (customer keys, `aws/s3`) with their
//! material versions, states, aliases, rotation and deletion windows, whose material is
//! sealed under the root key; the internal SSE-S3 master key ([`MasterKeyring`]); key
//! policies (the IAM policy language in [`policy`], which S3 bucket policies share); and the
//! AWS KMS JSON API over all of it ([`api`]), every call audited.
//!
//! Records change by compare-and-swap on their version, never under an in-process lock, so
//! several processes can share one metadata store.
//!
//! Invariants: key material reaches the metadata store only sealed under the root key (AAD:
//! the key's id and material version); the root key itself is never stored in the metadata
//! store, only a check value that proves a data directory belongs to it; nothing here logs or
//! prints key bytes.
//!
//! Callers: the binary (start-up, the KMS API endpoint, admin commands) and the S3 layer
//! (which asks for data keys and master-key versions, never for the root key).
#![forbid(unsafe_code)]

pub mod api;
mod api_error;
mod audit_events;
mod builtin;
mod ciphertext;
mod error;
mod key_ref;
mod kms;
mod master;
pub mod policy;
mod records;
mod root;

pub use api_error::KmsApiError;
pub use builtin::{BuiltinKms, Caller, ClientInfo, DataKeyOutput, Decrypted, S3_MANAGED_ALIAS};
pub use ciphertext::EncryptionContext;
pub use error::KmsError;
pub use key_ref::{KeyRef, KmsIdentity};
pub use kms::Kms;
pub use master::{MasterKeyring, MasterVersion};
pub use root::{ROOT_KEY_ENV, RootKey};
