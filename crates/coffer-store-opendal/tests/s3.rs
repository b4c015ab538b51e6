//! The store on an S3 server (Ceph RGW in CI): the contract suite, a multipart blob, an
//! abandoned multipart upload. Needs `COFFER_TEST_S3_*`; without them each test says
//! SKIPPED loudly and passes, except under `CI=true`, where it fails.

mod common;

use std::sync::Arc;

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use coffer_store::BlobStore;
use coffer_store::contract::run_blob_contract;
use coffer_store_opendal::{OpendalBlobStore, S3Settings};

#[test]
fn meets_the_blob_store_contract() {
    let Some(settings) = common::s3_or_skip("s3::meets_the_blob_store_contract") else {
        return;
    };
    run_blob_contract(&|| common::fresh_s3(&settings));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_mib_blob_goes_multipart_and_reads_back_by_ranges() {
    let Some(settings) = common::s3_or_skip("s3::a_twenty_mib_blob_goes_multipart") else {
        return;
    };
    let store: Arc<dyn BlobStore> = Arc::new(OpendalBlobStore::s3(settings).unwrap());
    let _empty = common::EmptyOnDrop(store.clone());
    common::twenty_mib_round_trip(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_writer_leaves_no_object_and_no_multipart_upload() {
    let Some(settings) = common::s3_or_skip("s3::an_abandoned_writer_leaves_nothing") else {
        return;
    };
    let sdk = sdk_client(&settings);
    let store: Arc<dyn BlobStore> = Arc::new(OpendalBlobStore::s3(settings.clone()).unwrap());
    let _empty = common::EmptyOnDrop(store.clone());
    let open_uploads = || uploads_under(&sdk, &settings);
    common::abandon_a_writer(store.as_ref(), |_| async {
        assert_eq!(
            open_uploads().await,
            1,
            "17 MiB is past two parts: an upload is open"
        );
    })
    .await;
    common::eventually("the abandoned multipart upload is ended", || async {
        open_uploads().await == 0
    })
    .await;
    assert!(store.list_page(None, 10).await.unwrap().is_empty());
}

/// A commit whose caller goes away halfway still runs to its end (in a task of its own):
/// the blob becomes visible whole, an orphan that no record names and garbage collection
/// removes, and the upload it was completing does not linger. Cut off inside OpenDAL, the
/// writer could not even abort and the upload would stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_dropped_halfway_still_finishes_and_leaves_no_upload() {
    let Some(settings) = common::s3_or_skip("s3::a_commit_dropped_halfway") else {
        return;
    };
    const LEN: usize = 17 * common::MIB;
    let sdk = sdk_client(&settings);
    let store: Arc<dyn BlobStore> = Arc::new(OpendalBlobStore::s3(settings.clone()).unwrap());
    let _empty = common::EmptyOnDrop(store.clone());
    let mut w = store.create().await.unwrap();
    for piece in 0..LEN / common::MIB {
        let bytes = common::expected(piece * common::MIB, common::MIB);
        w.write(bytes::Bytes::from(bytes)).await.unwrap();
    }
    let id = w.id().clone();
    assert_eq!(uploads_under(&sdk, &settings).await, 1);
    // Nine MiB still to send: a millisecond is not enough to complete the upload.
    let cut = tokio::time::timeout(std::time::Duration::from_millis(1), w.commit()).await;
    assert!(cut.is_err(), "the commit finished within a millisecond");
    common::eventually("the dropped commit completes its upload", || async {
        uploads_under(&sdk, &settings).await == 0
    })
    .await;
    let listed = store.list_page(None, 10).await.unwrap();
    assert_eq!(listed.iter().map(|b| &b.id).collect::<Vec<_>>(), vec![&id]);
    let mut r = store.open(&id, LEN as u64).await.unwrap();
    assert!(r.read_at(0, LEN).await.unwrap() == common::expected(0, LEN));
}

/// A write whose caller goes away halfway (while it opens the upload and sends the first
/// part) still runs to its end, so dropping the writer afterwards can abort the upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_dropped_halfway_then_abandoned_leaves_no_upload() {
    let Some(settings) = common::s3_or_skip("s3::a_write_dropped_halfway") else {
        return;
    };
    let sdk = sdk_client(&settings);
    let store: Arc<dyn BlobStore> = Arc::new(OpendalBlobStore::s3(settings.clone()).unwrap());
    let _empty = common::EmptyOnDrop(store.clone());
    let mut w = store.create().await.unwrap();
    for piece in 0..16 {
        let bytes = common::expected(piece * common::MIB, common::MIB);
        w.write(bytes::Bytes::from(bytes)).await.unwrap();
    }
    assert_eq!(
        uploads_under(&sdk, &settings).await,
        0,
        "no part is due yet"
    );
    // OpenDAL hands a part on when the next byte comes after it, and opens the upload
    // when it has a second part: the seventeenth MiB's write opens it and sends the first
    // part, and is cut off a millisecond in.
    let piece = bytes::Bytes::from(common::expected(16 * common::MIB, common::MIB));
    let cut = tokio::time::timeout(std::time::Duration::from_millis(1), w.write(piece)).await;
    assert!(cut.is_err(), "the write finished within a millisecond");
    drop(w);
    // The part in flight is let finish before the upload ends (see the writer's
    // `abandon`): an abort racing it left the upload listed for good on Ceph RGW.
    common::eventually(
        "the abandoned write leaves no upload and no blob",
        || async {
            uploads_under(&sdk, &settings).await == 0
                && store.list_page(None, 10).await.unwrap().is_empty()
        },
    )
    .await;
}

/// Multipart uploads open under this test's prefix, asked of the server itself.
async fn uploads_under(sdk: &aws_sdk_s3::Client, settings: &S3Settings) -> usize {
    sdk.list_multipart_uploads()
        .bucket(&settings.bucket)
        .prefix(format!("{}/blobs/", settings.prefix))
        .send()
        .await
        .unwrap()
        .uploads()
        .len()
}

/// Objects under `blobs/` whose names are not blob ids are not blobs: listing skips them
/// (whether they sort before or after the real ones), and they stay untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_skips_names_that_are_not_blob_ids() {
    let Some(settings) = common::s3_or_skip("s3::listing_skips_names_that_are_not_blob_ids") else {
        return;
    };
    let sdk = sdk_client(&settings);
    let store: Arc<dyn BlobStore> = Arc::new(OpendalBlobStore::s3(settings.clone()).unwrap());
    let _empty = common::EmptyOnDrop(store.clone());
    let mut w = store.create().await.unwrap();
    w.write(bytes::Bytes::from_static(b"blob")).await.unwrap();
    let id = w.commit().await.unwrap();
    let strays = [
        "0-stray".to_owned(),
        id.as_str().to_uppercase(),
        "zz-stray".to_owned(),
    ];
    for name in &strays {
        sdk.put_object()
            .bucket(&settings.bucket)
            .key(format!("{}/blobs/{name}", settings.prefix))
            .body(bytes::Bytes::from_static(b"stray").into())
            .send()
            .await
            .unwrap();
    }
    for page in [1, 10] {
        let listed = store.list_page(None, page).await.unwrap();
        assert_eq!(listed.iter().map(|b| &b.id).collect::<Vec<_>>(), vec![&id]);
    }
    for name in &strays {
        sdk.delete_object()
            .bucket(&settings.bucket)
            .key(format!("{}/blobs/{name}", settings.prefix))
            .send()
            .await
            .unwrap();
    }
}

