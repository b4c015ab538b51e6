//! Write intents: blobs a writer is about to name, which garbage collection must spare.

use std::collections::HashSet;

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::RedbMetaStore;
use crate::blob::BlobId;
use crate::error::StoreResult;

/// Blob id → when its writer recorded the intent (ms since the Unix epoch).
pub(super) const BLOB_INTENTS: TableDefinition<&str, i64> = TableDefinition::new("blob_intents");

/// Called where a transaction takes references to `blobs`: a named blob needs no intent, and
/// dropping it here, in the same transaction, leaves no moment where the blob has neither.
pub(super) fn settle_intents<'a>(
    txn: &WriteTransaction,
    blobs: impl Iterator<Item = &'a BlobId>,
) -> StoreResult<()> {
    let mut intents = txn.open_table(BLOB_INTENTS)?;
    for b in blobs {
        intents.remove(b.as_str())?;
    }
    Ok(())
}

impl RedbMetaStore {
    pub(super) async fn record_blob_intent(&self, id: &BlobId, at_ms: i64) -> StoreResult<()> {
        let id = id.clone();
        self.write_async(move |txn| {
            txn.open_table(BLOB_INTENTS)?.insert(id.as_str(), at_ms)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn forget_blob_intent(&self, id: &BlobId) -> StoreResult<()> {
        // Most blobs deleted never had an intent left (their record settled it): a read
        // spares those a commit.
        let present = {
            let txn = self.db.current()?.begin_read()?;
            txn.open_table(BLOB_INTENTS)?.get(id.as_str())?.is_some()
        };
        if !present {
            return Ok(());
        }
        let id = id.clone();
        self.write_async(move |txn| {
            txn.open_table(BLOB_INTENTS)?.remove(id.as_str())?;
            Ok(())
        })
        .await
    }

    pub(super) fn blobs_in_use(
        &self,
        ids: &[BlobId],
        intents_since_ms: i64,
    ) -> StoreResult<HashSet<BlobId>> {
        let txn = self.db.current()?.begin_read()?;
        let refs = txn.open_table(super::blob_refs::BLOB_REFS)?;
        let intents = txn.open_table(BLOB_INTENTS)?;
        let mut out = HashSet::new();
        for id in ids {
            let live_intent = intents
                .get(id.as_str())?
                .is_some_and(|at| at.value() >= intents_since_ms);
            if live_intent || refs.get(id.as_str())?.is_some() {
                out.insert(id.clone());
            }
        }
        Ok(out)
    }

    pub(super) fn drop_stale_blob_intents(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> StoreResult<usize> {
        self.write(move |txn| {
            let mut intents = txn.open_table(BLOB_INTENTS)?;
            let mut stale = Vec::new();
            for entry in intents.iter()? {
                let (id, at) = entry?;
                if stale.len() >= limit {
                    break;
                }
                if at.value() < before_ms {
                    stale.push(id.value().to_owned());
                }
            }
            for id in &stale {
                intents.remove(id.as_str())?;
            }
            Ok(stale.len())
        })
    }
}
