//! Object records: writes under conditions, copies that share blobs, listing in key order.

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, Table, TableDefinition};

use super::RedbMetaStore;
use super::blob_intents::settle_intents;
use super::blob_refs::{BLOB_REFS, add_refs, drop_refs};
use super::buckets::BUCKETS;
use super::codec::{decode, encode};
use super::master_versions::check_master_version;
use crate::blob::BlobId;
use crate::error::{StoreError, StoreResult};
use crate::meta::{KmsRecordSnapshot, ListControl, ObjectRead, WriteCondition};
use crate::records::ObjectRecord;

/// Key: `<bucket>/<object key>`. Bucket names cannot contain `/`, so a bucket's objects are
/// exactly the keys in [`bucket_range`].
pub(super) const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");

pub(super) fn object_key(bucket: &str, key: &str) -> String {
    format!("{bucket}/{key}")
}

/// `[bucket/, bucket0)`: `0` is the byte after `/`.
pub(super) fn bucket_range(bucket: &str) -> (String, String) {
    (format!("{bucket}/"), format!("{bucket}0"))
}

/// Checks a write condition against the current record at `k`, before anything is written.
pub(super) fn check_condition(
    objects: &Table<&str, &[u8]>,
    k: &str,
    condition: &WriteCondition,
) -> StoreResult<()> {
    if *condition == WriteCondition::Always {
        return Ok(());
    }
    let current: Option<ObjectRecord> = match objects.get(k)? {
        Some(v) => Some(decode(v.value())?),
        None => None,
    };
    match (condition, current) {
        (WriteCondition::IfAbsent, Some(_)) => Err(StoreError::PreconditionFailed),
        (WriteCondition::IfMatch(_), None) => Err(StoreError::NoSuchKey),
        (WriteCondition::IfMatch(etag), Some(c)) if c.etag != *etag => {
            Err(StoreError::PreconditionFailed)
        }
        _ => Ok(()),
    }
}

/// Puts `object` at `k` (its blob references already taken) and releases the old record's.
pub(super) fn replace_object(
    objects: &mut Table<&str, &[u8]>,
    refs: &mut Table<&str, u64>,
    k: &str,
    object: &ObjectRecord,
) -> StoreResult<Vec<BlobId>> {
    let old = objects.insert(k, encode(object)?.as_slice())?;
    match old {
        Some(old) => {
            let old: ObjectRecord = decode(old.value())?;
            drop_refs(refs, old.blobs())
        }
        None => Ok(Vec::new()),
    }
}

