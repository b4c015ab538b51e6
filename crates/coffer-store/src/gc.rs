//! Garbage collection: blobs no record names, older than a grace period and without a
//! pending write intent, walked a page at a time and removed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::blob::{BlobId, BlobStore};
use crate::error::StoreResult;
use crate::meta::MetaStore;

/// What one garbage-collection pass removed, and what it spared.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcReport {
    pub unfinished_writes: usize,
    pub orphan_blobs: usize,
    /// Unnamed blobs younger than the grace period, left for a later pass.
    pub young_blobs: usize,
    /// Write intents whose writers were presumed dead, removed.
    pub stale_intents: usize,
}

/// How careful a collection must be about writers it cannot see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcPolicy {
    /// Unnamed blobs younger than this are spared: a writer (perhaps on another gateway, or
    /// one that records no intent) may be about to commit the record naming it.
    pub grace: Duration,
    /// Intents older than this are presumed abandoned (their writer crashed); younger ones
    /// protect their blob whatever its age. Longer than any single upload may take; zero
    /// makes every intent stale.
    pub intent_lifetime: Duration,
    /// Whether unfinished writes are cleared too: only safe when no writer can be active.
    pub clear_unfinished: bool,
    /// Blobs listed and looked up per step; memory stays proportional to it.
    pub page_size: usize,
}

impl Default for GcPolicy {
    /// For a store other processes may be writing to.
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(3600),
            intent_lifetime: Duration::from_secs(24 * 3600),
            clear_unfinished: false,
            page_size: 1000,
        }
    }
}

impl GcPolicy {
    /// For a store no one else can be writing to, such as the embedded store at start-up
    /// (its database lock is held and no request is served yet): every unnamed blob, intent
    /// and unfinished write is a leftover of an earlier run, whatever its age.
    pub fn exclusive() -> Self {
        Self {
            grace: Duration::ZERO,
            intent_lifetime: Duration::ZERO,
            clear_unfinished: true,
            ..Self::default()
        }
    }
}

/// Removes blobs no record names and no live intent covers: what a crash between "blob
/// durable" and "record committed" (or between "record removed" and "blob deleted") leaves
/// behind. Walks the blobs a page at a time, so a large store never sits in memory.
pub async fn collect_orphans(
    meta: &dyn MetaStore,
    blobs: &dyn BlobStore,
    policy: &GcPolicy,
) -> StoreResult<GcReport> {
    let mut report = GcReport::default();
    if policy.clear_unfinished {
        report.unfinished_writes = blobs.clear_unfinished().await?;
    }
    let now = SystemTime::now();
    let intents_since_ms = if policy.intent_lifetime.is_zero() {
        i64::MAX
    } else {
        millis_since_epoch(now.checked_sub(policy.intent_lifetime))
    };
    let page_size = policy.page_size.max(1);
    let mut after: Option<BlobId> = None;
    loop {
        let page = blobs.list_page(after.as_ref(), page_size).await?;
        let last_page = page.len() < page_size;
        after = page.last().map(|b| b.id.clone());
        let mut old = Vec::with_capacity(page.len());
        for blob in page {
            // A blob dated in the future (clock skew between gateways) counts as new.
            let age = now.duration_since(blob.created).unwrap_or(Duration::ZERO);
            if age < policy.grace {
                report.young_blobs += 1;
            } else {
                old.push(blob.id);
            }
        }
        // Asked after listing: a blob listed was committed, so its intent (if its writer
        // records one) was recorded before, and is seen here unless a record settled it.
        let in_use = meta.blobs_in_use(&old, intents_since_ms).await?;
        for id in old.iter().filter(|id| !in_use.contains(id)) {
            blobs.delete(id).await?;
            report.orphan_blobs += 1;
        }
        if last_page {
            break;
        }
    }
    // Last, so a stale intent keeps nothing alive that the walk above did not already judge.
    loop {
        let n = meta
            .drop_stale_blob_intents(intents_since_ms, page_size)
            .await?;
        report.stale_intents += n;
        if n < page_size {
            break;
        }
    }
    Ok(report)
}

