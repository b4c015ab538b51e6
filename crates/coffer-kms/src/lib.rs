//! Coffer's key store and KMS: the root key, the SSE-S3 master keyring ([`MasterKeyring`]),
//! and the built-in KMS ([`BuiltinKms`]): customer-managed keys and the `aws/s3` managed key,
//! their aliases, tags, rotation and deletion, the cryptographic operations, and the AWS KMS
//! JSON API over them ([`api`]).
//!
//! Every KMS operation is authorised by the key's policy, evaluated as the calling user. The
//! policy language itself is the `coffer-policy` crate (which S3 bucket policies use too);
//! what is KMS's lives here: the default key policy and that of `aws/s3`, the condition keys a
//! request carries (`kms:CallerAccount`, `kms:ViaService`, `kms:EncryptionContext:*`, ...), and
//! the size limit on a policy document.
//!
//! Records change by compare-and-swap on their version, never under an in-process lock, so
//! several processes can share one metadata store.
//!
//! Invariants: key material reaches the metadata store only sealed under the root key (AAD:
//! the key's ARN, or the master key's id, and the material version); the root key itself is
//! never stored in the metadata store, only a check value that proves a data directory belongs
//! to it; nothing here logs or prints key bytes, and key policies never reach the audit trail.
//!
//! Callers: the binary (start-up, admin commands, the KMS endpoint) and the S3 layer (which
//! asks for master-key versions and, through the [`Kms`] trait, for SSE-KMS data keys; never
//! for the root key).
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
mod recorded;
mod records;
mod root;
mod root_source;

pub use api_error::KmsApiError;
pub use builtin::{BuiltinKms, Caller, ClientInfo, DataKeyOutput, Decrypted, S3_MANAGED_ALIAS};
pub use ciphertext::EncryptionContext;
pub use error::KmsError;
pub use key_ref::{KeyRef, KmsIdentity};
pub use kms::Kms;
pub use master::{MasterKeyring, MasterVersion};
pub use recorded::Recorded;
pub use root::RootKey;
pub use root_source::{ROOT_KEY_COMMAND_ENV, ROOT_KEY_ENV, ROOT_KEY_FILE_ENV, RootKeySource};
