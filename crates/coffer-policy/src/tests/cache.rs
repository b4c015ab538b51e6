//! The parsed-policy cache: hits share one parse, the least recently used policy makes room,
//! and bad or oversized documents are never kept.

use std::sync::Arc;

use super::*;
use crate::PolicyCache;
use crate::cache::ENTRY_COST;

/// A distinct valid document per `n`, all of the same length.
fn doc(n: u32) -> String {
    statement(&format!(
        r#""Sid":"s{n:04}","Effect":"Allow","Principal":"*","Action":"*""#
    ))
}

#[test]
fn a_hit_returns_the_same_parse() {
    let cache = PolicyCache::new();
    let first = cache.get(&doc(1)).unwrap();
    let second = cache.get(&doc(1)).unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(cache.len(), 1);
    assert_eq!(
        first.evaluate(&req("kms:Decrypt").request()),
        Decision::Allow
    );
}

#[test]
fn the_least_recently_used_policy_makes_room() {
    let per_entry = doc(0).len() + ENTRY_COST;
    let cache = PolicyCache::with_budget(3 * per_entry);
    let one = cache.get(&doc(1)).unwrap();
    cache.get(&doc(2)).unwrap();
    cache.get(&doc(3)).unwrap();
    // Using 1 again makes 2 the oldest.
    assert!(Arc::ptr_eq(&one, &cache.get(&doc(1)).unwrap()));
    cache.get(&doc(4)).unwrap();
    assert_eq!(cache.len(), 3);
    assert!(
        Arc::ptr_eq(&one, &cache.get(&doc(1)).unwrap()),
        "1 was kept"
    );
    let two = cache.get(&doc(2)).unwrap();
    // 2 was parsed again and evicted 3, the oldest then.
    assert_eq!(cache.len(), 3);
    assert!(Arc::ptr_eq(&two, &cache.get(&doc(2)).unwrap()));
    let four = cache.get(&doc(4)).unwrap();
    assert!(Arc::ptr_eq(&four, &cache.get(&doc(4)).unwrap()));

    // Many more than fit: the cache never grows past its budget.
    for n in 10..200 {
        cache.get(&doc(n)).unwrap();
        assert!(cache.len() <= 3);
    }
}

#[test]
fn bad_and_oversized_documents_are_not_kept() {
    let cache = PolicyCache::with_budget(doc(0).len() + ENTRY_COST);
    let err = cache.get("not json").unwrap_err();
    assert!(err.0.contains("not valid JSON"), "{err}");
    assert!(cache.is_empty());

    let big = statement(&format!(
        r#""Sid":"{}","Effect":"Allow","Principal":"*","Action":"*""#,
        "x".repeat(100)
    ));
    let parsed = cache.get(&big).unwrap();
    assert_eq!(
        parsed.evaluate(&req("kms:Decrypt").request()),
        Decision::Allow
    );
    assert!(
        cache.is_empty(),
        "a policy larger than the budget is not kept"
    );
    cache.get(&doc(1)).unwrap();
    assert_eq!(cache.len(), 1, "one that fits is");
}

#[test]
fn threads_share_one_cache() {
    let cache = PolicyCache::with_budget(8 * (doc(0).len() + ENTRY_COST));
    std::thread::scope(|s| {
        for t in 0..8 {
            let cache = &cache;
            s.spawn(move || {
                for i in 0..500 {
                    let n = (t * 7 + i) % 12;
                    let policy = cache.get(&doc(n)).unwrap();
                    assert_eq!(
                        policy.evaluate(&req("kms:Decrypt").request()),
                        Decision::Allow
                    );
                }
            });
        }
    });
    assert!(cache.len() <= 8);
}
