//! Listing blobs a page at a time, in id order, for garbage collection.

use std::collections::BinaryHeap;
use std::time::SystemTime;

use coffer_store::{BlobId, ListedBlob, StoreError, StoreResult};
use futures::TryStreamExt;

use crate::error::store_error;
use crate::store::{BLOBS_DIR, OpendalBlobStore};

/// Most keys S3 returns per ListObjectsV2 request.
const MAX_KEYS: usize = 1000;

pub(crate) async fn page(
    store: &OpendalBlobStore,
    after: Option<&BlobId>,
    limit: usize,
) -> StoreResult<Vec<ListedBlob>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    if store.op.info().capability().list_with_start_after {
        in_order(store, after, limit).await
    } else {
        smallest(store, after, limit).await
    }
}

/// Services that list in key order from a start key (S3): read only as far as the page
/// needs. Hex ids sort the same as their keys, so key order is id order.
async fn in_order(
    store: &OpendalBlobStore,
    after: Option<&BlobId>,
    limit: usize,
) -> StoreResult<Vec<ListedBlob>> {
    let mut list = store.op.lister_with(BLOBS_DIR).limit(limit.min(MAX_KEYS));
    if let Some(after) = after {
        list = list.start_after(&OpendalBlobStore::path_of(after));
    }
    let mut entries = list.await.map_err(|e| store_error(store.place, None, e))?;
    let mut out = Vec::with_capacity(limit.min(MAX_KEYS));
    while out.len() < limit {
        let Some(entry) = entries
            .try_next()
            .await
            .map_err(|e| store_error(store.place, None, e))?
        else {
            break;
        };
        if let Some(listed) = listed(store, entry, after).await? {
            out.push(listed);
        }
    }
    Ok(out)
}

/// Services that list in no particular order (fs): read the whole directory, keeping only
/// the `limit` smallest ids after `after`, so a page never holds more than itself.
async fn smallest(
    store: &OpendalBlobStore,
    after: Option<&BlobId>,
    limit: usize,
) -> StoreResult<Vec<ListedBlob>> {
    let mut entries = store
        .op
        .lister(BLOBS_DIR)
        .await
        .map_err(|e| store_error(store.place, None, e))?;
    // A max-heap on id: its top is the largest kept, the one a smaller id displaces.
    let mut kept: BinaryHeap<ByIdListed> = BinaryHeap::with_capacity(limit + 1);
    while let Some(entry) = entries
        .try_next()
        .await
        .map_err(|e| store_error(store.place, None, e))?
    {
        if let Some(listed) = listed(store, entry, after).await? {
            kept.push(ByIdListed(listed));
            if kept.len() > limit {
                kept.pop();
            }
        }
    }
    Ok(kept.into_sorted_vec().into_iter().map(|b| b.0).collect())
}

/// The blob an entry names, if it is one (a committed blob after `after`): anything else
/// under `blobs/` (the directory itself, a stranger's file) is skipped.
async fn listed(
    store: &OpendalBlobStore,
    entry: opendal::Entry,
    after: Option<&BlobId>,
) -> StoreResult<Option<ListedBlob>> {
    if !entry.metadata().is_file() {
        return Ok(None);
    }
    let Some(id) = BlobId::parse(entry.name()) else {
        return Ok(None);
    };
    if after.is_some_and(|a| id <= *a) {
        return Ok(None);
    }
    let created = match entry.metadata().last_modified() {
        Some(t) => SystemTime::from(t),
        // Not in this service's listing: ask for it. A blob deleted meanwhile is no longer
        // part of the store.
        None => match store.op.stat(entry.path()).await {
            Ok(meta) => meta.last_modified().map(SystemTime::from).ok_or_else(|| {
                StoreError::Database(format!("blob {id}: the store gives no time it was written"))
            })?,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(store_error(store.place, Some(&id), e)),
        },
    };
    Ok(Some(ListedBlob { id, created }))
}

/// Orders listed blobs by id alone.
struct ByIdListed(ListedBlob);

impl PartialEq for ByIdListed {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ByIdListed {}

impl PartialOrd for ByIdListed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByIdListed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.id.cmp(&other.0.id)
    }
}
