//! A disk that really fills: the data directory on a small tmpfs. A PUT that does not fit
//! fails with 503 `ServiceUnavailable` and leaves nothing behind, reads go on, and writes work
//! again as soon as space is freed. Needs root (mount); skipped, loudly, without it.

use std::io::Write;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;
use crate::invariants::*;

/// Fills the file system holding `path` with one file; returns how many bytes it took.
fn fill(path: &std::path::Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let mut written = 0u64;
    for chunk in [1 << 20, 64 << 10, 4 << 10, 512] {
        let block = vec![0xA5u8; chunk];
        while f.write_all(&block).and_then(|()| f.flush()).is_ok() {
            written += chunk as u64;
        }
    }
    let _ = f.sync_all();
    written
}

#[tokio::test]
async fn a_full_disk_refuses_writes_with_503_and_recovers_when_space_returns() {
    if embedded_only("fills the embedded store's disk") {
        return;
    }
    let Some(mut server) = Server::start_on_tmpfs("64m") else {
        eprintln!("SKIPPED a_full_disk_refuses_writes: cannot mount a tmpfs (needs root)");
        return;
    };
    let c = server.alice();
    let strict = c
        .config()
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    let strict = aws_sdk_s3::Client::from_conf(strict);
    c.create_bucket().bucket("disk-full").send().await.unwrap();
    let mut ledger = Ledger::default();
    let old = pattern(3 << 20, 1);
    c.put_object()
        .bucket("disk-full")
        .key("kept")
        .body(ByteStream::from(old.clone()))
        .send()
        .await
        .unwrap();
    ledger.acknowledged("disk-full", "kept", &old);

    let filler = server.data_dir().join("filler");
    assert!(fill(&filler) > 0);
    for (i, size) in [(0, 2 << 20), (1, 200_000)] {
        let e = strict
            .put_object()
            .bucket("disk-full")
            .key(format!("no-room-{i}"))
            .body(ByteStream::from(pattern(size, 2)))
            .send()
            .await
            .expect_err("a PUT onto a full disk must fail");
        assert_eq!(
            err_code(&e),
            (Some("ServiceUnavailable".into()), 503),
            "{size} bytes"
        );
    }
    // A metadata-only write (no blob) on the full disk: refused as a full disk, or done
    // if the database still had a free page.
    let meta_write = strict.create_bucket().bucket("disk-full-2").send().await;
    if let Err(e) = &meta_write {
        assert_eq!(
            err_code(e),
            (Some("ServiceUnavailable".into()), 503),
            "{e:?}"
        );
    }
    // Reads go on; the failed writes left nothing, not even temporary files.
    check_objects(&server, &ledger).await;
    assert!(files_under(&server.data_dir().join("objects/tmp")).is_empty());
    assert_eq!(blob_files_settled(&server, 1).await.len(), 1);

    std::fs::remove_file(&filler).unwrap();
    let new = pattern(2 << 20, 3);
    c.put_object()
        .bucket("disk-full")
        .key("after")
        .body(ByteStream::from(new.clone()))
        .send()
        .await
        .unwrap();
    ledger.acknowledged("disk-full", "after", &new);
    // The metadata store recovered with the disk, without a restart.
    c.create_bucket()
        .bucket("disk-full-3")
        .send()
        .await
        .unwrap();
    c.delete_bucket()
        .bucket("disk-full-3")
        .send()
        .await
        .unwrap();
    server.restart();
    check_objects(&server, &ledger).await;
    stop_and_check_disk(&mut server);
}
