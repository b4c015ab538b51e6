//! Multipart uploads and their parts, and completion into an object.

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::RedbMetaStore;
use super::blob_intents::settle_intents;
use super::blob_refs::{BLOB_REFS, add_refs, drop_refs};
use super::buckets::BUCKETS;
use super::codec::{decode, encode};
use super::completed_uploads::remember_completed;
use super::master_versions::check_master_version;
use super::objects::{OBJECTS, check_condition, object_key, replace_object};
use crate::blob::BlobId;
use crate::error::{StoreError, StoreResult};
use crate::meta::WriteCondition;
use crate::records::{CompletedUploadRecord, ObjectRecord, PartRecord, UploadRecord};

pub(super) const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads");

/// Key: `<upload id>/<part number, 5 digits>`.
pub(super) const PARTS: TableDefinition<&str, &[u8]> = TableDefinition::new("parts");

fn part_key(upload_id: &str, number: u32) -> String {
    format!("{upload_id}/{number:05}")
}

impl RedbMetaStore {
    pub(super) fn remove_upload_in(
        txn: &WriteTransaction,
        upload_id: &str,
    ) -> StoreResult<Vec<BlobId>> {
        let mut uploads = txn.open_table(UPLOADS)?;
        if uploads.remove(upload_id)?.is_none() {
            return Err(StoreError::NoSuchUpload);
        }
        let mut parts = txn.open_table(PARTS)?;
        let (lo, hi) = (format!("{upload_id}/"), format!("{upload_id}0"));
        let mut blobs = Vec::new();
        for entry in parts.extract_from_if(lo.as_str()..hi.as_str(), |_, _| true)? {
            let (_, v) = entry?;
            let part: PartRecord = decode(v.value())?;
            blobs.push(part.part.blob);
        }
        let mut refs = txn.open_table(BLOB_REFS)?;
        drop_refs(&mut refs, blobs.iter())
    }

    pub(super) async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<()> {
        let upload = upload.clone();
        self.write_async(move |txn| {
            if txn
                .open_table(BUCKETS)?
                .get(upload.bucket.as_str())?
                .is_none()
            {
                return Err(StoreError::NoSuchBucket);
            }
            check_master_version(txn, upload.template.encryption.as_ref())?;
            txn.open_table(UPLOADS)?
                .insert(upload.upload_id.as_str(), encode(&upload)?.as_slice())?;
            Ok(())
        })
        .await
    }

    pub(super) fn get_upload(&self, upload_id: &str) -> StoreResult<Option<UploadRecord>> {
        self.get(UPLOADS, upload_id)
    }

