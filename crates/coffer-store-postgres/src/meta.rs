//! [`MetaStore`]: each call runs its statement (or transaction) under [`retrying`]; the
//! statements live beside the tables they use, one module per idea.

use std::collections::HashSet;

use async_trait::async_trait;
use coffer_store::{
    BlobId, BucketEncryption, BucketRecord, CompletedUploadRecord, EncryptionRecord,
    KmsRecordSnapshot, ListControl, MetaStore, ObjectRead, ObjectRecord, PartRecord, StoreResult,
    Tags, UploadRecord, WriteCondition,
};

use crate::PostgresMetaStore;
use crate::retry::retrying;
use crate::sql::prefix_end;

#[async_trait]
impl MetaStore for PostgresMetaStore {
    async fn create_bucket(&self, bucket: &BucketRecord) -> StoreResult<()> {
        retrying(|| self.create_bucket_once(bucket)).await
    }

    async fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketRecord>> {
        retrying(|| self.get_bucket_once(name)).await
    }

    async fn get_bucket_for_write(&self, name: &str) -> StoreResult<Option<BucketRecord>> {
        retrying(|| self.get_bucket_for_write_once(name)).await
    }

    async fn list_buckets(&self) -> StoreResult<Vec<BucketRecord>> {
        retrying(|| self.list_buckets_once()).await
    }

    async fn set_bucket_encryption(
        &self,
        name: &str,
        encryption: Option<BucketEncryption>,
    ) -> StoreResult<()> {
        let change = move |r: &mut BucketRecord| r.encryption = encryption.clone();
        self.changing_bucket(name, retrying(|| self.update_bucket_once(name, &change)))
            .await
    }

    async fn set_bucket_policy(&self, name: &str, policy: Option<String>) -> StoreResult<()> {
        let change = move |r: &mut BucketRecord| r.policy = policy.clone();
        self.changing_bucket(name, retrying(|| self.update_bucket_once(name, &change)))
            .await
    }

    async fn set_bucket_tags(&self, name: &str, tags: Tags) -> StoreResult<()> {
        let change = move |r: &mut BucketRecord| r.tags = tags.clone();
        self.changing_bucket(name, retrying(|| self.update_bucket_once(name, &change)))
            .await
    }

    async fn delete_bucket(&self, name: &str) -> StoreResult<Vec<BlobId>> {
        self.changing_bucket(name, retrying(|| self.delete_bucket_once(name)))
            .await
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        retrying(|| self.put_object_once(bucket, key, object, condition, None)).await
    }

    async fn put_object_in_bucket(
        &self,
        bucket: &BucketRecord,
        key: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        let stored = self.decided_on(bucket)?;
        let put =
            retrying(|| self.put_object_once(&bucket.name, key, object, condition, Some(&stored)))
                .await;
        self.forget_if_changed(bucket, &put);
        put
    }

    async fn copy_object(
        &self,
        source: (&str, &str),
        source_blobs: &[BlobId],
        destination: (&str, &str),
        object: &ObjectRecord,
    ) -> StoreResult<Vec<BlobId>> {
        retrying(|| self.copy_object_once(source, source_blobs, destination, object)).await
    }

    async fn get_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectRecord>> {
        retrying(|| self.get_object_once(bucket, key)).await
    }

    async fn get_bucket_and_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> StoreResult<(Option<BucketRecord>, Option<ObjectRecord>)> {
        retrying(|| self.get_bucket_and_object_once(bucket, key)).await
    }

    async fn get_bucket_and_kms_record(
        &self,
        bucket: &str,
        kms_id: &str,
    ) -> StoreResult<(Option<BucketRecord>, Option<KmsRecordSnapshot>)> {
        retrying(|| self.get_bucket_and_kms_record_once(bucket, kms_id)).await
    }

    async fn get_object_for_read(&self, bucket: &str, key: &str) -> StoreResult<ObjectRead> {
        retrying(|| self.get_object_for_read_once(bucket, key)).await
    }

