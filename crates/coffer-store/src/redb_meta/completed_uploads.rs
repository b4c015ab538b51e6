//! What completed uploads answered, remembered for a while so a retried completion gets the same answer.

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::RedbMetaStore;
use super::codec::{decode, encode};
use crate::error::StoreResult;
use crate::records::{COMPLETED_UPLOAD_RETENTION_MS, CompletedUploadRecord};

/// Uploads completed lately ([`CompletedUploadRecord`]), by upload id.
pub(super) const COMPLETED: TableDefinition<&str, &[u8]> =
    TableDefinition::new("completed_uploads");

/// The same, by completion time (`<ms, 16 hex digits>/<upload id>`), for pruning.
pub(super) const COMPLETED_BY_TIME: TableDefinition<&str, ()> =
    TableDefinition::new("completed_uploads_by_time");

/// Most expired completion records one completion removes: pruning stays cheap per call and
/// still outpaces the rate at which records are added.
const COMPLETED_PRUNE_BATCH: usize = 16;

fn completed_time_key(completed_ms: i64, upload_id: &str) -> String {
    format!("{:016x}/{upload_id}", completed_ms.max(0))
}

/// Stores a completion record and drops a few that have expired (oldest first).
pub(super) fn remember_completed(
    txn: &WriteTransaction,
    completed: &CompletedUploadRecord,
) -> StoreResult<()> {
    let mut by_id = txn.open_table(COMPLETED)?;
    let mut by_time = txn.open_table(COMPLETED_BY_TIME)?;
    let cutoff = completed_time_key(completed.completed_ms - COMPLETED_UPLOAD_RETENTION_MS, "");
    let expired: Vec<String> = by_time
        .range(..cutoff.as_str())?
        .take(COMPLETED_PRUNE_BATCH)
        .map(|e| e.map(|(k, _)| k.value().to_owned()))
        .collect::<Result<_, _>>()?;
    for k in expired {
        by_time.remove(k.as_str())?;
        if let Some((_, id)) = k.split_once('/') {
            by_id.remove(id)?;
        }
    }
    let id = completed.upload_id.as_str();
    by_id.insert(id, encode(completed)?.as_slice())?;
    by_time.insert(completed_time_key(completed.completed_ms, id).as_str(), ())?;
    Ok(())
}

impl RedbMetaStore {
    pub(super) fn get_completed_upload(
        &self,
        upload_id: &str,
    ) -> StoreResult<Option<CompletedUploadRecord>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(COMPLETED)?;
        let got = t.get(upload_id)?;
        got.map(|v| decode(v.value())).transpose()
    }
}
