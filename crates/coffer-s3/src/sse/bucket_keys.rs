//! S3 Bucket Keys: one KMS data key per (bucket, KMS key), made with the bucket's ARN as
//! encryption context and kept in memory for a bounded time and number of uses. Object data
//! keys are sealed under keys derived from it, so most SSE-KMS requests make no KMS call.
//!
//! What a bucket key does not skip: every request is still checked against the KMS key's
//! policy and state ([`coffer_kms::Kms::check_access`]), so a user the policy denies, or a
//! disabled key, is refused at once, cached key or not.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use coffer_crypto::{KeyEncryptionKey, derive_kek};
use zeroize::Zeroizing;

/// How long a bucket key is used for new objects, and kept for reading, after the KMS made
/// or opened it.
const MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// How many objects one bucket key seals before a fresh one is made.
const MAX_USES: u64 = 100_000;
/// Bound on cached entries (each is a few dozen bytes).
const MAX_ENTRIES: usize = 10_000;

/// A bucket key's plaintext and its KMS ciphertext.
struct Entry {
    material: Zeroizing<Vec<u8>>,
    blob: String,
    made: Instant,
    uses: u64,
}

impl Entry {
    fn fresh(&self) -> bool {
        self.made.elapsed() < MAX_AGE
    }
}

/// A bucket key ready to seal one object's data key.
pub(crate) struct BucketKeyUse {
    pub kek: KeyEncryptionKey,
    /// The bucket key's KMS ciphertext (base64), stored with the object.
    pub blob: String,
}

/// The key that seals one object's data key under a bucket key: bound to the object's ARN.
pub(crate) fn object_kek(material: &[u8], object_arn: &str) -> KeyEncryptionKey {
    derive_kek(material, b"coffer s3 bucket key", object_arn.as_bytes())
}

/// A bucket key the KMS opened, and when.
type Opened = (Zeroizing<Vec<u8>>, Instant);

#[derive(Default)]
pub(crate) struct BucketKeys {
    /// For writing: the current bucket key of (bucket, KMS key ARN).
    current: Mutex<HashMap<(String, String), Entry>>,
    /// For reading: bucket keys the KMS opened, by ciphertext.
    opened: Mutex<HashMap<String, Opened>>,
}

/// Bucket-key cache hits and misses, for Prometheus: what Bucket Keys save.
fn count(use_: &'static str, hit: bool) {
    metrics::counter!(
        "coffer_bucket_key_cache_total",
        "use" => use_,
        "result" => if hit { "hit" } else { "miss" }
    )
    .increment(1);
}

fn prune<K, V>(map: &mut HashMap<K, V>, fresh: impl Fn(&V) -> bool) {
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, v| fresh(v));
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
    }
}

impl BucketKeys {
    /// The bucket key to seal a new object with, if a fresh one is cached (counting the use).
    pub(crate) fn for_write(
        &self,
        bucket: &str,
        key_arn: &str,
        object_arn: &str,
    ) -> Option<BucketKeyUse> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let entry = current
            .get_mut(&(bucket.to_owned(), key_arn.to_owned()))
            .filter(|e| e.fresh() && e.uses < MAX_USES);
        count("write", entry.is_some());
        let entry = entry?;
        entry.uses += 1;
        Some(BucketKeyUse {
            kek: object_kek(&entry.material, object_arn),
            blob: entry.blob.clone(),
        })
    }

    /// Keeps a bucket key the KMS just made, for writing and reading.
    pub(crate) fn insert_made(
        &self,
        bucket: &str,
        key_arn: &str,
        material: Zeroizing<Vec<u8>>,
        blob: String,
    ) {
        self.insert_opened(&blob, material.clone());
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut current, Entry::fresh);
        current.insert(
            (bucket.to_owned(), key_arn.to_owned()),
            Entry {
                material,
                blob,
                made: Instant::now(),
                uses: 1,
            },
        );
    }

    /// The plaintext of a bucket key the KMS opened (or made) recently.
    pub(crate) fn opened(&self, blob: &str) -> Option<Zeroizing<Vec<u8>>> {
        let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        let hit = opened
            .get(blob)
            .filter(|(_, at)| at.elapsed() < MAX_AGE)
            .map(|(m, _)| m.clone());
        count("read", hit.is_some());
        hit
    }

    pub(crate) fn insert_opened(&self, blob: &str, material: Zeroizing<Vec<u8>>) {
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        prune(&mut opened, |(_, at)| at.elapsed() < MAX_AGE);
        opened.insert(blob.to_owned(), (material, Instant::now()));
    }
}
