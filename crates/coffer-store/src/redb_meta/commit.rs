//! Group commit: one thread runs every write waiting at a moment in a single transaction.

use std::any::Any;
use std::sync::{Arc, mpsc};

use redb::{Database, WriteTransaction};
use tokio::sync::oneshot;

use super::RedbMetaStore;
use crate::error::{StoreError, StoreResult};
use crate::redb_handle::ReopeningDatabase;
use crate::reply::Reply;

/// Most writes folded into one transaction.
const MAX_BATCH: usize = 128;

type AnyResult = StoreResult<Box<dyn Any + Send>>;
/// A write. `Fn`, not `FnOnce`, so a batch that fails as a whole can be replayed job by job.
type WriteJob = Box<dyn Fn(&WriteTransaction) -> AnyResult + Send>;

pub(super) struct WriteRequest {
    job: WriteJob,
    reply: Reply<AnyResult>,
}

/// Errors a job returns after checking, before writing anything: the batch stays valid.
fn is_refusal(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::BucketExists { .. }
            | StoreError::NoSuchBucket
            | StoreError::BucketNotEmpty
            | StoreError::NoSuchUpload
            | StoreError::NoSuchKey
            | StoreError::PreconditionFailed
            | StoreError::SourceChanged
            | StoreError::PartChanged
            | StoreError::MasterKeyRetired
            | StoreError::KmsConflict(_)
    )
}

fn run_alone(db: &Database, job: &WriteJob) -> AnyResult {
    let txn = db.begin_write()?;
    let out = job(&txn)?;
    txn.commit()?;
    Ok(out)
}

/// Runs a batch and answers each of its writers; returns false if a write failed for a
/// reason other than a refusal (the database may need a reopen).
fn run_batch(db: &Database, batch: Vec<WriteRequest>) -> bool {
    let txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => {
            let e = StoreError::from(e);
            for r in batch {
                r.reply.send(Err(e.duplicate()));
            }
            return false;
        }
    };
    let mut results = Vec::with_capacity(batch.len());
    for r in &batch {
        let out = (r.job)(&txn);
        if let Err(e) = &out
            && !is_refusal(e)
        {
            // One job failed midway: its partial writes must not be committed. Drop the
            // transaction and give every job a transaction of its own.
            drop(txn);
            let mut all_ok = true;
            for r in batch {
                let out = run_alone(db, &r.job);
                all_ok &= out.as_ref().err().is_none_or(is_refusal);
                r.reply.send(out);
            }
            return all_ok;
        }
        results.push(out);
    }
    match txn.commit() {
        Ok(()) => {
            for (r, out) in batch.into_iter().zip(results) {
                r.reply.send(out);
            }
            true
        }
        Err(e) => {
            let e = StoreError::from(e);
            for r in batch {
                r.reply.send(Err(e.duplicate()));
            }
            false
        }
    }
}

pub(super) fn committer(db: Arc<ReopeningDatabase>, jobs: mpsc::Receiver<WriteRequest>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let ok = match db.current() {
            Ok(current) => run_batch(&current, batch),
            Err(e) => {
                for r in batch {
                    r.reply.send(Err(e.duplicate()));
                }
                false
            }
        };
        // A failed write may have left redb refusing all others until it is reopened.
        if !ok && let Err(e) = db.recover_if_poisoned() {
            tracing::error!(error = %e, "metadata database unusable");
        }
    }
}

impl RedbMetaStore {
    /// Runs `f` in a write transaction (possibly shared with other writers) and returns once
    /// it is durable. `f` must check before it writes: an error it returns after writing
    /// is treated as fatal for the batch, which is then replayed job by job.
    pub(crate) fn write<T: Send + 'static>(
        &self,
        f: impl Fn(&WriteTransaction) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (reply, result) = mpsc::sync_channel(1);
        self.submit(f, Reply::Blocked(reply))?;
        downcast(result.recv().map_err(|_| stopped())?)
    }

    /// [`RedbMetaStore::write`] for a task: awaits the commit instead of blocking on it.
    pub(crate) async fn write_async<T: Send + 'static>(
        &self,
        f: impl Fn(&WriteTransaction) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (reply, result) = oneshot::channel();
        self.submit(f, Reply::Awaited(reply))?;
        downcast(result.await.map_err(|_| stopped())?)
    }

    fn submit<T: Send + 'static>(
        &self,
        f: impl Fn(&WriteTransaction) -> StoreResult<T> + Send + 'static,
        reply: Reply<AnyResult>,
    ) -> StoreResult<()> {
        let job: WriteJob = Box::new(move |txn| f(txn).map(|v| Box::new(v) as Box<dyn Any + Send>));
        self.jobs
            .send(WriteRequest { job, reply })
            .map_err(|_| stopped())
    }
}

fn stopped() -> StoreError {
    StoreError::Database("the commit thread has stopped".into())
}

fn downcast<T: 'static>(result: AnyResult) -> StoreResult<T> {
    result?
        .downcast::<T>()
        .map(|b| *b)
        .map_err(|_| StoreError::Database("write result of unexpected type".into()))
}
