//! How an appender learns that its record is on disk: by blocking its thread, or by awaiting
//! a [`Receipt`] while its runtime worker serves other requests.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::error::{AuditError, AuditResult};

/// Where the writer sends an append's outcome.
pub(crate) type Reply = coffer_store::Reply<AuditResult<()>>;

/// A record handed to the writer: resolves once it is on disk (or could not be written).
/// Whatever the record attests (a data key handed out, say) must wait for it.
#[must_use = "a key use counts as recorded only once its receipt resolves"]
pub struct Receipt(pub(crate) oneshot::Receiver<AuditResult<()>>);

impl Receipt {
    /// Blocks the calling thread until the record is on disk: for callers that are not
    /// tasks (on a runtime worker, only inside `block_in_place`).
    pub fn wait(self) -> AuditResult<()> {
        futures::executor::block_on(self)
    }
}

impl Future for Receipt {
    type Output = AuditResult<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|answer| answer.map_err(|_| AuditError::WriterStopped)?)
    }
}
