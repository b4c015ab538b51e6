//! A [`BlobStore`] whose writers record a write intent in the [`MetaStore`] before the blob
//! becomes visible, so garbage collection running elsewhere spares a blob whose record is
//! still on its way, however long the write took.

use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use crate::blob::{BlobId, BlobReader, BlobStore, BlobWriter, ListedBlob};
use crate::error::StoreError;
use crate::gc::millis_since_epoch;
use crate::meta::MetaStore;

/// Wraps the blob store the S3 layer writes through. The record that names a blob settles
/// its intent in the same transaction; a write that fails, and a blob deleted unnamed (a
/// refused record), forget theirs here.
pub struct IntentRecordingBlobStore {
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetaStore>,
}

impl IntentRecordingBlobStore {
    pub fn new(blobs: Arc<dyn BlobStore>, meta: Arc<dyn MetaStore>) -> Self {
        Self { blobs, meta }
    }
}

/// A full disk under the metadata stays a full disk (503, not 500, at the S3 layer).
fn store_to_io(e: StoreError) -> io::Error {
    match e {
        StoreError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// Best effort: an intent left behind only delays the collection of its blob until the
/// intent is stale.
fn forget(meta: &dyn MetaStore, id: &BlobId) {
    if let Err(e) = meta.forget_blob_intent(id) {
        tracing::warn!(blob = %id, error = %e, "could not remove a blob's write intent");
    }
}

impl BlobStore for IntentRecordingBlobStore {
    fn create(&self) -> io::Result<Box<dyn BlobWriter>> {
        // Nothing is visible under the id until commit, so recording the intent now still
        // precedes the blob's existence as far as a listing can tell.
        let inner = self.blobs.create()?;
        self.meta
            .record_blob_intent(inner.id(), millis_since_epoch(Some(SystemTime::now())))
            .map_err(store_to_io)?;
        Ok(Box::new(IntentWriter {
            id: inner.id().clone(),
            inner: Some(inner),
            meta: self.meta.clone(),
        }))
    }

    fn open(&self, id: &BlobId) -> io::Result<Box<dyn BlobReader>> {
        self.blobs.open(id)
    }

    fn delete(&self, id: &BlobId) -> io::Result<()> {
        self.blobs.delete(id)?;
        forget(self.meta.as_ref(), id);
        Ok(())
    }

    fn list_page(&self, after: Option<&BlobId>, limit: usize) -> io::Result<Vec<ListedBlob>> {
        self.blobs.list_page(after, limit)
    }

    fn clear_unfinished(&self) -> io::Result<usize> {
        self.blobs.clear_unfinished()
    }
}

struct IntentWriter {
    id: BlobId,
    /// `None` once committed.
    inner: Option<Box<dyn BlobWriter>>,
    meta: Arc<dyn MetaStore>,
}

impl BlobWriter for IntentWriter {
    fn id(&self) -> &BlobId {
        &self.id
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self.inner.as_mut() {
            Some(w) => w.write_all(data),
            None => Err(io::Error::other("blob writer already finished")),
        }
    }

    fn commit(mut self: Box<Self>) -> io::Result<BlobId> {
        let inner = self
            .inner
            .take()
            .ok_or_else(|| io::Error::other("blob writer already finished"))?;
        let committed = inner.commit();
        if committed.is_err() {
            // The store removed what it wrote: no record will ever name the id.
            forget(self.meta.as_ref(), &self.id);
        }
        committed
    }
}

impl Drop for IntentWriter {
    fn drop(&mut self) {
        // Abandoned before commit: the inner writer discards its bytes as it drops.
        if let Some(inner) = self.inner.take() {
            drop(inner);
            forget(self.meta.as_ref(), &self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FsBlobStore, RedbMetaStore};

    /// Whether an intent covers `id` (asked with a cutoff every intent passes, on a blob no
    /// record names).
    fn covered(meta: &dyn MetaStore, id: &BlobId) -> bool {
        meta.blobs_in_use(std::slice::from_ref(id), 0)
            .unwrap()
            .contains(id)
    }

    #[test]
    fn an_intent_lives_from_create_until_the_blob_is_abandoned_or_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let meta: Arc<dyn MetaStore> =
            Arc::new(RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap());
        let fs = Arc::new(FsBlobStore::open(&dir.path().join("objects")).unwrap());
        let blobs = IntentRecordingBlobStore::new(fs, meta.clone());

        let abandoned = blobs.create().unwrap();
        let abandoned_id = abandoned.id().clone();
        assert!(covered(meta.as_ref(), &abandoned_id));
        drop(abandoned);
        assert!(!covered(meta.as_ref(), &abandoned_id));

        let mut w = blobs.create().unwrap();
        w.write_all(b"x").unwrap();
        let id = w.commit().unwrap();
        assert!(covered(meta.as_ref(), &id), "committed, not yet named");
        // A refused record: the caller deletes the blob, and its intent goes with it.
        blobs.delete(&id).unwrap();
        assert!(!covered(meta.as_ref(), &id));
    }
}
