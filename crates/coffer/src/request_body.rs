//! A request body whose unread rest can be drained after the response is chosen.
//!
//! When S3 refuses a PUT before reading its body (no such bucket, a policy's Deny, SSE-C
//! blocked, a bad header), a client that did not send `Expect: 100-continue` is still
//! sending. If the server then closed the connection with the body unread, the kernel would
//! answer the unread bytes with a reset, which can destroy the refusal before the client
//! reads it: minio-py and raw clients saw `BrokenPipe` and retried instead of seeing
//! `403 AccessDenied`. Draining a bounded amount after the answer lets the client read it
//! and, for modest bodies, keeps the connection usable, as S3 does.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// At most this much of a refused body is read and dropped...
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;
/// ...for at most this long; after that the connection is closed.
const DRAIN_TIME: Duration = Duration::from_secs(30);

/// The body handed to the S3 service; the same body stays reachable through [`Unread`].
pub struct Tracked(Arc<Mutex<Option<Incoming>>>);

/// What is left of a request body once its answer is ready.
pub struct Unread(Arc<Mutex<Option<Incoming>>>);

pub fn track(body: Incoming) -> (Tracked, Unread) {
    let shared = Arc::new(Mutex::new(Some(body)));
    (Tracked(shared.clone()), Unread(shared))
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        let slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().map(Body::size_hint).unwrap_or_default()
    }
}

impl Unread {
    /// Reads and drops what the handler left of the body, in the background, bounded in
    /// bytes and time.
    pub fn drain(self) {
        let body = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(mut body) = body.filter(|b| !b.is_end_stream()) else {
            return;
        };
        tokio::spawn(async move {
            let mut read = 0u64;
            let _ = tokio::time::timeout(DRAIN_TIME, async {
                while let Some(Ok(frame)) = body.frame().await {
                    if let Some(data) = frame.data_ref() {
                        read += data.len() as u64;
                        if read > DRAIN_LIMIT {
                            break;
                        }
                    }
                }
            })
            .await;
        });
    }
}
