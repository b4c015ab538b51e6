//! Streaming writes: each blob is one OpenDAL `Writer`, which gathers the caller's ~1 MiB
//! pieces into parts and sends a large blob as a multipart upload, in constant memory. A
//! blob smaller than one part goes as a single PUT at commit.
//!
//! Every call on the OpenDAL writer runs in a task of its own, so it runs to its end even
//! when the caller's future is dropped (a client that went away): an OpenDAL writer whose
//! call was cut off halfway cannot even abort ("retry layer is in bad state"), and its
//! multipart upload would linger.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use coffer_store::{BlobId, BlobWriter, StoreError, StoreResult};
use tokio::runtime::Handle;

use crate::error::{Place, store_error};

/// Bytes per multipart part. S3 wants at least 5 MiB per part (but the last) and at most
/// 10,000 parts, so 8 MiB parts reach 78 GiB per blob; Coffer's blobs are far smaller.
pub(crate) const PART_SIZE: usize = 8 << 20;
/// Parts in flight at once per writer: enough to keep one connection busy while the next
/// part fills, and bounded, so a writer holds at most (2 + this) parts in memory (the part
/// filling and the one OpenDAL holds back besides these).
pub(crate) const PARTS_IN_FLIGHT: usize = 2;

/// A writer's open write, shared with the store's table of unfinished writes and with the
/// tasks that work on it. The lock is a tokio one because a task holds it across the upload
/// of a part; `None` once the write is committed or abandoned.
type Slot = Arc<tokio::sync::Mutex<Option<Open>>>;

/// One blob's OpenDAL writer, with what it takes to end it without a trace.
pub(crate) struct Open {
    writer: opendal::Writer,
    /// Bytes handed to the writer so far: whether a multipart upload may be open.
    written: u64,
    /// Whether the service sends a large blob as a multipart upload (S3). The fs service
    /// stages a file and renames it, which an abort removes with nothing left to race.
    multipart: bool,
    op: opendal::Operator,
    path: String,
}

impl Open {
    pub(crate) fn new(
        writer: opendal::Writer,
        multipart: bool,
        op: opendal::Operator,
        path: String,
    ) -> Self {
        Open {
            writer,
            written: 0,
            multipart,
            op,
            path,
        }
    }

    /// Ends a write that will never be committed, leaving neither a blob nor a multipart
    /// upload behind.
    ///
    /// OpenDAL's abort cancels the parts in flight on this side only: the server may store
    /// such a part after it has processed the AbortMultipartUpload. AWS documents that
    /// hazard (the abort may have to be repeated), and on Ceph RGW before ceph/ceph#60771
    /// (Pacific, Debian's, included) the late part brings the upload back into
    /// ListMultipartUploads for good. So once an upload may be open, the write is closed
    /// instead, which waits for every part to report back, and the blob it makes, which
    /// no record names, is deleted. Until more than one part is written no upload can be
    /// open (OpenDAL opens it when a second part is due), and abort only drops the buffer.
    async fn abandon(mut self) -> opendal::Result<()> {
        if !self.multipart || self.written <= PART_SIZE as u64 {
            return self.writer.abort().await;
        }
        match self.writer.close().await {
            Ok(_) => self.op.delete(&self.path).await,
            Err(e) => {
                // Parts may still be in flight here, but nothing better is left.
                let _ = self.writer.abort().await;
                Err(e)
            }
        }
    }
}

/// The writes this store handle has started and not yet finished. A writer that is
/// committed or dropped leaves it; one that is leaked (never dropped) stays, and
/// [`Unfinished::abort_all`] aborts it, so its multipart upload does not linger.
#[derive(Default)]
pub(crate) struct Unfinished(Mutex<HashMap<BlobId, Slot>>);

impl Unfinished {
    fn insert(&self, id: BlobId, slot: Slot) {
        self.table().insert(id, slot);
    }

