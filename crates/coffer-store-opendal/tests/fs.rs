//! The store on OpenDAL's fs service: the contract suite, a large blob, an abandoned writer.

mod common;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use coffer_store::BlobStore;
use coffer_store::contract::{FreshBlobs, run_blob_contract};
use coffer_store_opendal::OpendalBlobStore;

/// Two stores opened separately on one directory.
fn fresh() -> FreshBlobs {
    let dir = tempfile::tempdir().unwrap();
    let a = OpendalBlobStore::fs(dir.path()).unwrap();
    let b = OpendalBlobStore::fs(dir.path()).unwrap();
    FreshBlobs {
        handles: [Arc::new(a), Arc::new(b)],
        keep: Box::new(dir),
    }
}

fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                files_under(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn meets_the_blob_store_contract() {
    run_blob_contract(&fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_mib_blob_reads_back_across_part_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let store = OpendalBlobStore::fs(dir.path()).unwrap();
    common::twenty_mib_round_trip(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_writer_leaves_nothing_listed_or_staged() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("tmp");
    let store = OpendalBlobStore::fs(dir.path()).unwrap();
    common::abandon_a_writer(&store, |_| async {
        assert_eq!(
            files_under(&staging),
            1,
            "the write is staged while it is open"
        );
    })
    .await;
    common::eventually("the abandoned write's staging file is removed", || async {
        files_under(&staging) == 0
    })
    .await;
    assert_eq!(files_under(&dir.path().join("blobs")), 0);
}

/// A crashed process leaves its staging file; a new store's `clear_unfinished` removes it
/// and keeps committed blobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_writers_staging_file_is_cleared_by_the_next_process() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("tmp");
    let kept = {
        let store = OpendalBlobStore::fs(dir.path()).unwrap();
        let mut w = store.create().await.unwrap();
        w.write(Bytes::from_static(b"kept")).await.unwrap();
        w.commit().await.unwrap()
    };
    // As a killed process leaves it: a staged file nobody will finish.
    std::fs::write(
        staging.join("0123456789abcdef0123456789abcdef.k1x2"),
        b"partial",
    )
    .unwrap();
    let next = OpendalBlobStore::fs(dir.path()).unwrap();
    assert_eq!(next.clear_unfinished().await.unwrap(), 1);
    assert_eq!(files_under(&staging), 0);
    let listed = next.list_page(None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|b| &b.id).collect::<Vec<_>>(),
        vec![&kept]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_shorter_than_its_record_is_corrupt_and_a_missing_one_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let store = OpendalBlobStore::fs(dir.path()).unwrap();
    let mut w = store.create().await.unwrap();
    w.write(Bytes::from_static(b"0123456789")).await.unwrap();
    let id = w.commit().await.unwrap();
    let mut r = store.open(&id, 10).await.unwrap();
    // Truncated underneath an open reader: the read comes back short.
    let file = dir.path().join("blobs").join(id.as_str());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(4)
        .unwrap();
    let short = r.read_at(2, 6).await;
    assert!(
        matches!(short, Err(coffer_store::StoreError::Corrupt(_))),
        "{short:?}"
    );
    std::fs::remove_file(&file).unwrap();
    let gone = r.read_at(0, 2).await;
    assert!(
        matches!(gone, Err(coffer_store::StoreError::NoSuchBlob(_))),
        "{gone:?}"
    );
}

/// Files under `blobs/` whose names are not blob ids (a stray note, an upper-case id) are
/// not blobs: listing skips them, and they stay untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_skips_names_that_are_not_blob_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = OpendalBlobStore::fs(dir.path()).unwrap();
    let mut w = store.create().await.unwrap();
    w.write(Bytes::from_static(b"blob")).await.unwrap();
    let id = w.commit().await.unwrap();
    let blobs = dir.path().join("blobs");
    std::fs::write(blobs.join("README"), b"stray").unwrap();
    std::fs::write(blobs.join(id.as_str().to_uppercase()), b"stray").unwrap();
    for page in [1, 10] {
        let listed = store.list_page(None, page).await.unwrap();
        assert_eq!(listed.iter().map(|b| &b.id).collect::<Vec<_>>(), vec![&id]);
    }
    assert_eq!(files_under(&blobs), 3);
}