/// The skip rule itself: loud skip outside CI, failure inside it, and a half-set
/// environment is always an error.
#[test]
fn missing_server_settings_skip_outside_ci_and_fail_in_it() {
    let none = |_: &str| None::<String>;
    assert!(matches!(common::s3_from(none, "t"), Ok(None)));
    let ci = |n: &str| (n == "CI").then(|| "true".to_owned());
    assert!(common::s3_from(ci, "t").is_err());
    let half = |n: &str| (n == "COFFER_TEST_S3_ENDPOINT").then(|| "http://x".to_owned());
    assert!(common::s3_from(half, "t").is_err());
    let all = |n: &str| n.starts_with("COFFER_TEST_S3_").then(|| "v".to_owned());
    let a = common::s3_from(all, "t").unwrap().unwrap();
    let b = common::s3_from(all, "t").unwrap().unwrap();
    assert_ne!(a.prefix, b.prefix, "each run writes under a fresh prefix");
}

/// The AWS SDK, for what OpenDAL cannot ask (listing multipart uploads).
fn sdk_client(s: &S3Settings) -> aws_sdk_s3::Client {
    use aws_smithy_http_client::tls::Provider;
    use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::rustls(CryptoMode::Ring))
        .build_https();
    let mut config = aws_sdk_s3::Config::builder()
        .http_client(http)
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(
            s.region.clone().unwrap_or_else(|| "us-east-1".into()),
        ))
        .credentials_provider(Credentials::new(
            s.access_key.clone().unwrap_or_default(),
            s.secret_key
                .as_ref()
                .map(|k| k.expose().to_owned())
                .unwrap_or_default(),
            None,
            None,
            "test",
        ))
        .force_path_style(true);
    if let Some(endpoint) = &s.endpoint {
        config = config.endpoint_url(endpoint);
    }
    aws_sdk_s3::Client::from_conf(config.build())
}
