//! The MetaStore contract under concurrent writers.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::FreshMeta;
use super::blocking::SyncMeta;
use super::fixtures::*;
use crate::blob::BlobId;
use crate::error::StoreError;
use crate::meta::{ListControl, WriteCondition};
use crate::records::PartRecord;

pub(super) fn concurrent_writers_share_commits_and_each_sees_its_own_outcome(
    fresh: &dyn Fn() -> FreshMeta,
) {
    let (_keep, s) = with_bucket(fresh);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..40 {
                    let key = format!("t{t}/{i}");
                    s.put_object(
                        "b",
                        &key,
                        &object(&[&BlobId::random()]),
                        &WriteCondition::Always,
                    )
                    .unwrap();
                    // A refusal inside a shared batch fails only its own request.
                    assert!(matches!(
                        s.put_object(
                            "missing",
                            &key,
                            &object(&[&BlobId::random()]),
                            &WriteCondition::Always
                        ),
                        Err(StoreError::NoSuchBucket)
                    ));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut n = 0;
    s.list_objects("b", "", "", &mut |_, _| {
        n += 1;
        ListControl::Continue
    })
    .unwrap();
    assert_eq!(n, 16 * 40);
    assert_eq!(s.referenced_blobs().unwrap().len(), 16 * 40);
}

/// A small deterministic generator: each thread's sequence of operations is reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the writers saw: every blob a successful write introduced, and every blob a write
/// reported freed (with repeats, if a store ever frees one twice).
#[derive(Default)]
struct Ledger {
    committed: HashSet<BlobId>,
    freed: Vec<BlobId>,
}

const KEYS: [&str; 3] = ["k0", "k1", "k2"];

/// Eight threads over two handles put, copy and delete the same three keys, upload parts
/// to one upload, and race on conditional writes. Afterwards: each blob a write introduced
/// is either named by a record or was reported freed, exactly once; what the store counts
/// as referenced is exactly what the records name; no conditional update was lost.
pub(super) fn eight_writers_on_the_same_keys_keep_references_exact(fresh: &dyn Fn() -> FreshMeta) {
    let (keep, _) = with_bucket(fresh);
    SyncMeta::new(keep.handles[0].clone())
        .create_upload(&upload("u"))
        .unwrap();
    SyncMeta::new(keep.handles[0].clone())
        .put_object("b", "counter", &counter(0), &WriteCondition::Always)
        .unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let counted = Arc::new(Mutex::new(0u64));
    let if_absent_winners = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let s = SyncMeta::new(keep.handles[(t % 2) as usize].clone());
            let (ledger, counted, winners) =
                (ledger.clone(), counted.clone(), if_absent_winners.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t + 1));
                for round in 0..60 {
                    let key = KEYS[rng.below(3) as usize];
                    match rng.below(5) {
                        0 | 1 => {
                            let blob = BlobId::random();
                            let freed = s
                                .put_object("b", key, &object(&[&blob]), &WriteCondition::Always)
                                .unwrap();
                            let mut l = ledger.lock().unwrap();
                            l.committed.insert(blob);
                            l.freed.extend(freed);
                        }
                        2 => {
                            let (_, freed) =
                                s.delete_object("b", key, &WriteCondition::Always).unwrap();
                            ledger.lock().unwrap().freed.extend(freed);
                        }
                        3 => {
                            let from = KEYS[rng.below(3) as usize];
                            if let Some(source) = s.get_object("b", from).unwrap() {
                                let blobs: Vec<BlobId> = source.blobs().cloned().collect();
                                match s.copy_object(("b", from), &blobs, ("b", key), &source) {
                                    Ok(freed) => ledger.lock().unwrap().freed.extend(freed),
                                    Err(StoreError::SourceChanged) => {}
                                    Err(e) => panic!("copy: {e}"),
                                }
                            }
                        }
                        _ => {
                            let blob = BlobId::random();
                            let record = PartRecord {
                                v: 1,
                                part: part(1 + rng.below(2) as u32, &blob),
                                last_modified_ms: 0,
                            };
                            let freed = s.put_part("u", &record).unwrap();
                            let mut l = ledger.lock().unwrap();
                            l.committed.insert(blob);
                            l.freed.extend(freed);
                        }
                    }
                    // One If-None-Match winner per round key, and no lost counter update.
                    let claim = format!("claim/{}", round % 10);
                    let blob = BlobId::random();
                    match s.put_object("b", &claim, &object(&[&blob]), &WriteCondition::IfAbsent) {
                        Ok(freed) => {
                            assert!(freed.is_empty());
                            winners.lock().unwrap().push(claim);
                            ledger.lock().unwrap().committed.insert(blob);
                        }
                        Err(StoreError::PreconditionFailed) => {}
                        Err(e) => panic!("if-absent: {e}"),
                    }
                    let current = s.get_object("b", "counter").unwrap().unwrap();
                    let next = current.etag.parse::<u64>().unwrap() + 1;
                    let blob = BlobId::random();
                    let mut record = counter(next);
                    record.parts = object(&[&blob]).parts;
                    match s.put_object(
                        "b",
                        "counter",
                        &record,
                        &WriteCondition::IfMatch(current.etag),
                    ) {
                        Ok(freed) => {
                            *counted.lock().unwrap() += 1;
                            let mut l = ledger.lock().unwrap();
                            l.committed.insert(blob);
                            l.freed.extend(freed);
                        }
                        Err(StoreError::PreconditionFailed) => {}
                        Err(e) => panic!("if-match: {e}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = &SyncMeta::new(keep.handles[0].clone());

    let mut winners = if_absent_winners.lock().unwrap().clone();
    winners.sort();
    let before = winners.len();
    winners.dedup();
    assert_eq!(before, winners.len(), "two If-None-Match writes both won");
    assert_eq!(winners.len(), 10);
    let final_count: u64 = s
        .get_object("b", "counter")
        .unwrap()
        .unwrap()
        .etag
        .parse()
        .unwrap();
    assert_eq!(
        final_count,
        *counted.lock().unwrap(),
        "an If-Match update was lost"
    );

    let mut named: HashMap<BlobId, u64> = HashMap::new();
    s.list_objects("b", "", "", &mut |_, r| {
        for b in r.blobs() {
            *named.entry(b.clone()).or_default() += 1;
        }
        ListControl::Continue
    })
    .unwrap();
    for p in s.list_parts("u").unwrap() {
        *named.entry(p.part.blob).or_default() += 1;
    }
    let ledger = ledger.lock().unwrap();
    let mut freed_once = HashSet::new();
    for b in &ledger.freed {
        assert!(freed_once.insert(b.clone()), "blob {b} was freed twice");
        assert!(
            !named.contains_key(b),
            "blob {b} was freed while a record names it"
        );
    }
    for b in &ledger.committed {
        assert!(
            named.contains_key(b) || freed_once.contains(b),
            "blob {b} is neither named nor freed"
        );
    }
    assert_eq!(
        s.referenced_blobs().unwrap(),
        named.keys().cloned().collect::<HashSet<_>>()
    );
    let ids: Vec<BlobId> = ledger.committed.iter().cloned().collect();
    assert_eq!(
        s.blobs_in_use(&ids, i64::MAX).unwrap(),
        named.keys().cloned().collect::<HashSet<_>>()
    );
    // Freeing the rest returns each remaining blob once more, and only those.
    let mut rest = s.abort_upload("u").unwrap();
    let keys: Vec<String> = {
        let mut keys = Vec::new();
        s.list_objects("b", "", "", &mut |k, _| {
            keys.push(k.to_owned());
            ListControl::Continue
        })
        .unwrap();
        keys
    };
    rest.extend(s.delete_objects("b", &keys).unwrap().1);
    rest.sort();
    let mut expected: Vec<BlobId> = named.into_keys().collect();
    expected.sort();
    assert_eq!(rest, expected);
}

fn counter(n: u64) -> crate::records::ObjectRecord {
    let mut record = object(&[]);
    record.etag = n.to_string();
    record
}

/// A lease is held by one holder at a time, through either handle: the holder renews it
/// under the same token; another takes it only once it has run out, under a greater token;
/// of eight holders racing for a free lease exactly one gets it.
fn leases_have_one_holder_and_change_hands_with_a_greater_token(fresh: &dyn Fn() -> FreshMeta) {
    let f = fresh();
    let [a, b] = &f.handles;
    let first = a.acquire_lease("chore", "gw-a", 60_000).unwrap().unwrap();
    assert_eq!(
        a.acquire_lease("chore", "gw-a", 60_000).unwrap(),
        Some(first)
    );
    assert_eq!(b.acquire_lease("chore", "gw-b", 60_000).unwrap(), None);
    assert_eq!(
        b.acquire_lease("chore", "gw-a", 60_000).unwrap(),
        Some(first)
    );
    // Another lease is another lease.
    assert!(b.acquire_lease("other", "gw-b", 60_000).unwrap().is_some());
    // A short lease runs out; then another holder takes it, and the old one cannot renew.
    a.acquire_lease("chore", "gw-a", 1).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = b.acquire_lease("chore", "gw-b", 60_000).unwrap().unwrap();
    assert!(second > first, "{second} after {first}");
    assert_eq!(a.acquire_lease("chore", "gw-a", 60_000).unwrap(), None);

    let won: Vec<u64> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..8)
            .map(|i| {
                let handle = f.handles[i % 2].clone();
                scope.spawn(move || {
                    handle
                        .acquire_lease("race", &format!("gw-{i}"), 60_000)
                        .unwrap()
                })
            })
            .collect();
        racers
            .into_iter()
            .filter_map(|r| r.join().unwrap())
            .collect()
    });
    assert_eq!(won.len(), 1, "{won:?}");
}

pub(super) const CASES: &[super::Case<FreshMeta>] = &[
    (
        "concurrent writers share commits",
        concurrent_writers_share_commits_and_each_sees_its_own_outcome,
    ),
    (
        "eight writers on the same keys",
        eight_writers_on_the_same_keys_keep_references_exact,
    ),
    (
        "leases",
        leases_have_one_holder_and_change_hands_with_a_greater_token,
    ),
];
