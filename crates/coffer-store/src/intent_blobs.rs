//! A [`BlobStore`] whose writers record a write intent in the [`MetaStore`] before the blob
//! becomes visible, so garbage collection running elsewhere spares a blob whose record is
//! still on its way, however long the write took.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

use crate::blob::{BlobId, BlobReader, BlobStore, BlobWriter, ListedBlob};
use crate::error::{StoreError, StoreResult};
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

/// Best effort: an intent left behind only delays the collection of its blob until the
/// intent is stale.
async fn forget(meta: &dyn MetaStore, id: &BlobId) {
    if let Err(e) = meta.forget_blob_intent(id).await {
        tracing::warn!(blob = %id, error = %e, "could not remove a blob's write intent");
    }
}

#[async_trait]
impl BlobStore for IntentRecordingBlobStore {
    async fn create(&self) -> StoreResult<Box<dyn BlobWriter>> {
        // Nothing is visible under the id until commit, so recording the intent now still
        // precedes the blob's existence as far as a listing can tell.
        let inner = self.blobs.create().await?;
        self.meta
            .record_blob_intent(inner.id(), millis_since_epoch(Some(SystemTime::now())))
            .await?;
        Ok(Box::new(IntentWriter {
            id: inner.id().clone(),
            inner: Some(inner),
            meta: self.meta.clone(),
        }))
    }

    async fn open(&self, id: &BlobId, len: u64) -> StoreResult<Box<dyn BlobReader>> {
        self.blobs.open(id, len).await
    }

    async fn delete(&self, id: &BlobId) -> StoreResult<()> {
        self.blobs.delete(id).await?;
        forget(self.meta.as_ref(), id).await;
        Ok(())
    }

    async fn list_page(
        &self,
        after: Option<&BlobId>,
        limit: usize,
    ) -> StoreResult<Vec<ListedBlob>> {
        self.blobs.list_page(after, limit).await
    }

    async fn clear_unfinished(&self) -> StoreResult<usize> {
        self.blobs.clear_unfinished().await
    }
}

struct IntentWriter {
    id: BlobId,
    /// `None` once committed.
    inner: Option<Box<dyn BlobWriter>>,
    meta: Arc<dyn MetaStore>,
}

#[async_trait]
impl BlobWriter for IntentWriter {
    fn id(&self) -> &BlobId {
        &self.id
    }

    async fn write(&mut self, data: Bytes) -> StoreResult<()> {
        match self.inner.as_mut() {
            Some(w) => w.write(data).await,
            None => Err(StoreError::Database("blob writer already finished".into())),
        }
    }

    async fn commit(mut self: Box<Self>) -> StoreResult<BlobId> {
        let inner = self
            .inner
            .take()
            .ok_or_else(|| StoreError::Database("blob writer already finished".into()))?;
        let committed = inner.commit().await;
        if committed.is_err() {
            // The store removed what it wrote: no record will ever name the id.
            forget(self.meta.as_ref(), &self.id).await;
        }
        committed
    }
}

impl Drop for IntentWriter {
    fn drop(&mut self) {
        // Abandoned before commit: the inner writer discards its bytes as it drops; the
        // intent is forgotten in the background (drop cannot wait), or, with no runtime to
        // run on, left to go stale.
        if let Some(inner) = self.inner.take() {
            drop(inner);
            let (meta, id) = (self.meta.clone(), self.id.clone());
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { forget(meta.as_ref(), &id).await });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FsBlobStore, RedbMetaStore};

    /// Whether an intent covers `id` (asked with a cutoff every intent passes, on a blob no
    /// record names).
    async fn covered(meta: &dyn MetaStore, id: &BlobId) -> bool {
        meta.blobs_in_use(std::slice::from_ref(id), 0)
            .await
            .unwrap()
            .contains(id)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_intent_lives_from_create_until_the_blob_is_abandoned_or_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let meta: Arc<dyn MetaStore> =
            Arc::new(RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap());
        let fs = Arc::new(FsBlobStore::open(&dir.path().join("objects")).unwrap());
        let blobs = IntentRecordingBlobStore::new(fs, meta.clone());

        let abandoned = blobs.create().await.unwrap();
        let abandoned_id = abandoned.id().clone();
        assert!(covered(meta.as_ref(), &abandoned_id).await);
        drop(abandoned);
        // Forgotten in the background: wait for it, boundedly.
        let mut waited = 0;
        while covered(meta.as_ref(), &abandoned_id).await && waited < 200 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            waited += 1;
        }
        assert!(!covered(meta.as_ref(), &abandoned_id).await);

        let mut w = blobs.create().await.unwrap();
        w.write(Bytes::from_static(b"x")).await.unwrap();
        let id = w.commit().await.unwrap();
        assert!(
            covered(meta.as_ref(), &id).await,
            "committed, not yet named"
        );
        // A refused record: the caller deletes the blob, and its intent goes with it.
        blobs.delete(&id).await.unwrap();
        assert!(!covered(meta.as_ref(), &id).await);
    }
}
