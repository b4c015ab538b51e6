//! The BlobStore contract: durable once committed, invisible before, listed in id order page
//! by page, deleted idempotently, and all of it through either of two handles.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::FreshBlobs;
use super::blocking::SyncBlobs;
use crate::blob::BlobId;
use crate::error::StoreError;

fn write(store: &SyncBlobs, data: &[u8]) -> BlobId {
    let mut w = store.create().unwrap();
    w.write_all(data).unwrap();
    let announced = w.id().clone();
    let id = w.commit().unwrap();
    assert_eq!(
        id, announced,
        "a blob commits under the id its writer announced"
    );
    id
}

/// Every blob, walked a page of `page` at a time.
fn walk(store: &SyncBlobs, page: usize) -> Vec<BlobId> {
    let mut out = Vec::new();
    let mut after: Option<BlobId> = None;
    loop {
        let got = store.list_page(after.as_ref(), page).unwrap();
        assert!(got.len() <= page);
        let done = got.len() < page;
        after = got.last().map(|b| b.id.clone());
        out.extend(got.into_iter().map(|b| b.id));
        if done {
            return out;
        }
    }
}

fn committed_blob_reads_back_and_abandoned_one_vanishes(fresh: &dyn Fn() -> FreshBlobs) {
    let f = fresh();
    let store = &SyncBlobs::new(f.handles[0].clone());
    let mut w = store.create().unwrap();
    w.write_all(b"hello ").unwrap();
    w.write_all(b"world").unwrap();
    let id = w.commit().unwrap();
    let mut r = store.open(&id, 11).unwrap();
    let mut buf = [0u8; 5];
    r.read_exact_at(6, &mut buf).unwrap();
    assert_eq!(&buf, b"world");
    assert!(
        matches!(r.read_exact_at(8, &mut buf), Err(StoreError::Corrupt(_))),
        "short read must fail"
    );
    // A blob of another length than its record says is damaged: found at open where that is
    // free, else by the read of the length the record promised.
    let longer = store
        .open(&id, 12)
        .and_then(|mut r| r.read_exact_at(0, &mut [0u8; 12]));
    assert!(matches!(longer, Err(StoreError::Corrupt(_))), "{longer:?}");

    let mut abandoned = store.create().unwrap();
    abandoned.write_all(b"partial").unwrap();
    let abandoned_id = abandoned.id().clone();
    assert!(
        matches!(store.open(&abandoned_id, 7), Err(StoreError::NoSuchBlob(_))),
        "nothing is visible before commit"
    );
    drop(abandoned);
    assert!(matches!(
        store.open(&abandoned_id, 7),
        Err(StoreError::NoSuchBlob(_))
    ));
    assert_eq!(walk(store, 10), vec![id.clone()]);
    store.delete(&id).unwrap();
    store.delete(&id).unwrap();
    assert!(walk(store, 10).is_empty());
    assert!(matches!(
        store.open(&id, 11),
        Err(StoreError::NoSuchBlob(_))
    ));
}

fn listing_pages_in_id_order_with_creation_times(fresh: &dyn Fn() -> FreshBlobs) {
    let f = fresh();
    let store = &SyncBlobs::new(f.handles[0].clone());
    let before = SystemTime::now() - Duration::from_secs(60);
    let mut ids: Vec<BlobId> = (0..7).map(|i| write(store, &[i])).collect();
    ids.sort();
    for page in [1, 2, 3, 7, 100] {
        assert_eq!(walk(store, page), ids, "pages of {page}");
    }
    let after = SystemTime::now() + Duration::from_secs(60);
    for b in store.list_page(None, 100).unwrap() {
        assert!(b.created > before && b.created < after, "{:?}", b.created);
    }
    assert_eq!(
        store.list_page(Some(&ids[6]), 10).unwrap(),
        Vec::new(),
        "nothing after the last id"
    );
    let from_third: Vec<BlobId> = store
        .list_page(Some(&ids[2]), 10)
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(from_third, ids[3..]);
}

fn unfinished_writes_are_cleared_and_committed_blobs_kept(fresh: &dyn Fn() -> FreshBlobs) {
    let f = fresh();
    let store = &SyncBlobs::new(f.handles[0].clone());
    let kept = write(store, b"kept");
    let mut crashed = store.create().unwrap();
    crashed.write_all(b"partial").unwrap();
    // As if the process died mid-write: the writer never runs its clean-up.
    #[allow(clippy::mem_forget)]
    std::mem::forget(crashed);
    assert!(store.clear_unfinished().unwrap() >= 1);
    assert_eq!(store.clear_unfinished().unwrap(), 0);
    assert_eq!(walk(store, 10), vec![kept]);
}

