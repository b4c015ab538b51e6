//! Errors of the KMS as a component (its root key, its store), as opposed to the errors of
//! the AWS KMS API it answers (`api_error`).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum KmsError {
    /// The root key could not be read, or is unsafe to use.
    #[error("root key: {0}")]
    RootKey(String),
    /// The data directory was created with another root key.
    #[error("the root key does not match this data directory (it was created with another key)")]
    RootKeyMismatch,
    /// A sealed key record failed to open: damaged, or sealed under another root key.
    #[error("key record {0} cannot be opened: damaged or sealed under another root key")]
    Unsealable(String),
    #[error("key record {0} is malformed: {1}")]
    Malformed(String, String),
    #[error(transparent)]
    Store(#[from] coffer_store::StoreError),
    #[error(transparent)]
    Crypto(#[from] coffer_crypto::CryptoError),
}
