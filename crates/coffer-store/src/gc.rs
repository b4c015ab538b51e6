use crate::blob::BlobStore;
use crate::error::StoreResult;
use crate::meta::MetaStore;

/// What one garbage-collection pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcReport {
    pub unfinished_writes: usize,
    pub orphan_blobs: usize,
}

/// Removes unfinished writes and blobs no record names: what a crash between "blob durable"
/// and "record committed" (or between "record removed" and "blob deleted") leaves behind.
///
/// Must run while no request is writing (at start-up), since a blob being written is not yet
/// named by any record.
pub fn collect_orphans(meta: &dyn MetaStore, blobs: &dyn BlobStore) -> StoreResult<GcReport> {
    let unfinished_writes = blobs.clear_unfinished()?;
    let referenced = meta.referenced_blobs()?;
    let mut orphan_blobs = 0;
    for id in blobs.list()? {
        if !referenced.contains(&id) {
            blobs.delete(&id)?;
            orphan_blobs += 1;
        }
    }
    Ok(GcReport {
        unfinished_writes,
        orphan_blobs,
    })
}
