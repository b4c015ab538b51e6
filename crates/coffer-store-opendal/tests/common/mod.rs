//! What the test files share: the S3 server's settings from the environment (or a loud
//! skip), fresh stores for the contract suite, and a 20 MiB round trip.
#![allow(dead_code)] // Each test file uses its own part of this module.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use coffer_store::contract::FreshBlobs;
use coffer_store::{BlobId, BlobStore, StoreError};
use coffer_store_opendal::{OpendalBlobStore, S3Settings, Secret};

pub const MIB: usize = 1 << 20;

const S3_VARS: [&str; 4] = [
    "COFFER_TEST_S3_ENDPOINT",
    "COFFER_TEST_S3_ACCESS_KEY",
    "COFFER_TEST_S3_SECRET_KEY",
    "COFFER_TEST_S3_BUCKET",
];

/// The S3 server to test against, from `COFFER_TEST_S3_*`. `Ok(None)` means skip (after a
/// loud message); `Err` means the variables are missing where a skip is not allowed (CI), or
/// half set, which is a mistake wherever it happens.
pub fn s3_from(
    env: impl Fn(&str) -> Option<String>,
    test: &str,
) -> Result<Option<S3Settings>, String> {
    let names = S3_VARS;
    let values: Vec<Option<String>> = names
        .iter()
        .map(|n| env(n).filter(|v| !v.is_empty()))
        .collect();
    if values.iter().all(Option::is_none) {
        if env("CI").as_deref() == Some("true") {
            return Err(format!(
                "{test}: CI=true but no S3 server is configured ({}): CI must not skip it",
                names.join(", ")
            ));
        }
        return Ok(None);
    }
    let missing: Vec<&str> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{test}: S3 server half configured, missing {}",
            missing.join(", ")
        ));
    }
    let [endpoint, access, secret, bucket] =
        <[Option<String>; 4]>::try_from(values).map_err(|_| "four values".to_owned())?;
    Ok(Some(S3Settings {
        endpoint,
        bucket: bucket.unwrap_or_default(),
        // Each run writes under a prefix of its own, so runs never see each other's blobs.
        prefix: format!("coffer-test/{}", BlobId::random()),
        region: env("COFFER_TEST_S3_REGION").filter(|v| !v.is_empty()),
        access_key: access,
        secret_key: secret.map(Secret::new),
    }))
}

/// The S3 settings for `test` from this process's environment, a fresh prefix each call.
pub fn s3_or_skip(test: &str) -> Option<S3Settings> {
    match s3_from(|n| std::env::var(n).ok(), test) {
        Ok(Some(settings)) => Some(settings),
        Ok(None) => {
            // Straight to the process's stderr, not through eprintln!, which the test harness
            // captures and shows only for failing tests: a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: {test}: no S3 server configured (set {}; \
                 scripts/services/start-all.sh writes them to /var/tmp/coffer-services.env) ***\n",
                S3_VARS.join(", ")
            );
            None
        }
        Err(why) => panic!("{why}"),
    }
}

/// Deletes every blob of a store when dropped, so test runs leave the bucket as they found
/// it (whatever a test left behind, even after a failure).
pub struct EmptyOnDrop(pub Arc<dyn BlobStore>);

impl Drop for EmptyOnDrop {
    fn drop(&mut self) {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let store = self.0.clone();
        // On a thread of its own: dropping may happen inside another runtime's context.
        let _ = std::thread::spawn(move || {
            rt.block_on(async {
                while let Ok(page) = store.list_page(None, 1000).await {
                    if page.is_empty() {
                        break;
                    }
                    for b in page {
                        let _ = store.delete(&b.id).await;
                    }
                }
            })
        })
        .join();
    }
}

/// Two handles on one fresh S3 prefix, for the contract suite.
pub fn fresh_s3(settings: &S3Settings) -> FreshBlobs {
    let mut settings = settings.clone();
    settings.prefix = format!("coffer-test/{}", BlobId::random());
    let a: Arc<dyn BlobStore> = Arc::new(OpendalBlobStore::s3(settings.clone()).unwrap());
    let b: Arc<dyn BlobStore> = Arc::new(OpendalBlobStore::s3(settings).unwrap());
    FreshBlobs {
        handles: [a.clone(), b],
        keep: Box::new(EmptyOnDrop(a)),
    }
}

/// Deterministic bytes whose value depends on their offset, so a read from the wrong place
/// (or a part sent twice, or out of order) shows.
pub fn byte_at(offset: usize) -> u8 {
    let x = (offset as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) as u8 ^ (offset / MIB) as u8
}

pub fn expected(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len).map(byte_at).collect()
}

/// Writes 20 MiB in 1 MiB pieces (three 8 MiB parts' worth: a multipart upload on S3), then
/// reads it back by ranges that cross the part boundaries, and past the end.
pub async fn twenty_mib_round_trip(store: &dyn BlobStore) {
    const LEN: usize = 20 * MIB;
    let mut w = store.create().await.unwrap();
    for piece in 0..20 {
        w.write(Bytes::from(expected(piece * MIB, MIB)))
            .await
            .unwrap();
    }
    let id = w.commit().await.unwrap();
    let mut r = store.open(&id, LEN as u64).await.unwrap();
    let part = 8 * MIB;
    for (offset, len) in [
        (0, 10),
        (part - 100, 200),            // across the first part boundary
        (2 * part - 1, 2),            // the last byte of part 2, the first of part 3
        (part - MIB, part + 2 * MIB), // three parts at once
        (LEN - 10, 10),               // the very end
        (0, LEN),                     // all of it
    ] {
        let got = r.read_at(offset as u64, len).await.unwrap();
        assert!(
            got == expected(offset, len),
            "{len} bytes at {offset} differ"
        );
    }
    let past = r.read_at((LEN - 5) as u64, 10).await;
    assert!(matches!(past, Err(StoreError::Corrupt(_))), "{past:?}");
    let listed = store.list_page(None, 10).await.unwrap();
    assert_eq!(listed.iter().map(|b| &b.id).collect::<Vec<_>>(), vec![&id]);
    store.delete(&id).await.unwrap();
}

/// Starts a 17 MiB blob, runs `while_open` on its id, drops the writer, and checks the blob
/// is gone once the writer's background work ends: not listed, not readable. OpenDAL keeps
/// the first part back (a blob of one part goes as a single PUT) and starts the multipart
/// upload with the second, so 17 MiB is what it takes to have an upload open on S3 when the
/// writer is dropped. (On S3 that upload is completed and the blob deleted, so it may show
/// for a moment, under a name no record holds.)
pub async fn abandon_a_writer<F, Fut>(store: &dyn BlobStore, while_open: F) -> BlobId
where
    F: FnOnce(BlobId) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    const LEN: usize = 17 * MIB;
    let mut w = store.create().await.unwrap();
    for piece in 0..LEN / MIB {
        w.write(Bytes::from(expected(piece * MIB, MIB)))
            .await
            .unwrap();
    }
    let id = w.id().clone();
    while_open(id.clone()).await;
    drop(w);
    eventually(
        "the abandoned blob is neither listed nor readable",
        || async {
            store.list_page(None, 10).await.unwrap().is_empty()
                && matches!(
                    store.open(&id, LEN as u64).await,
                    Err(StoreError::NoSuchBlob(_))
                )
        },
    )
    .await;
    id
}

/// Polls `done` for up to ten seconds: the abort of a dropped writer runs in the background.
pub async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within ten seconds");
}
