//! Retirement of SSE-S3 master-key versions: once retired, no record may need one again.

use redb::{ReadableTable, WriteTransaction};

use super::RedbMetaStore;
use super::codec::decode;
use super::kms_records::SETTINGS;
use super::objects::OBJECTS;
use super::uploads::UPLOADS;
use crate::error::{StoreError, StoreResult};
use crate::records::{ObjectRecord, UploadRecord};

/// Setting: SSE-S3 master-key versions below this one are retired (u32, big-endian).
const MASTER_FLOOR: &str = "sse_s3_master_floor";

fn master_floor(txn: &WriteTransaction) -> StoreResult<u32> {
    let settings = txn.open_table(SETTINGS)?;
    let floor = settings
        .get(MASTER_FLOOR)?
        .and_then(|v| <[u8; 4]>::try_from(v.value()).ok())
        .map_or(0, u32::from_be_bytes);
    Ok(floor)
}

/// Refuses a record whose data key is sealed under a retired master-key version: its material
/// is gone (or about to be), so the record would never open.
pub(super) fn check_master_version(
    txn: &WriteTransaction,
    encryption: Option<&crate::records::EncryptionRecord>,
) -> StoreResult<()> {
    match encryption.and_then(|e| e.needs_master_version()) {
        Some(v) if v < master_floor(txn)? => Err(StoreError::MasterKeyRetired),
        _ => Ok(()),
    }
}

impl RedbMetaStore {
    pub(super) fn retire_master_versions_below(&self, floor: u32) -> StoreResult<u64> {
        self.write(move |txn| {
            let below = |e: Option<&crate::records::EncryptionRecord>| {
                e.and_then(|e| e.needs_master_version())
                    .is_some_and(|v| v < floor)
            };
            let mut in_use = 0u64;
            for entry in txn.open_table(OBJECTS)?.iter()? {
                let record: ObjectRecord = decode(entry?.1.value())?;
                in_use += u64::from(below(record.encryption.as_ref()));
            }
            for entry in txn.open_table(UPLOADS)?.iter()? {
                let record: UploadRecord = decode(entry?.1.value())?;
                in_use += u64::from(below(record.template.encryption.as_ref()));
            }
            if in_use == 0 && floor > master_floor(txn)? {
                txn.open_table(SETTINGS)?
                    .insert(MASTER_FLOOR, floor.to_be_bytes().as_slice())?;
            }
            Ok(in_use)
        })
    }
}
