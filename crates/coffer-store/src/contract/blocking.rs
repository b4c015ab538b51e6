//! The suites' view of a store: plain blocking calls, so a case reads as a sequence of
//! steps and its concurrent writers are real threads. Each call runs the backend's async
//! method to completion on the suite's runtime.

use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;
use tokio::runtime::Handle;

use crate::blob::{BlobId, BlobReader, BlobStore, BlobWriter, ListedBlob};
use crate::error::StoreResult;
use crate::meta::{ListControl, MetaStore, WriteCondition};
use crate::records::{BucketRecord, CompletedUploadRecord, ObjectRecord, PartRecord, UploadRecord};

/// A [`MetaStore`] called synchronously. Its synchronous parts ([`crate::KeyStore`],
/// [`crate::AuditStore`]) are reached through `Deref`.
#[derive(Clone)]
pub struct SyncMeta {
    inner: Arc<dyn MetaStore>,
    rt: Handle,
}

impl SyncMeta {
    /// Must be called inside the suite's runtime (see [`super::run_meta_contract`]).
    pub fn new(inner: Arc<dyn MetaStore>) -> Self {
        Self {
            inner,
            rt: Handle::current(),
        }
    }

    pub fn create_bucket(&self, bucket: &BucketRecord) -> StoreResult<()> {
        self.rt.block_on(self.inner.create_bucket(bucket))
    }

    pub fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketRecord>> {
        self.rt.block_on(self.inner.get_bucket(name))
    }

    pub fn list_buckets(&self) -> StoreResult<Vec<BucketRecord>> {
        self.rt.block_on(self.inner.list_buckets())
    }

    pub fn set_bucket_encryption(
        &self,
        name: &str,
        encryption: Option<crate::records::BucketEncryption>,
    ) -> StoreResult<()> {
        self.rt
            .block_on(self.inner.set_bucket_encryption(name, encryption))
    }

    pub fn set_bucket_policy(&self, name: &str, policy: Option<String>) -> StoreResult<()> {
        self.rt.block_on(self.inner.set_bucket_policy(name, policy))
    }

    pub fn set_bucket_tags(&self, name: &str, tags: crate::records::Tags) -> StoreResult<()> {
        self.rt.block_on(self.inner.set_bucket_tags(name, tags))
    }

