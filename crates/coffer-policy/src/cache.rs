//! Parsed policies kept by their text, so a request does not parse its policy again: KMS
//! evaluates a key's policy on every operation, S3 a bucket's on every request, and parsing a
//! document costs far more than looking it up.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{Policy, PolicyError};

/// How much a cache may hold, in [`weight`]: the policies' text plus [`ENTRY_COST`] each.
///
/// Why 2 MiB: it bounds memory rather than the number of policies, because policies differ a
/// lot in size (KMS's default key policy is 200 bytes; S3 accepts 20 KB, KMS 32 KB). Measured
/// with a counting allocator, a parsed policy takes 3 to 7 times its text for documents people
/// write, and up to 22 times for one made of thousands of one-character strings; so a full
/// cache holds under 10 MB in practice and under 50 MB however its policies are written. That
/// is still room for 700 to 1,000 typical bucket policies (1-2 KB), 1,700 default key policies
/// or 60 of the largest policies KMS accepts: about what the two caches this one replaced
/// held (1,024 and 4,096 entries, and no bound on their size).
pub(crate) const CACHE_BUDGET: usize = 2 << 20;

/// What an entry costs beyond its text: even a one-statement policy takes about 1 KB parsed.
pub(crate) const ENTRY_COST: usize = 1024;

/// An entry's share of [`CACHE_BUDGET`].
fn weight(text: &str) -> usize {
    text.len() + ENTRY_COST
}

/// A bounded cache of parsed policies, keyed by the policy text and shared as `Arc<Policy>`.
/// When it is full the least recently used policies make room. A document that does not parse
/// is not kept (its error is returned every time), nor is one larger than the whole budget.
pub struct PolicyCache {
    budget: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<Arc<str>, Entry>,
    /// Texts by when they were last used, oldest first.
    by_use: BTreeMap<u64, Arc<str>>,
    clock: u64,
    /// The sum of the entries' weights.
    weight: usize,
}

struct Entry {
    policy: Arc<Policy>,
    last_used: u64,
}

impl Default for PolicyCache {
    fn default() -> Self {
        Self::with_budget(CACHE_BUDGET)
    }
}

impl PolicyCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache of another size (tests use small ones).
    pub fn with_budget(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::default(),
        }
    }

    /// The parsed policy for `text`, parsing it on a miss.
    pub fn get(&self, text: &str) -> Result<Arc<Policy>, PolicyError> {
        if let Some(policy) = self.lock().hit(text) {
            return Ok(policy);
        }
        // Parsed without the lock, so a large document does not hold up other requests' hits.
        // Two requests that miss together both parse; the first to finish is kept.
        let policy = Arc::new(Policy::parse(text)?);
        if weight(text) > self.budget {
            return Ok(policy);
        }
        Ok(self.lock().insert(text, policy, self.budget))
    }

    /// How many policies the cache holds.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Lru> {
        // The map is consistent between statements, so a panic elsewhere leaves it usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Lru {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The cached policy, marked as just used. Hashes the text once: that is most of a hit's
    /// cost for a large policy.
    fn hit(&mut self, text: &str) -> Option<Arc<Policy>> {
        let now = self.tick();
        let entry = self.entries.get_mut(text)?;
        let previous = std::mem::replace(&mut entry.last_used, now);
        let policy = entry.policy.clone();
        if let Some(key) = self.by_use.remove(&previous) {
            self.by_use.insert(now, key);
        }
        Some(policy)
    }

    /// Adds `policy` (unless another request added it first), evicting the least recently used
    /// until it fits. The caller has checked that it fits in an empty cache.
    fn insert(&mut self, text: &str, policy: Arc<Policy>, budget: usize) -> Arc<Policy> {
        if let Some(existing) = self.hit(text) {
            return existing;
        }
        let needed = weight(text);
        while self.weight + needed > budget {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if self.entries.remove(&oldest).is_some() {
                self.weight -= weight(&oldest);
            }
        }
        let key: Arc<str> = Arc::from(text);
        let now = self.tick();
        self.by_use.insert(now, key.clone());
        self.entries.insert(
            key,
            Entry {
                policy: policy.clone(),
                last_used: now,
            },
        );
        self.weight += needed;
        policy
    }
}
