//! The errors of the AWS KMS API, by AWS's exception names. One type serves the JSON API
//! (`{"__type", "message"}`) and the S3 layer (which reports them as `KMS.<name>`).

use std::fmt;

/// An AWS KMS exception: its name, HTTP status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsApiError {
    /// The exception name, e.g. `NotFoundException`.
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl fmt::Display for KmsApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for KmsApiError {}

fn client(code: &'static str, message: impl Into<String>) -> KmsApiError {
    KmsApiError {
        code,
        status: 400,
        message: message.into(),
    }
}

impl KmsApiError {
    pub fn not_found(message: impl Into<String>) -> Self {
        client("NotFoundException", message)
    }
    pub fn invalid_key_id(given: &str) -> Self {
        Self::not_found(format!("Invalid keyId '{given}'"))
    }
    pub fn key_does_not_exist(arn: &str) -> Self {
        Self::not_found(format!("Key '{arn}' does not exist"))
    }
    pub fn disabled(arn: &str) -> Self {
        client("DisabledException", format!("{arn} is disabled."))
    }
    pub fn pending_deletion(arn: &str) -> Self {
        client(
            "KMSInvalidStateException",
            format!("{arn} is pending deletion."),
        )
    }
    pub fn invalid_state(message: impl Into<String>) -> Self {
        client("KMSInvalidStateException", message)
    }
    /// AWS gives no message: saying why a ciphertext does not open would help an attacker.
    pub fn invalid_ciphertext() -> Self {
        client("InvalidCiphertextException", "")
    }
    pub fn incorrect_key() -> Self {
        client(
            "IncorrectKeyException",
            "The key ID in the request does not identify a CMK that can perform this operation.",
        )
    }
    pub fn validation(message: impl Into<String>) -> Self {
        client("ValidationException", message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        client("AlreadyExistsException", message)
    }
    pub fn invalid_alias_name(message: impl Into<String>) -> Self {
        client("InvalidAliasNameException", message)
    }
    pub fn malformed_policy(message: impl Into<String>) -> Self {
        client("MalformedPolicyDocumentException", message)
    }
    pub fn access_denied(message: impl Into<String>) -> Self {
        client("AccessDeniedException", message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        client("UnsupportedOperationException", message)
    }
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        client("LimitExceededException", message)
    }
    pub fn invalid_marker() -> Self {
        client("InvalidMarkerException", "The marker is not valid.")
    }
    pub fn invalid_arn(message: impl Into<String>) -> Self {
        client("InvalidArnException", message)
    }
    pub fn tag(message: impl Into<String>) -> Self {
        client("TagException", message)
    }
    pub fn serialization(message: impl Into<String>) -> Self {
        client("SerializationException", message)
    }
    pub fn unknown_operation() -> Self {
        client("UnknownOperationException", "")
    }
    /// A fault on our side; the detail goes to the log, not to the caller.
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(error = %detail, "KMS internal error");
        KmsApiError {
            code: "KMSInternalException",
            status: 500,
            message: "An internal error occurred.".into(),
        }
    }
}

impl From<coffer_store::StoreError> for KmsApiError {
    fn from(e: coffer_store::StoreError) -> Self {
        Self::internal(e)
    }
}

impl From<coffer_crypto::CryptoError> for KmsApiError {
    fn from(e: coffer_crypto::CryptoError) -> Self {
        Self::internal(e)
    }
}
