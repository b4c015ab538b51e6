//! Bucket records as this gateway last read them, with their stored bytes, so that a PUT
//! decides on its bucket without a round trip of its own
//! ([`MetaStore::get_bucket_for_write`](coffer_store::MetaStore::get_bucket_for_write)).
//!
//! What keeps a stale record from being acted on is the check at commit, not this memory:
//! the PUT's statement writes only while the bucket's stored bytes are still the ones its
//! decision was made on ([`MetaStore::put_object_in_bucket`]), in the same serializable
//! transaction. A record is used for at most [`FRESH_FOR`] after it was read, which bounds
//! how long a write may be refused on a configuration another gateway has since relaxed
//! (S3 documents bucket configuration as eventually consistent); changes made through this
//! gateway forget the record at once.
//!
//! [`MetaStore::put_object_in_bucket`]: coffer_store::MetaStore::put_object_in_bucket

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coffer_store::BucketRecord;

/// How long a record read is used for writes before it is read again.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(1);

/// Most buckets remembered; past it the memory starts over (a gateway writing to more
/// buckets than this at once reads each bucket once a round, as it did before).
const MOST: usize = 4096;

/// A bucket record and the bytes it was decoded from.
pub(crate) struct Seen {
    pub record: BucketRecord,
    pub stored: Vec<u8>,
    read_at: Instant,
}

#[derive(Default)]
pub(crate) struct BucketsSeen {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_name: HashMap<String, Arc<Seen>>,
    /// Moves on each [`BucketsSeen::forget`]: a read that began before a change must not
    /// put back what the change made stale.
    epoch: u64,
}

impl BucketsSeen {
    /// Where reads stand: pass it to [`BucketsSeen::remember`] with what the read found.
    pub(crate) fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Remembers what a read that began at `epoch` found, unless the bucket was changed
    /// through this gateway since.
    pub(crate) fn remember(&self, epoch: u64, record: &BucketRecord, stored: &[u8]) {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        if inner.by_name.len() >= MOST && !inner.by_name.contains_key(&record.name) {
            inner.by_name.clear();
        }
        let seen = Seen {
            record: record.clone(),
            stored: stored.to_vec(),
            read_at: Instant::now(),
        };
        inner.by_name.insert(record.name.clone(), Arc::new(seen));
    }

    /// The record of `name` if it was read less than [`FRESH_FOR`] ago.
    pub(crate) fn fresh(&self, name: &str) -> Option<Arc<Seen>> {
        let inner = self.lock();
        let seen = inner.by_name.get(name)?;
        (seen.read_at.elapsed() < FRESH_FOR).then(|| seen.clone())
    }

    /// The record of `name` as last read, however long ago: what a write decided on must
    /// be found here to be committed.
    pub(crate) fn last(&self, name: &str) -> Option<Arc<Seen>> {
        self.lock().by_name.get(name).cloned()
    }

    /// Drops what is known of `name`: it is being changed (or was found changed).
    pub(crate) fn forget(&self, name: &str) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.by_name.remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map is only ever replaced whole or entry by entry: a panic elsewhere cannot
        // leave it half-changed.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(name: &str, policy: Option<&str>) -> BucketRecord {
        BucketRecord {
            policy: policy.map(str::to_owned),
            ..coffer_store::contract::fixtures::bucket(name)
        }
    }

    #[test]
    fn a_read_that_began_before_a_change_is_not_remembered() {
        let seen = BucketsSeen::default();
        let before = seen.epoch();
        seen.forget("b");
        seen.remember(before, &bucket("b", None), b"old");
        assert!(seen.last("b").is_none());
        let now = seen.epoch();
        seen.remember(now, &bucket("b", Some("{}")), b"new");
        let got = seen.fresh("b").expect("remembered");
        assert_eq!(got.stored, b"new");
        assert_eq!(got.record.policy.as_deref(), Some("{}"));
    }

    #[test]
    fn forgetting_one_bucket_keeps_the_others() {
        let seen = BucketsSeen::default();
        let e = seen.epoch();
        seen.remember(e, &bucket("a", None), b"a");
        seen.remember(e, &bucket("b", None), b"b");
        seen.forget("a");
        assert!(seen.last("a").is_none());
        assert_eq!(seen.last("b").expect("kept").stored, b"b");
    }
}
