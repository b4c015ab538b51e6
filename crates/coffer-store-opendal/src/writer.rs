//! Streaming writes: each blob is one OpenDAL `Writer`, which gathers the caller's ~1 MiB
//! pieces into parts and sends a large blob as a multipart upload, in constant memory. A
//! blob smaller than one part goes as a single PUT at commit.

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

/// A writer's OpenDAL writer, shared with the store's table of unfinished writes. The lock
/// is a tokio one because a write holds it across the upload of a part.
type Slot = Arc<tokio::sync::Mutex<Option<opendal::Writer>>>;

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
            if let Some(mut w) = taken {
                w.abort()
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
    pub(crate) fn new(
        id: BlobId,
        writer: opendal::Writer,
        unfinished: Arc<Unfinished>,
        place: Place,
    ) -> Self {
        let slot: Slot = Arc::new(tokio::sync::Mutex::new(Some(writer)));
        unfinished.insert(id.clone(), slot.clone());
        OpendalBlobWriter {
            id,
            slot,
            unfinished,
            place,
            rt: Handle::current(),
        }
    }

    fn finished(&self) -> StoreError {
        StoreError::Database(format!("blob writer {} already finished", self.id))
    }
}

#[async_trait]
impl BlobWriter for OpendalBlobWriter {
    fn id(&self) -> &BlobId {
        &self.id
    }

    async fn write(&mut self, data: Bytes) -> StoreResult<()> {
        let mut slot = self.slot.lock().await;
        let w = slot.as_mut().ok_or_else(|| self.finished())?;
        w.write(data)
            .await
            .map_err(|e| store_error(self.place, Some(&self.id), e))
    }

    async fn commit(self: Box<Self>) -> StoreResult<BlobId> {
        let taken = self.slot.lock().await.take();
        let mut w = taken.ok_or_else(|| self.finished())?;
        // Close sends what is buffered (a single PUT, or the last part and
        // CompleteMultipartUpload): only then does the blob become visible, whole.
        let closed = w.close().await;
        let result = match closed {
            Ok(_) => Ok(self.id.clone()),
            Err(e) => {
                // The parts already sent would otherwise stay stored (and billed) until a
                // lifecycle rule removes them.
                if let Err(abort) = w.abort().await {
                    tracing::warn!(blob = %self.id, error = %abort, "abort after a failed commit failed");
                }
                Err(store_error(self.place, Some(&self.id), e))
            }
        };
        self.unfinished.remove(&self.id);
        result
    }
}

impl Drop for OpendalBlobWriter {
    fn drop(&mut self) {
        // Committed (slot empty), or being aborted by `clear_unfinished` (slot locked; it
        // takes the writer out and removes the entry itself): nothing to do.
        let Ok(mut slot) = self.slot.try_lock() else {
            return;
        };
        let Some(mut w) = slot.take() else {
            self.unfinished.remove(&self.id);
            return;
        };
        drop(slot);
        // Abandoned: abort the multipart upload (or remove the partial file) now, in the
        // background, since Drop cannot wait. If that abort fails it is logged: the writer
        // is consumed by then, and the bucket's lifecycle rule (see the crate docs) is what
        // removes the parts of an upload nobody can name any more.
        let (id, unfinished) = (self.id.clone(), self.unfinished.clone());
        self.rt.spawn(async move {
            if let Err(e) = w.abort().await {
                tracing::warn!(blob = %id, error = %e, "aborting an abandoned blob write failed");
            }
            unfinished.remove(&id);
        });
    }
}