impl RedbMetaStore {
    pub(super) async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        let (bucket, k) = (bucket.to_owned(), object_key(bucket, key));
        let (object, condition) = (object.clone(), condition.clone());
        coffer_faults::io_step("put.meta.commit")?;
        let freed = self
            .write_async(move |txn| {
                if txn.open_table(BUCKETS)?.get(bucket.as_str())?.is_none() {
                    return Err(StoreError::NoSuchBucket);
                }
                check_master_version(txn, object.encryption.as_ref())?;
                let mut objects = txn.open_table(OBJECTS)?;
                check_condition(&objects, &k, &condition)?;
                let mut refs = txn.open_table(BLOB_REFS)?;
                add_refs(&mut refs, object.blobs())?;
                settle_intents(txn, object.blobs())?;
                replace_object(&mut objects, &mut refs, &k, &object)
            })
            .await?;
        coffer_faults::crash_step("put.meta.committed");
        Ok(freed)
    }

    pub(super) async fn copy_object(
        &self,
        source: (&str, &str),
        source_blobs: &[BlobId],
        destination: (&str, &str),
        object: &ObjectRecord,
    ) -> StoreResult<Vec<BlobId>> {
        let src = object_key(source.0, source.1);
        let (dst_bucket, dst) = (
            destination.0.to_owned(),
            object_key(destination.0, destination.1),
        );
        let (expected, object) = (source_blobs.to_vec(), object.clone());
        self.write_async(move |txn| {
            if txn.open_table(BUCKETS)?.get(dst_bucket.as_str())?.is_none() {
                return Err(StoreError::NoSuchBucket);
            }
            check_master_version(txn, object.encryption.as_ref())?;
            let mut objects = txn.open_table(OBJECTS)?;
            // The source's blobs are shared only while the source still holds them, so a
            // concurrent overwrite or delete cannot free what the copy is about to name.
            let current: Option<ObjectRecord> = match objects.get(src.as_str())? {
                Some(v) => Some(decode(v.value())?),
                None => None,
            };
            if !current.is_some_and(|c| c.blobs().eq(expected.iter())) {
                return Err(StoreError::SourceChanged);
            }
            let mut refs = txn.open_table(BLOB_REFS)?;
            add_refs(&mut refs, object.blobs())?;
            settle_intents(txn, object.blobs())?;
            replace_object(&mut objects, &mut refs, &dst, &object)
        })
        .await
    }

    pub(super) fn get_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectRecord>> {
        self.get(OBJECTS, &object_key(bucket, key))
    }

    /// What a GET reads, from one read transaction: the bucket, the object and, for an
    /// object sealed under a KMS key, that key's record, so that the KMS decides on the
    /// same snapshot without a read of its own.
    pub(super) fn get_object_for_read(&self, bucket: &str, key: &str) -> StoreResult<ObjectRead> {
        let txn = self.db.current()?.begin_read()?;
        let (bucket, object) = Self::bucket_and_object_in(&txn, bucket, key)?;
        let kms_key = object
            .as_ref()
            .and_then(|o| o.encryption.as_ref()?.kms_key_record_id())
            .map(|id| -> StoreResult<KmsRecordSnapshot> {
                let found = crate::kms_versions::get(&txn, &id)?;
                Ok(KmsRecordSnapshot { id, found })
            })
            .transpose()?;
        Ok(ObjectRead {
            bucket,
            object,
            kms_key,
        })
    }

    /// Both records from one read transaction: one snapshot, one trip to the database.
    pub(super) fn get_bucket_and_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> StoreResult<(Option<crate::records::BucketRecord>, Option<ObjectRecord>)> {
        Self::bucket_and_object_in(&self.db.current()?.begin_read()?, bucket, key)
    }

    fn bucket_and_object_in(
        txn: &ReadTransaction,
        bucket: &str,
        key: &str,
    ) -> StoreResult<(Option<crate::records::BucketRecord>, Option<ObjectRecord>)> {
        let Some(b) = txn.open_table(BUCKETS)?.get(bucket)? else {
            return Ok((None, None));
        };
        let b = decode(b.value())?;
        let o = match txn
            .open_table(OBJECTS)?
            .get(object_key(bucket, key).as_str())?
        {
            Some(v) => Some(decode(v.value())?),
            None => None,
        };
        Ok((Some(b), o))
    }

    pub(super) async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &crate::records::Tags,
    ) -> StoreResult<bool> {
        let (k, tags) = (object_key(bucket, key), tags.clone());
        self.write_async(move |txn| {
            let mut objects = txn.open_table(OBJECTS)?;
            let mut record: ObjectRecord = match objects.get(k.as_str())? {
                Some(v) => decode(v.value())?,
                None => return Ok(false),
            };
            record.tags = tags.clone();
            objects.insert(k.as_str(), encode(&record)?.as_slice())?;
            Ok(true)
        })
        .await
    }

    pub(super) async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> StoreResult<(Option<ObjectRecord>, Vec<BlobId>)> {
        let (k, condition) = (object_key(bucket, key), condition.clone());
        self.write_async(move |txn| {
            let mut objects = txn.open_table(OBJECTS)?;
            check_condition(&objects, &k, &condition)?;
            let old = objects.remove(k.as_str())?;
            match old {
                Some(old) => {
                    let old: ObjectRecord = decode(old.value())?;
                    let mut refs = txn.open_table(BLOB_REFS)?;
                    let freed = drop_refs(&mut refs, old.blobs())?;
                    Ok((Some(old), freed))
                }
                None => Ok((None, Vec::new())),
            }
        })
        .await
    }

    pub(super) async fn delete_objects(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> StoreResult<(Vec<bool>, Vec<BlobId>)> {
        let full: Vec<String> = keys.iter().map(|k| object_key(bucket, k)).collect();
        self.write_async(move |txn| {
            let mut objects = txn.open_table(OBJECTS)?;
            let mut refs = txn.open_table(BLOB_REFS)?;
            let mut existed = Vec::with_capacity(full.len());
            let mut freed = Vec::new();
            for k in &full {
                match objects.remove(k.as_str())? {
                    Some(old) => {
                        let old: ObjectRecord = decode(old.value())?;
                        freed.extend(drop_refs(&mut refs, old.blobs())?);
                        existed.push(true);
                    }
                    None => existed.push(false),
                }
            }
            Ok((existed, freed))
        })
        .await
    }

    pub fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        visit: &mut dyn FnMut(&str, &ObjectRecord) -> ListControl,
    ) -> StoreResult<()> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(OBJECTS)?;
        let (_, hi) = bucket_range(bucket);
        let from = object_key(bucket, prefix.max(start_after));
        let skip_from_itself = start_after >= prefix;
        let base = bucket.len() + 1;
        for entry in t.range(from.as_str()..hi.as_str())? {
            let (k, v) = entry?;
            let full = k.value();
            let key = &full[base..];
            if skip_from_itself && key == start_after {
                continue;
            }
            if !key.starts_with(prefix) {
                break;
            }
            let record: ObjectRecord = decode(v.value())?;
            if visit(key, &record) == ListControl::Stop {
                break;
            }
        }
        Ok(())
    }

    pub(super) fn reseal_object(
        &self,
        bucket: &str,
        key: &str,
        expected: &str,
        encryption: &crate::records::EncryptionRecord,
    ) -> StoreResult<bool> {
        let (k, expected, encryption) = (
            object_key(bucket, key),
            expected.to_owned(),
            encryption.clone(),
        );
        self.write(move |txn| {
            check_master_version(txn, Some(&encryption))?;
            let mut objects = txn.open_table(OBJECTS)?;
            let mut record: ObjectRecord = match objects.get(k.as_str())? {
                Some(v) => decode(v.value())?,
                None => return Ok(false),
            };
            if record.encryption.as_ref().map(|e| e.sealed_key()) != Some(expected.as_str()) {
                return Ok(false);
            }
            record.encryption = Some(encryption.clone());
            objects.insert(k.as_str(), encode(&record)?.as_slice())?;
            Ok(true)
        })
    }
}