    pub fn delete_bucket(&self, name: &str) -> StoreResult<Vec<BlobId>> {
        self.rt.block_on(self.inner.delete_bucket(name))
    }

    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        self.rt
            .block_on(self.inner.put_object(bucket, key, object, condition))
    }

    pub fn copy_object(
        &self,
        source: (&str, &str),
        source_blobs: &[BlobId],
        destination: (&str, &str),
        object: &ObjectRecord,
    ) -> StoreResult<Vec<BlobId>> {
        self.rt.block_on(
            self.inner
                .copy_object(source, source_blobs, destination, object),
        )
    }

    pub fn get_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectRecord>> {
        self.rt.block_on(self.inner.get_object(bucket, key))
    }

    pub fn get_bucket_and_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> StoreResult<(Option<BucketRecord>, Option<ObjectRecord>)> {
        self.rt
            .block_on(self.inner.get_bucket_and_object(bucket, key))
    }

    pub fn get_bucket_for_write(&self, name: &str) -> StoreResult<Option<BucketRecord>> {
        self.rt.block_on(self.inner.get_bucket_for_write(name))
    }

    pub fn put_object_in_bucket(
        &self,
        bucket: &BucketRecord,
        key: &str,
        object: &ObjectRecord,
        condition: &crate::meta::WriteCondition,
    ) -> StoreResult<Vec<crate::blob::BlobId>> {
        self.rt.block_on(
            self.inner
                .put_object_in_bucket(bucket, key, object, condition),
        )
    }

    pub fn delete_object_in_bucket(
        &self,
        bucket: &BucketRecord,
        key: &str,
        condition: &crate::meta::WriteCondition,
    ) -> StoreResult<(Option<ObjectRecord>, Vec<crate::blob::BlobId>)> {
        self.rt
            .block_on(self.inner.delete_object_in_bucket(bucket, key, condition))
    }

    pub fn get_bucket_and_kms_record(
        &self,
        bucket: &str,
        kms_id: &str,
    ) -> StoreResult<(Option<BucketRecord>, Option<crate::KmsRecordSnapshot>)> {
        self.rt
            .block_on(self.inner.get_bucket_and_kms_record(bucket, kms_id))
    }

    pub fn get_object_for_read(&self, bucket: &str, key: &str) -> StoreResult<crate::ObjectRead> {
        self.rt
            .block_on(self.inner.get_object_for_read(bucket, key))
    }

    pub fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &crate::records::Tags,
    ) -> StoreResult<bool> {
        self.rt
            .block_on(self.inner.set_object_tags(bucket, key, tags))
    }

    pub fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> StoreResult<(Option<ObjectRecord>, Vec<BlobId>)> {
        self.rt
            .block_on(self.inner.delete_object(bucket, key, condition))
    }

    pub fn delete_objects(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> StoreResult<(Vec<bool>, Vec<BlobId>)> {
        self.rt.block_on(self.inner.delete_objects(bucket, keys))
    }

    pub fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        visit: &mut (dyn for<'k, 'r> FnMut(&'k str, &'r ObjectRecord) -> ListControl + Send),
    ) -> StoreResult<()> {
        self.rt
            .block_on(self.inner.list_objects(bucket, prefix, start_after, visit))
    }

    pub fn create_upload(&self, upload: &UploadRecord) -> StoreResult<()> {
        self.rt.block_on(self.inner.create_upload(upload))
    }

    pub fn get_upload(&self, upload_id: &str) -> StoreResult<Option<UploadRecord>> {
        self.rt.block_on(self.inner.get_upload(upload_id))
    }

    pub fn list_uploads(&self, bucket: &str) -> StoreResult<Vec<UploadRecord>> {
        self.rt.block_on(self.inner.list_uploads(bucket))
    }

    pub fn put_part(&self, upload_id: &str, part: &PartRecord) -> StoreResult<Vec<BlobId>> {
        self.rt.block_on(self.inner.put_part(upload_id, part))
    }

    pub fn list_parts(&self, upload_id: &str) -> StoreResult<Vec<PartRecord>> {
        self.rt.block_on(self.inner.list_parts(upload_id))
    }

    pub fn abort_upload(&self, upload_id: &str) -> StoreResult<Vec<BlobId>> {
        self.rt.block_on(self.inner.abort_upload(upload_id))
    }

    pub fn complete_upload(
        &self,
        upload_id: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
        completed: &CompletedUploadRecord,
    ) -> StoreResult<Vec<BlobId>> {
        self.rt.block_on(
            self.inner
                .complete_upload(upload_id, object, condition, completed),
        )
    }

    pub fn get_completed_upload(
        &self,
        upload_id: &str,
    ) -> StoreResult<Option<CompletedUploadRecord>> {
        self.rt.block_on(self.inner.get_completed_upload(upload_id))
    }

    pub fn reseal_object(
        &self,
        bucket: &str,
        key: &str,
        expected: &str,
        encryption: &crate::records::EncryptionRecord,
    ) -> StoreResult<bool> {
        self.rt
            .block_on(self.inner.reseal_object(bucket, key, expected, encryption))
    }

    pub fn reseal_upload(
        &self,
        upload_id: &str,
        expected: &str,
        encryption: &crate::records::EncryptionRecord,
    ) -> StoreResult<bool> {
        self.rt
            .block_on(self.inner.reseal_upload(upload_id, expected, encryption))
    }

    pub fn retire_master_versions_below(&self, floor: u32) -> StoreResult<u64> {
        self.rt
            .block_on(self.inner.retire_master_versions_below(floor))
    }

    pub fn referenced_blobs(&self) -> StoreResult<std::collections::HashSet<BlobId>> {
        self.rt.block_on(self.inner.referenced_blobs())
    }

    pub fn record_blob_intent(&self, id: &BlobId, at_ms: i64) -> StoreResult<()> {
        self.rt.block_on(self.inner.record_blob_intent(id, at_ms))
    }

    pub fn forget_blob_intent(&self, id: &BlobId) -> StoreResult<()> {
        self.rt.block_on(self.inner.forget_blob_intent(id))
    }

    pub fn blobs_in_use(
        &self,
        ids: &[BlobId],
        intents_since_ms: i64,
    ) -> StoreResult<std::collections::HashSet<BlobId>> {
        self.rt
            .block_on(self.inner.blobs_in_use(ids, intents_since_ms))
    }

    pub fn drop_stale_blob_intents(&self, before_ms: i64, limit: usize) -> StoreResult<usize> {
        self.rt
            .block_on(self.inner.drop_stale_blob_intents(before_ms, limit))
    }
}

