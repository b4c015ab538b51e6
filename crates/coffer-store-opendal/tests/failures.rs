//! How backend failures reach the caller: a dead endpoint or an overloaded server is
//! `Unavailable` (503 at the S3 layer) after a bounded number of retries, never a hang; a
//! refusal is not. Runs without any real S3 server: a scripted one answers every request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use coffer_store::{BlobId, BlobStore, StoreError};
use coffer_store_opendal::{OpendalBlobStore, S3Settings, Secret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server that answers every request with `status` and an S3 error document of `code`,
/// counting the requests.
async fn scripted_server(status: u16, code: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // One request per connection: read its head, answer, close.
                    let Ok(n) = conn.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let body = format!(
                    "<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>scripted</Message></Error>"
                );
                let head = format!(
                    "HTTP/1.1 {status} Scripted\r\ncontent-type: application/xml\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body.as_bytes()).await;
            });
        }
    });
    (endpoint, count)
}

fn store_at(endpoint: String) -> OpendalBlobStore {
    OpendalBlobStore::s3(S3Settings {
        endpoint: Some(endpoint),
        bucket: "b".into(),
        prefix: "p".into(),
        region: None,
        access_key: Some("AKIDEXAMPLE".into()),
        secret_key: Some(Secret::new("secret")),
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_is_retried_a_few_times_then_unavailable() {
    let (endpoint, count) = scripted_server(503, "SlowDown").await;
    let store = store_at(endpoint);
    let got = store.open(&BlobId::random(), 1).await.err();
    assert!(matches!(got, Some(StoreError::Unavailable(_))), "{got:?}");
    // The first attempt and three retries: bounded, and more than one.
    assert_eq!(count.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_error_is_unavailable_and_a_bad_request_is_not() {
    let (endpoint, _) = scripted_server(500, "InternalError").await;
    let got = store_at(endpoint).delete(&BlobId::random()).await;
    assert!(matches!(got, Err(StoreError::Unavailable(_))), "{got:?}");

    let (endpoint, count) = scripted_server(400, "InvalidArgument").await;
    let got = store_at(endpoint).list_page(None, 10).await;
    assert!(matches!(got, Err(StoreError::Database(_))), "{got:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1, "a refusal is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_is_unavailable_within_seconds() {
    // A port that was just free: nothing listens there, so every connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = store_at(format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    let got = store.open(&BlobId::random(), 1).await.err();
    assert!(matches!(got, Some(StoreError::Unavailable(_))), "{got:?}");
    let mut w = store.create().await.unwrap();
    w.write(bytes::Bytes::from_static(b"x")).await.unwrap();
    let got = w.commit().await;
    assert!(matches!(got, Err(StoreError::Unavailable(_))), "{got:?}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