/// Eight threads over two handles write, read back and delete blobs, some deleted twice
/// (by two threads, as a writer and the collector may). Afterwards the store lists exactly
/// the blobs not deleted, each once.
fn eight_writers_through_two_handles(fresh: &dyn Fn() -> FreshBlobs) {
    let f = fresh();
    let kept = Arc::new(Mutex::new(HashSet::new()));
    let doomed = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..8usize)
        .map(|t| {
            let store = SyncBlobs::new(f.handles[t % 2].clone());
            let (kept, doomed) = (kept.clone(), doomed.clone());
            std::thread::spawn(move || {
                for i in 0..25usize {
                    let data = vec![t as u8; 1 + i * 37];
                    let id = write(&store, &data);
                    let mut r = store.open(&id, data.len() as u64).unwrap();
                    let mut back = vec![0; data.len()];
                    r.read_exact_at(0, &mut back).unwrap();
                    assert_eq!(back, data);
                    if i % 3 == 0 {
                        doomed.lock().unwrap().push(id);
                    } else {
                        assert!(
                            kept.lock().unwrap().insert(id),
                            "an id was handed out twice"
                        );
                    }
                    // Delete what another thread doomed, racing its own deletion.
                    let victim = doomed.lock().unwrap().last().cloned();
                    if let Some(v) = victim {
                        store.delete(&v).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let handles = f.handles.clone().map(SyncBlobs::new);
    for id in doomed.lock().unwrap().iter() {
        handles[1].delete(id).unwrap();
    }
    for handle in &handles {
        let listed = walk(handle, 16);
        let unique: HashSet<BlobId> = listed.iter().cloned().collect();
        assert_eq!(unique.len(), listed.len(), "a blob listed twice");
        assert_eq!(unique, *kept.lock().unwrap());
    }
}

/// A read announced as sequential (which a network store serves by fetching ahead, in
/// pieces of its own size) returns exactly the bytes asked for, chunk after chunk across the
/// store's pieces; a read elsewhere mid-sequence, and a second announced range, still do.
fn announced_sequential_reads_return_the_same_bytes(fresh: &dyn Fn() -> FreshBlobs) {
    let f = fresh();
    let store = &SyncBlobs::new(f.handles[0].clone());
    let data: Vec<u8> = (0..(9 << 20) + 123u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let id = write(store, &data);
    let len = data.len() as u64;
    let chunk = 65_600usize; // divides no power of two: pieces end mid-chunk unless rounded
    let check = |r: &mut super::blocking::SyncReader, from: u64, to: u64| {
        let mut at = from;
        while at < to {
            let n = chunk.min((to - at) as usize);
            let mut buf = vec![0u8; n];
            r.read_exact_at(at, &mut buf).unwrap();
            assert!(buf == data[at as usize..at as usize + n], "bytes at {at}");
            at += n as u64;
        }
    };
    let mut r = store.open(&id, len).unwrap();
    r.will_read(0..len, chunk);
    check(&mut r, 0, len);
    // Announced from mid-blob, abandoned after one chunk for a read elsewhere.
    r.will_read(1_000_000..len, chunk);
    check(&mut r, 1_000_000, 1_000_000 + chunk as u64);
    check(&mut r, 17, 17 + 3 * chunk as u64);
    // A second announcement over a short tail.
    r.will_read(len - 100..len, chunk);
    check(&mut r, len - 100, len);
    assert!(matches!(
        r.read_exact_at(len - 10, &mut [0u8; 11]),
        Err(StoreError::Corrupt(_))
    ));
    // Announcing more than the blob holds is ignored, not an error.
    r.will_read(0..len + 1, chunk);
    check(&mut r, 0, 2 * chunk as u64);
    store.delete(&id).unwrap();
}

pub(super) const CASES: &[super::Case<FreshBlobs>] = &[
    (
        "committed blob reads back",
        committed_blob_reads_back_and_abandoned_one_vanishes,
    ),
    (
        "listing pages",
        listing_pages_in_id_order_with_creation_times,
    ),
    (
        "unfinished writes",
        unfinished_writes_are_cleared_and_committed_blobs_kept,
    ),
    (
        "eight writers through two handles",
        eight_writers_through_two_handles,
    ),
    (
        "announced sequential reads",
        announced_sequential_reads_return_the_same_bytes,
    ),
];