    pub fn list_uploads(&self, bucket: &str) -> StoreResult<Vec<UploadRecord>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(UPLOADS)?;
        let mut out: Vec<UploadRecord> = Vec::new();
        for entry in t.iter()? {
            let (_, v) = entry?;
            let u: UploadRecord = decode(v.value())?;
            if u.bucket == bucket {
                out.push(u);
            }
        }
        out.sort_by(|a, b| {
            (a.key.as_str(), a.upload_id.as_str()).cmp(&(b.key.as_str(), b.upload_id.as_str()))
        });
        Ok(out)
    }

    pub(super) async fn put_part(
        &self,
        upload_id: &str,
        part: &PartRecord,
    ) -> StoreResult<Vec<BlobId>> {
        let (upload_id, part) = (upload_id.to_owned(), part.clone());
        self.write_async(move |txn| {
            let (upload_id, part) = (upload_id.as_str(), &part);
            if txn.open_table(UPLOADS)?.get(upload_id)?.is_none() {
                return Err(StoreError::NoSuchUpload);
            }
            let mut parts = txn.open_table(PARTS)?;
            let mut refs = txn.open_table(BLOB_REFS)?;
            add_refs(&mut refs, std::iter::once(&part.part.blob))?;
            settle_intents(txn, std::iter::once(&part.part.blob))?;
            let k = part_key(upload_id, part.part.number);
            let old = parts.insert(k.as_str(), encode(part)?.as_slice())?;
            match old {
                Some(old) => {
                    let old: PartRecord = decode(old.value())?;
                    drop_refs(&mut refs, std::iter::once(&old.part.blob))
                }
                None => Ok(Vec::new()),
            }
        })
        .await
    }

    pub fn list_parts(&self, upload_id: &str) -> StoreResult<Vec<PartRecord>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(PARTS)?;
        let (lo, hi) = (format!("{upload_id}/"), format!("{upload_id}0"));
        let mut out = Vec::new();
        for entry in t.range(lo.as_str()..hi.as_str())? {
            let (_, v) = entry?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    pub(super) async fn abort_upload(&self, upload_id: &str) -> StoreResult<Vec<BlobId>> {
        let upload_id = upload_id.to_owned();
        self.write_async(move |txn| Self::remove_upload_in(txn, &upload_id))
            .await
    }

    pub(super) async fn complete_upload(
        &self,
        upload_id: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
        completed: &CompletedUploadRecord,
    ) -> StoreResult<Vec<BlobId>> {
        let (upload_id, object) = (upload_id.to_owned(), object.clone());
        let (condition, completed) = (condition.clone(), completed.clone());
        coffer_faults::io_step("mpu.complete.commit")?;
        let freed = self
            .write_async(move |txn| {
                let (upload_id, object) = (upload_id.as_str(), &object);
                let upload: UploadRecord = {
                    let uploads = txn.open_table(UPLOADS)?;
                    let v = uploads.get(upload_id)?.ok_or(StoreError::NoSuchUpload)?;
                    decode(v.value())?
                };
                if txn
                    .open_table(BUCKETS)?
                    .get(upload.bucket.as_str())?
                    .is_none()
                {
                    return Err(StoreError::NoSuchBucket);
                }
                check_master_version(txn, object.encryption.as_ref())?;
                // Every part the object names must still be the upload's current one: a part
                // re-uploaded meanwhile freed the blob the caller saw.
                {
                    let parts = txn.open_table(PARTS)?;
                    for p in &object.parts {
                        let current: Option<PartRecord> =
                            match parts.get(part_key(upload_id, p.number).as_str())? {
                                Some(v) => Some(decode(v.value())?),
                                None => None,
                            };
                        if current.is_none_or(|c| c.part.blob != p.blob) {
                            return Err(StoreError::PartChanged);
                        }
                    }
                }
                let k = object_key(&upload.bucket, &upload.key);
                let mut objects = txn.open_table(OBJECTS)?;
                check_condition(&objects, &k, &condition)?;
                // The object takes its own references first, so blobs it keeps survive the
                // upload's removal below.
                let mut freed = {
                    let mut refs = txn.open_table(BLOB_REFS)?;
                    add_refs(&mut refs, object.blobs())?;
                    settle_intents(txn, object.blobs())?;
                    replace_object(&mut objects, &mut refs, &k, object)?
                };
                drop(objects);
                freed.extend(Self::remove_upload_in(txn, upload_id)?);
                remember_completed(txn, &completed)?;
                Ok(freed)
            })
            .await?;
        coffer_faults::crash_step("mpu.complete.committed");
        Ok(freed)
    }

    pub(super) fn reseal_upload(
        &self,
        upload_id: &str,
        expected: &str,
        encryption: &crate::records::EncryptionRecord,
    ) -> StoreResult<bool> {
        let (id, expected, encryption) = (
            upload_id.to_owned(),
            expected.to_owned(),
            encryption.clone(),
        );
        self.write(move |txn| {
            check_master_version(txn, Some(&encryption))?;
            let mut uploads = txn.open_table(UPLOADS)?;
            let mut record: UploadRecord = match uploads.get(id.as_str())? {
                Some(v) => decode(v.value())?,
                None => return Ok(false),
            };
            if record.template.encryption.as_ref().map(|e| e.sealed_key())
                != Some(expected.as_str())
            {
                return Ok(false);
            }
            record.template.encryption = Some(encryption.clone());
            uploads.insert(id.as_str(), encode(&record)?.as_slice())?;
            Ok(true)
        })
    }
}
