//! The one place where internal errors become S3 errors.

use coffer_store::StoreError;
use s3s::{S3Error, S3ErrorCode, s3_error};

pub(crate) fn store_error(e: StoreError) -> S3Error {
    match e {
        StoreError::NoSuchBucket => s3_error!(NoSuchBucket),
        StoreError::BucketNotEmpty => s3_error!(
            BucketNotEmpty,
            "The bucket you tried to delete is not empty"
        ),
        StoreError::NoSuchUpload => s3_error!(
            NoSuchUpload,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
        ),
        StoreError::BucketExists { .. } => s3_error!(BucketAlreadyExists),
        StoreError::NoSuchKey => no_such_key(),
        StoreError::PreconditionFailed => s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        ),
        StoreError::PartChanged => s3_error!(
            InvalidPart,
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
        ),
        StoreError::SourceChanged => custom(
            "OperationAborted",
            http::StatusCode::CONFLICT,
            "A conflicting conditional operation is currently in progress against this resource. Please try again.",
        ),
        // The bucket's configuration changed while the request ran (a write decided on
        // the old one is not committed): its retry decides on the new one, and SDKs retry
        // a 503 by themselves.
        StoreError::BucketChanged => {
            S3Error::with_message(S3ErrorCode::SlowDown, "Please reduce your request rate.")
        }
        StoreError::Io(e) => io_failure(&e),
        // S3's answer when it cannot keep up: SDKs back off and retry it.
        StoreError::Unavailable(why) => {
            tracing::warn!(error = %why, "storage backend unavailable");
            S3Error::with_message(S3ErrorCode::SlowDown, "Please reduce your request rate.")
        }
        other => internal(other),
    }
}

/// A failed disk operation. A full disk (or quota) is 503 `ServiceUnavailable`: the request
/// was fine and may succeed once space is freed, so SDKs retry it with backoff. Any other
/// I/O failure (EIO and the like) is 500 `InternalError`. Either way nothing was committed.
pub(crate) fn io_failure(e: &std::io::Error) -> S3Error {
    match e.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            tracing::error!(error = %e, "out of disk space");
            S3Error::with_message(
                S3ErrorCode::ServiceUnavailable,
                "Please reduce your request rate.",
            )
        }
        _ => internal(e),
    }
}

/// An error the client cannot fix. Its detail goes to the log, not to the client.
pub(crate) fn internal(e: impl std::fmt::Display) -> S3Error {
    tracing::error!(error = %e, "internal error");
    S3Error::with_message(
        S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    )
}

/// `?` on a store call inside a handler.
pub(crate) trait OrS3<T> {
    fn or_s3(self) -> Result<T, S3Error>;
}

impl<T> OrS3<T> for Result<T, StoreError> {
    fn or_s3(self) -> Result<T, S3Error> {
        self.map_err(store_error)
    }
}

pub(crate) fn malformed_xml() -> S3Error {
    s3_error!(
        MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

pub(crate) fn access_denied() -> S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

pub(crate) fn no_such_key() -> S3Error {
    s3_error!(NoSuchKey, "The specified key does not exist.")
}

/// An S3 error code `s3s` does not know (it is not in the service model's error list).
pub(crate) fn custom(
    code: &'static str,
    status: http::StatusCode,
    message: &'static str,
) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), message);
    e.set_status_code(status);
    e
}