    fn remove(&self, id: &BlobId) {
        self.table().remove(id);
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<BlobId, Slot>> {
        // A panic elsewhere while holding this lock left the map whole (every change is one
        // insert or remove), so its contents are still right.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Aborts every write still open and returns how many there were. Writes being aborted
    /// by their own drop already (their slot is empty) are left to finish that.
    pub(crate) async fn abort_all(&self, place: Place) -> StoreResult<usize> {
        let open: Vec<(BlobId, Slot)> = self
            .table()
            .iter()
            .map(|(id, slot)| (id.clone(), slot.clone()))
            .collect();
        let mut aborted = 0;
        for (id, slot) in open {
            let taken = slot.lock().await.take();
            if let Some(open) = taken {
                open.abandon()
                    .await
                    .map_err(|e| store_error(place, Some(&id), e))?;
                aborted += 1;
                self.remove(&id);
            }
        }
        Ok(aborted)
    }
}

pub(crate) struct OpendalBlobWriter {
    id: BlobId,
    slot: Slot,
    unfinished: Arc<Unfinished>,
    place: Place,
    /// The runtime the write began on: a writer dropped on a thread outside any runtime
    /// still has somewhere to run its abort.
    rt: Handle,
}

impl OpendalBlobWriter {
    pub(crate) fn new(id: BlobId, open: Open, unfinished: Arc<Unfinished>, place: Place) -> Self {
        let slot: Slot = Arc::new(tokio::sync::Mutex::new(Some(open)));
        unfinished.insert(id.clone(), slot.clone());
        OpendalBlobWriter {
            id,
            slot,
            unfinished,
            place,
            rt: Handle::current(),
        }
    }
}

fn finished(id: &BlobId) -> StoreError {
    StoreError::Database(format!("blob writer {id} already finished"))
}

#[async_trait]
impl BlobWriter for OpendalBlobWriter {
    fn id(&self) -> &BlobId {
        &self.id
    }

    /// In a task of its own (see the module docs), which holds the slot's lock throughout:
    /// calls run one at a time and in order, and an abort from Drop waits for the last.
    async fn write(&mut self, data: Bytes) -> StoreResult<()> {
        let slot = self.slot.clone();
        let (id, place) = (self.id.clone(), self.place);
        let task = self.rt.spawn(async move {
            let mut slot = slot.lock_owned().await;
            let open = slot.as_mut().ok_or_else(|| finished(&id))?;
            open.written += data.len() as u64;
            open.writer
                .write(data)
                .await
                .map_err(|e| store_error(place, Some(&id), e))
        });
        task.await.map_err(|e| {
            StoreError::Database(format!("blob {}: write task failed: {e}", self.id))
        })?
    }

    async fn commit(self: Box<Self>) -> StoreResult<BlobId> {
        let slot = self.slot.clone();
        let (id, place) = (self.id.clone(), self.place);
        let task = self.rt.spawn(async move {
            let Open { writer: mut w, .. } =
                slot.lock_owned().await.take().ok_or_else(|| finished(&id))?;
            // Close sends what is buffered (a single PUT, or the last part and
            // CompleteMultipartUpload): only then does the blob become visible, whole. If the
            // caller is gone by then, the blob is an orphan no record names, which garbage
            // collection removes after its grace period.
            match w.close().await {
                Ok(_) => Ok(id),
                Err(e) => {
                    // The parts already sent would otherwise stay stored (and billed) until a
                    // lifecycle rule removes them.
                    if let Err(abort) = w.abort().await {
                        tracing::warn!(blob = %id, error = %abort, "abort after a failed commit failed");
                    }
                    Err(store_error(place, Some(&id), e))
                }
            }
        });
        let result = task.await.map_err(|e| {
            StoreError::Database(format!("blob {}: commit task failed: {e}", self.id))
        })?;
        self.unfinished.remove(&self.id);
        result
    }
}

impl Drop for OpendalBlobWriter {
    fn drop(&mut self) {
        // Abandoned (or committed: then the slot is empty and this only forgets the entry).
        // Abandon in the background, since Drop cannot wait: after any call still running,
        // whose task holds the lock. If that fails it is logged: the writer is consumed by
        // then, and the bucket's lifecycle rule (see the crate docs) is what removes the
        // parts of an upload nobody can name any more. The entry stays until then, so a
        // `clear_unfinished` meanwhile finds the writer gone and does not count it.
        let (slot, id, unfinished) = (self.slot.clone(), self.id.clone(), self.unfinished.clone());
        self.rt.spawn(async move {
            let taken = slot.lock_owned().await.take();
            if let Some(open) = taken
                && let Err(e) = open.abandon().await
            {
                tracing::warn!(blob = %id, error = %e, "ending an abandoned blob write failed");
            }
            unfinished.remove(&id);
        });
    }
}
