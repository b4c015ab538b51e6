//! Bucket records.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::RedbMetaStore;
use super::codec::{decode, encode};
use super::objects::{OBJECTS, bucket_range};
use super::uploads::UPLOADS;
use crate::blob::BlobId;
use crate::error::{StoreError, StoreResult};
use crate::meta::KmsRecordSnapshot;
use crate::records::{BucketRecord, UploadRecord};

pub(super) const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");

impl RedbMetaStore {
    /// Changes one bucket's record in a transaction (`NoSuchBucket` if it is gone).
    fn update_bucket(
        &self,
        name: &str,
        change: impl Fn(&mut BucketRecord) + Send + 'static,
    ) -> StoreResult<()> {
        let name = name.to_owned();
        self.write(move |txn| {
            let mut buckets = txn.open_table(BUCKETS)?;
            let mut record: BucketRecord = match buckets.get(name.as_str())? {
                Some(v) => decode(v.value())?,
                None => return Err(StoreError::NoSuchBucket),
            };
            change(&mut record);
            buckets.insert(name.as_str(), encode(&record)?.as_slice())?;
            Ok(())
        })
    }

    pub(super) fn create_bucket(&self, bucket: &BucketRecord) -> StoreResult<()> {
        let bucket = bucket.clone();
        self.write(move |txn| {
            let mut t = txn.open_table(BUCKETS)?;
            if let Some(existing) = t.get(bucket.name.as_str())? {
                let existing: BucketRecord = decode(existing.value())?;
                return Err(StoreError::BucketExists {
                    owner: existing.owner,
                });
            }
            t.insert(bucket.name.as_str(), encode(&bucket)?.as_slice())?;
            Ok(())
        })
    }

    pub(super) fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketRecord>> {
        self.get(BUCKETS, name)
    }

    /// What a PUT under SSE-KMS reads, from one read transaction: the bucket and the record
    /// of the KMS key it will seal under, so that the KMS decides on that snapshot without a
    /// read of its own.
    pub(super) fn get_bucket_and_kms_record(
        &self,
        name: &str,
        kms_id: &str,
    ) -> StoreResult<(Option<BucketRecord>, Option<KmsRecordSnapshot>)> {
        let txn = self.db.current()?.begin_read()?;
        let Some(bucket) = txn.open_table(BUCKETS)?.get(name)? else {
            return Ok((None, None));
        };
        let bucket = decode(bucket.value())?;
        let found = crate::kms_versions::get(&txn, kms_id)?;
        let snapshot = KmsRecordSnapshot {
            id: kms_id.to_owned(),
            found,
        };
        Ok((Some(bucket), Some(snapshot)))
    }

    pub fn list_buckets(&self) -> StoreResult<Vec<BucketRecord>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(BUCKETS)?;
        let mut out = Vec::new();
        for entry in t.iter()? {
            let (_, v) = entry?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    pub(super) fn set_bucket_encryption(
        &self,
        name: &str,
        encryption: Option<crate::records::BucketEncryption>,
    ) -> StoreResult<()> {
        self.update_bucket(name, move |record| record.encryption = encryption.clone())
    }

    pub(super) fn set_bucket_policy(&self, name: &str, policy: Option<String>) -> StoreResult<()> {
        self.update_bucket(name, move |record| record.policy = policy.clone())
    }

    pub(super) fn set_bucket_tags(
        &self,
        name: &str,
        tags: crate::records::Tags,
    ) -> StoreResult<()> {
        self.update_bucket(name, move |record| record.tags = tags.clone())
    }

    pub(super) fn delete_bucket(&self, name: &str) -> StoreResult<Vec<BlobId>> {
        let name = name.to_owned();
        self.write(move |txn| {
            let name = name.as_str();
            let mut buckets = txn.open_table(BUCKETS)?;
            if buckets.get(name)?.is_none() {
                return Err(StoreError::NoSuchBucket);
            }
            let objects = txn.open_table(OBJECTS)?;
            let (lo, hi) = bucket_range(name);
            if objects.range(lo.as_str()..hi.as_str())?.next().is_some() {
                return Err(StoreError::BucketNotEmpty);
            }
            let upload_ids: Vec<String> = {
                let uploads = txn.open_table(UPLOADS)?;
                let mut ids = Vec::new();
                for entry in uploads.iter()? {
                    let (k, v) = entry?;
                    let u: UploadRecord = decode(v.value())?;
                    if u.bucket == name {
                        ids.push(k.value().to_owned());
                    }
                }
                ids
            };
            let mut freed = Vec::new();
            for id in upload_ids {
                freed.extend(Self::remove_upload_in(txn, &id)?);
            }
            buckets.remove(name)?;
            Ok(freed)
        })
    }
}
