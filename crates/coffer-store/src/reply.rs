//! Where a background thread's answer goes: to a thread blocked on it, or to a task awaiting
//! it (which frees its runtime worker for other requests meanwhile, without handing it to
//! another thread as `block_in_place` does). The metadata store's group commit and the audit
//! trail's writer both answer this way.

use std::sync::mpsc;

use tokio::sync::oneshot;

pub enum Reply<T> {
    Blocked(mpsc::SyncSender<T>),
    Awaited(oneshot::Sender<T>),
}

impl<T> Reply<T> {
    /// Answers; one that has gone (a dropped request) is not waited for.
    pub fn send(self, answer: T) {
        match self {
            Reply::Blocked(tx) => {
                let _ = tx.send(answer);
            }
            Reply::Awaited(tx) => {
                let _ = tx.send(answer);
            }
        }
    }
}
