//! Coffer's key store: the root key, and KMS key records whose material is sealed under it.
//!
//! Today it holds the internal SSE-S3 master key ([`MasterKeyring`]); the AWS KMS API and
//! customer keys build on the same records.
//!
//! Invariants: key material reaches the metadata store only sealed under the root key (AAD:
//! the key's id and material version); the root key itself is never stored in the metadata
//! store, only a check value that proves a data directory belongs to it; nothing here logs or
//! prints key bytes.
//!
//! Callers: the binary (start-up, admin commands) and the S3 layer (which asks for master-key
//! versions, never for the root key).
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