/// Milliseconds since the Unix epoch (0 before it, or if the subtraction underflowed).
pub(crate) fn millis_since_epoch(t: Option<SystemTime>) -> i64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{BucketRecord, ObjectRecord, StoredPart};
    use crate::{FsBlobStore, MetaStore, RedbMetaStore, WriteCondition};

    struct Fixture {
        dir: tempfile::TempDir,
        meta: RedbMetaStore,
        blobs: FsBlobStore,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let meta = RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap();
        let blobs = FsBlobStore::open(&dir.path().join("objects")).unwrap();
        meta.create_bucket(&BucketRecord {
            v: 1,
            name: "b".into(),
            owner: "o".into(),
            region: "r".into(),
            created_ms: 0,
            encryption: None,
            policy: None,
            tags: Default::default(),
        })
        .await
        .unwrap();
        Fixture { dir, meta, blobs }
    }

    impl Fixture {
        /// A committed blob written `age` ago.
        async fn blob(&self, age: Duration) -> BlobId {
            let mut w = self.blobs.create().await.unwrap();
            w.write(bytes::Bytes::from_static(b"x")).await.unwrap();
            let id = w.commit().await.unwrap();
            let path = self
                .dir
                .path()
                .join("objects/blobs")
                .join(&id.as_str()[..2])
                .join(id.as_str());
            let file = std::fs::File::options().write(true).open(path).unwrap();
            file.set_modified(SystemTime::now() - age).unwrap();
            id
        }

        async fn name(&self, key: &str, blob: &BlobId) {
            let object: ObjectRecord = serde_json::from_value(serde_json::json!({
                "v": 1, "size": 1, "etag": "e", "last_modified_ms": 0, "multipart": false,
                "parts": [StoredPart {
                    number: 1, size: 1, md5_hex: String::new(), blob: blob.clone(),
                    checksum: None, crc64nvme: None, inline: None,
                }],
            }))
            .unwrap();
            self.meta
                .put_object("b", key, &object, &WriteCondition::Always)
                .await
                .unwrap();
        }

        async fn remaining(&self) -> Vec<BlobId> {
            let mut ids: Vec<BlobId> = self
                .blobs
                .list_page(None, usize::MAX)
                .await
                .unwrap()
                .into_iter()
                .map(|b| b.id)
                .collect();
            ids.sort();
            ids
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn sorted(mut ids: Vec<BlobId>) -> Vec<BlobId> {
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn young_blobs_are_spared_and_old_unnamed_ones_collected_page_by_page() {
        let f = fixture().await;
        let named = f.blob(2 * HOUR).await;
        f.name("k", &named).await;
        let young = f.blob(Duration::from_secs(60)).await;
        for _ in 0..5 {
            f.blob(2 * HOUR).await;
        }
        let policy = GcPolicy {
            page_size: 2,
            ..GcPolicy::default()
        };
        let report = collect_orphans(&f.meta, &f.blobs, &policy).await.unwrap();
        assert_eq!(report.orphan_blobs, 5);
        assert_eq!(report.young_blobs, 1);
        assert_eq!(f.remaining().await, sorted(vec![named, young]));
    }

    #[tokio::test]
    async fn a_live_intent_protects_its_blob_past_the_grace_period_and_a_stale_one_does_not() {
        let f = fixture().await;
        let now_ms = millis_since_epoch(Some(SystemTime::now()));
        let (pending, abandoned) = (f.blob(3 * HOUR).await, f.blob(3 * HOUR).await);
        f.meta
            .record_blob_intent(&pending, now_ms - 3_600_000 * 3)
            .await
            .unwrap();
        f.meta
            .record_blob_intent(&abandoned, now_ms - 3_600_000 * 48)
            .await
            .unwrap();
        let report = collect_orphans(&f.meta, &f.blobs, &GcPolicy::default())
            .await
            .unwrap();
        assert_eq!((report.orphan_blobs, report.stale_intents), (1, 1));
        assert_eq!(f.remaining().await, vec![pending.clone()]);

        // The record that names the blob settles its intent in the same transaction.
        f.name("k", &pending).await;
        assert!(
            f.meta
                .blobs_in_use(std::slice::from_ref(&pending), i64::MAX)
                .await
                .unwrap()
                .contains(&pending)
        );
        let report = collect_orphans(&f.meta, &f.blobs, &GcPolicy::default())
            .await
            .unwrap();
        assert_eq!((report.orphan_blobs, report.stale_intents), (0, 0));
        f.meta
            .delete_object("b", "k", &WriteCondition::Always)
            .await
            .unwrap();
        let report = collect_orphans(&f.meta, &f.blobs, &GcPolicy::default())
            .await
            .unwrap();
        assert_eq!(report.orphan_blobs, 1, "no intent outlived the record");
    }

    #[tokio::test]
    async fn an_exclusive_collection_takes_every_leftover_whatever_its_age() {
        let f = fixture().await;
        let young = f.blob(Duration::ZERO).await;
        f.meta
            .record_blob_intent(&young, millis_since_epoch(Some(SystemTime::now())))
            .await
            .unwrap();
        let mut unfinished = f.blobs.create().await.unwrap();
        unfinished
            .write(bytes::Bytes::from_static(b"partial"))
            .await
            .unwrap();
        // As if the process died mid-write: the writer never runs its clean-up.
        #[allow(clippy::mem_forget)]
        std::mem::forget(unfinished);
        let report = collect_orphans(&f.meta, &f.blobs, &GcPolicy::exclusive())
            .await
            .unwrap();
        assert_eq!(
            report,
            GcReport {
                unfinished_writes: 1,
                orphan_blobs: 1,
                young_blobs: 0,
                stale_intents: 1,
            }
        );
        assert!(f.remaining().await.is_empty());
    }
}
