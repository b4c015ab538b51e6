//! How many records name each blob: a blob is freed when its count reaches zero.

use std::collections::HashSet;

use redb::{ReadableDatabase, ReadableTable, Table, TableDefinition};

use super::RedbMetaStore;
use crate::blob::BlobId;
use crate::error::{StoreError, StoreResult};

/// How many records name each blob. Copies share blobs, so a blob is freed only at zero.
pub(super) const BLOB_REFS: TableDefinition<&str, u64> = TableDefinition::new("blob_refs");

pub(super) fn add_refs<'a>(
    refs: &mut Table<&str, u64>,
    blobs: impl Iterator<Item = &'a BlobId>,
) -> StoreResult<()> {
    for b in blobs {
        let n = refs.get(b.as_str())?.map(|g| g.value()).unwrap_or(0);
        refs.insert(b.as_str(), n + 1)?;
    }
    Ok(())
}

/// Drops one reference per blob and returns those that reached zero.
pub(super) fn drop_refs<'a>(
    refs: &mut Table<&str, u64>,
    blobs: impl Iterator<Item = &'a BlobId>,
) -> StoreResult<Vec<BlobId>> {
    let mut freed = Vec::new();
    for b in blobs {
        let n = refs.get(b.as_str())?.map(|g| g.value()).unwrap_or(0);
        if n <= 1 {
            refs.remove(b.as_str())?;
            freed.push(b.clone());
        } else {
            refs.insert(b.as_str(), n - 1)?;
        }
    }
    Ok(freed)
}

impl RedbMetaStore {
    /// How many records name each blob, as the store counts them: what a consistency check
    /// compares with the records themselves.
    pub fn blob_reference_counts(&self) -> StoreResult<std::collections::HashMap<BlobId, u64>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(BLOB_REFS)?;
        let mut out = std::collections::HashMap::new();
        for entry in t.iter()? {
            let (k, n) = entry?;
            let id = BlobId::parse(k.value())
                .ok_or_else(|| StoreError::Corrupt(format!("blob reference {:?}", k.value())))?;
            out.insert(id, n.value());
        }
        Ok(out)
    }

    pub(super) fn referenced_blobs(&self) -> StoreResult<HashSet<BlobId>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(BLOB_REFS)?;
        let mut out = HashSet::new();
        for entry in t.iter()? {
            let (k, _) = entry?;
            if let Some(id) = BlobId::parse(k.value()) {
                out.insert(id);
            }
        }
        Ok(out)
    }
}
