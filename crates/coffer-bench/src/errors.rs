//! One-line descriptions of SDK errors.

use std::error::Error;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// `501 NotImplemented: <message>` for service errors, otherwise the error and its
/// chain of causes, e.g. `dispatch failure: io error: ...: Connection refused`.
pub fn describe<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
{
    if let SdkError::ServiceError(se) = e {
        let status = se.raw().status().as_u16();
        let err = se.err();
        let code = err.code().unwrap_or("unknown error");
        return match err.message() {
            Some(message) => format!("{status} {code}: {message}"),
            None => format!("{status} {code}"),
        };
    }
    chain(e)
}

/// The error followed by each of its sources, separated by `: `.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