    async fn set_object_tags(&self, bucket: &str, key: &str, tags: &Tags) -> StoreResult<bool> {
        retrying(|| self.set_object_tags_once(bucket, key, tags)).await
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> StoreResult<(Option<ObjectRecord>, Vec<BlobId>)> {
        retrying(|| self.delete_object_once(bucket, key, condition, None)).await
    }

    async fn delete_object_in_bucket(
        &self,
        bucket: &BucketRecord,
        key: &str,
        condition: &WriteCondition,
    ) -> StoreResult<(Option<ObjectRecord>, Vec<BlobId>)> {
        let stored = self.decided_on(bucket)?;
        let deleted =
            retrying(|| self.delete_object_once(&bucket.name, key, condition, Some(&stored))).await;
        self.forget_if_changed(bucket, &deleted);
        deleted
    }

    async fn delete_objects(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> StoreResult<(Vec<bool>, Vec<BlobId>)> {
        retrying(|| self.delete_objects_once(bucket, keys)).await
    }

    /// Reads pages of 1000 keys (`objects::LIST_PAGE`), each its own statement, and stops
    /// reading once the visitor says so. Each page is a consistent snapshot; a listing as a
    /// whole is not (as S3's own, which pages over requests, is not either).
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        visit: &mut (dyn for<'k, 'r> FnMut(&'k str, &'r ObjectRecord) -> ListControl + Send),
    ) -> StoreResult<()> {
        let end = prefix_end(prefix);
        let mut after = start_after.to_owned();
        loop {
            let page = retrying(|| self.list_page(bucket, prefix, end.as_deref(), &after)).await?;
            let full = page.len() >= usize::try_from(crate::objects::LIST_PAGE).unwrap_or(0);
            for (key, record) in &page {
                if visit(key, record) == ListControl::Stop {
                    return Ok(());
                }
            }
            match page.into_iter().next_back() {
                Some((last, _)) if full => after = last,
                _ => return Ok(()),
            }
        }
    }

    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<()> {
        retrying(|| self.create_upload_once(upload)).await
    }

    async fn get_upload(&self, upload_id: &str) -> StoreResult<Option<UploadRecord>> {
        retrying(|| self.get_upload_once(upload_id)).await
    }

    async fn list_uploads(&self, bucket: &str) -> StoreResult<Vec<UploadRecord>> {
        retrying(|| self.list_uploads_once(bucket)).await
    }

    async fn put_part(&self, upload_id: &str, part: &PartRecord) -> StoreResult<Vec<BlobId>> {
        retrying(|| self.put_part_once(upload_id, part)).await
    }

    async fn list_parts(&self, upload_id: &str) -> StoreResult<Vec<PartRecord>> {
        retrying(|| self.list_parts_once(upload_id)).await
    }

    async fn abort_upload(&self, upload_id: &str) -> StoreResult<Vec<BlobId>> {
        retrying(|| self.abort_upload_once(upload_id)).await
    }

    async fn complete_upload(
        &self,
        upload_id: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
        completed: &CompletedUploadRecord,
    ) -> StoreResult<Vec<BlobId>> {
        retrying(|| self.complete_upload_once(upload_id, object, condition, completed)).await
    }

    async fn get_completed_upload(
        &self,
        upload_id: &str,
    ) -> StoreResult<Option<CompletedUploadRecord>> {
        retrying(|| self.get_completed_upload_once(upload_id)).await
    }

    async fn reseal_object(
        &self,
        bucket: &str,
        key: &str,
        expected: &str,
        encryption: &EncryptionRecord,
    ) -> StoreResult<bool> {
        retrying(|| self.reseal_object_once(bucket, key, expected, encryption)).await
    }

    async fn reseal_upload(
        &self,
        upload_id: &str,
        expected: &str,
        encryption: &EncryptionRecord,
    ) -> StoreResult<bool> {
        retrying(|| self.reseal_upload_once(upload_id, expected, encryption)).await
    }

    async fn retire_master_versions_below(&self, floor: u32) -> StoreResult<u64> {
        retrying(|| self.retire_master_versions_below_once(floor)).await
    }

    async fn referenced_blobs(&self) -> StoreResult<HashSet<BlobId>> {
        retrying(|| self.referenced_blobs_once()).await
    }

    async fn record_blob_intent(&self, id: &BlobId, at_ms: i64) -> StoreResult<()> {
        retrying(|| self.record_blob_intent_once(id, at_ms)).await
    }

    async fn forget_blob_intent(&self, id: &BlobId) -> StoreResult<()> {
        retrying(|| self.forget_blob_intent_once(id)).await
    }

    async fn blobs_in_use(
        &self,
        ids: &[BlobId],
        intents_since_ms: i64,
    ) -> StoreResult<HashSet<BlobId>> {
        retrying(|| self.blobs_in_use_once(ids, intents_since_ms)).await
    }

    async fn drop_stale_blob_intents(&self, before_ms: i64, limit: usize) -> StoreResult<usize> {
        retrying(|| self.drop_stale_blob_intents_once(before_ms, limit)).await
    }
}