impl Deref for SyncMeta {
    type Target = dyn MetaStore;

    fn deref(&self) -> &Self::Target {
        self.inner.as_ref()
    }
}

/// A [`BlobStore`] called synchronously.
#[derive(Clone)]
pub struct SyncBlobs {
    inner: Arc<dyn BlobStore>,
    rt: Handle,
}

impl SyncBlobs {
    /// Must be called inside the suite's runtime (see [`super::run_blob_contract`]).
    pub fn new(inner: Arc<dyn BlobStore>) -> Self {
        Self {
            inner,
            rt: Handle::current(),
        }
    }

    pub fn create(&self) -> StoreResult<SyncWriter> {
        let inner = self.rt.block_on(self.inner.create())?;
        Ok(SyncWriter {
            inner,
            rt: self.rt.clone(),
        })
    }

    pub fn open(&self, id: &BlobId, len: u64) -> StoreResult<SyncReader> {
        let inner = self.rt.block_on(self.inner.open(id, len))?;
        Ok(SyncReader {
            inner,
            rt: self.rt.clone(),
        })
    }

    pub fn delete(&self, id: &BlobId) -> StoreResult<()> {
        self.rt.block_on(self.inner.delete(id))
    }

    pub fn list_page(&self, after: Option<&BlobId>, limit: usize) -> StoreResult<Vec<ListedBlob>> {
        self.rt.block_on(self.inner.list_page(after, limit))
    }

    pub fn clear_unfinished(&self) -> StoreResult<usize> {
        self.rt.block_on(self.inner.clear_unfinished())
    }
}

pub struct SyncWriter {
    inner: Box<dyn BlobWriter>,
    rt: Handle,
}

impl SyncWriter {
    pub fn id(&self) -> &BlobId {
        self.inner.id()
    }

    pub fn write_all(&mut self, data: &[u8]) -> StoreResult<()> {
        self.rt
            .block_on(self.inner.write(Bytes::copy_from_slice(data)))
    }

    pub fn commit(self) -> StoreResult<BlobId> {
        self.rt.block_on(self.inner.commit())
    }
}

pub struct SyncReader {
    inner: Box<dyn BlobReader>,
    rt: Handle,
}

impl SyncReader {
    pub fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> StoreResult<()> {
        let got = self.rt.block_on(self.inner.read_at(offset, buf.len()))?;
        assert_eq!(got.len(), buf.len(), "read_at returned another length");
        let got = got
            .try_into_mut()
            .expect("read_at returned bytes another reference shares");
        buf.copy_from_slice(&got);
        Ok(())
    }

    pub fn will_read(&mut self, range: std::ops::Range<u64>, chunk: usize) {
        self.inner.will_read(range, chunk);
    }
}
