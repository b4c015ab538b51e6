//! One place that turns OpenDAL's errors into Coffer's, so the S3 layer answers a missing
//! blob, a damaged one and an overloaded backend each the same way whatever service holds it.

use coffer_store::{BlobId, StoreError};
use opendal::ErrorKind;

/// Where the service keeps its bytes: decides whether an unexplained failure is a local
/// disk's (`Io`) or a network backend's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Local,
    Remote,
}

/// Maps an OpenDAL error met while working on blob `id` (if one).
pub(crate) fn store_error(place: Place, id: Option<&BlobId>, e: opendal::Error) -> StoreError {
    match (e.kind(), id) {
        (ErrorKind::NotFound, Some(id)) => StoreError::NoSuchBlob(id.clone()),
        // A range past the end: the blob is shorter than its record says.
        (ErrorKind::RangeNotSatisfied, Some(id)) => {
            StoreError::Corrupt(format!("blob {id} is shorter than the range read: {e}"))
        }
        // 429 and 503 SlowDown: the caller answers 503 SlowDown in turn.
        (ErrorKind::RateLimited, _) => StoreError::Unavailable(e.to_string()),
        (_, _) if place == Place::Local => {
            let kind = match e.kind() {
                ErrorKind::NotFound => std::io::ErrorKind::NotFound,
                ErrorKind::PermissionDenied => std::io::ErrorKind::PermissionDenied,
                _ => std::io::ErrorKind::Other,
            };
            StoreError::Io(std::io::Error::new(kind, e.to_string()))
        }
        (ErrorKind::Unexpected, _) if e.is_temporary() || is_transient(&e) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Database(e.to_string()),
    }
}

/// Whether a remote failure may pass if tried again: a 5xx answer, or no answer at all
/// (refused or reset connection, timeout).
///
/// OpenDAL marks such errors temporary, but its RetryLayer marks every error it hands back
/// "persistent" once it stops retrying, so by the time an error reaches us the mark is
/// gone. The error's context still carries the HTTP answer (`response: Parts { status: 503,
/// ...`), which is what S3 decided; its absence means the request never got one.
fn is_transient(e: &opendal::Error) -> bool {
    let text = e.to_string();
    match text.find("response: Parts { status: ") {
        Some(at) => {
            let digits = &text[at + "response: Parts { status: ".len()..];
            digits.starts_with('5')
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16) -> opendal::Error {
        opendal::Error::new(ErrorKind::Unexpected, "<Error><Code>X</Code></Error>").with_context(
            "response",
            format!("Parts {{ status: {status}, version: HTTP/1.1, headers: {{}} }}"),
        )
    }

    #[test]
    fn a_5xx_after_retries_is_unavailable_and_a_4xx_is_not() {
        let id = BlobId::random();
        let retried = answered(503).set_temporary().set_persistent();
        assert!(matches!(
            store_error(Place::Remote, Some(&id), retried),
            StoreError::Unavailable(_)
        ));
        let refused = answered(400).set_persistent();
        assert!(matches!(
            store_error(Place::Remote, Some(&id), refused),
            StoreError::Database(_)
        ));
    }

    #[test]
    fn no_answer_at_all_is_unavailable() {
        let timeout = opendal::Error::new(ErrorKind::Unexpected, "io operation timeout reached")
            .set_temporary()
            .set_persistent();
        assert!(matches!(
            store_error(Place::Remote, None, timeout),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn missing_throttled_and_local_errors() {
        let id = BlobId::random();
        let gone = opendal::Error::new(ErrorKind::NotFound, "404");
        assert!(matches!(
            store_error(Place::Remote, Some(&id), gone),
            StoreError::NoSuchBlob(x) if x == id
        ));
        let slow = opendal::Error::new(ErrorKind::RateLimited, "SlowDown").set_persistent();
        assert!(matches!(
            store_error(Place::Remote, Some(&id), slow),
            StoreError::Unavailable(_)
        ));
        let denied = opendal::Error::new(ErrorKind::PermissionDenied, "403");
        assert!(matches!(
            store_error(Place::Remote, Some(&id), denied),
            StoreError::Database(_)
        ));
        let disk = opendal::Error::new(ErrorKind::Unexpected, "No space left on device");
        assert!(matches!(
            store_error(Place::Local, Some(&id), disk),
            StoreError::Io(_)
        ));
    }
}
