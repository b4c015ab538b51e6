//! SIGKILL in the middle of writes: every acknowledged object survives byte for byte, and no
//! partial object is ever listed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::common::*;

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn kill_during_puts_and_completes_loses_nothing_acknowledged() {
    let mut server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("crash").send().await.unwrap();

    // Multipart uploads with all parts in place, so only the completes race the kill.
    let mut pending = Vec::new();
    for i in 0..4u64 {
        let key = format!("mpu-{i}");
        let parts = [pattern(5 * MIB, 100 + i), pattern(MIB, 200 + i)];
        let id = c
            .create_multipart_upload()
            .bucket("crash")
            .key(&key)
            .send()
            .await
            .unwrap();
        let id = id.upload_id().unwrap().to_owned();
        let mut done = Vec::new();
        for (n, p) in parts.iter().enumerate() {
            let out = c
                .upload_part()
                .bucket("crash")
                .key(&key)
                .upload_id(&id)
                .part_number(n as i32 + 1)
                .body(ByteStream::from(p.clone()))
                .send()
                .await
                .unwrap();
            done.push(
                CompletedPart::builder()
                    .part_number(n as i32 + 1)
                    .e_tag(out.e_tag().unwrap())
                    .build(),
            );
        }
        pending.push((key, id, done, parts.concat()));
    }

    let acknowledged: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    let mut writers = Vec::new();
    for i in 0..6u64 {
        let (c, ack) = (c.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            for round in 0..50u64 {
                let key = format!("put-{i}-{round}");
                let data = pattern(8 * MIB + (round as usize) * 4099, i * 1000 + round);
                let ok = c
                    .put_object()
                    .bucket("crash")
                    .key(&key)
                    .body(ByteStream::from(data.clone()))
                    .send()
                    .await
                    .is_ok();
                if !ok {
                    return;
                }
                ack.lock().unwrap().insert(key, data);
            }
        }));
    }
    // Kill mid-burst: once a few PUTs are acknowledged, fire the completes and strike while
    // they and the remaining PUTs are in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while acknowledged.lock().unwrap().len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (key, id, done, data) in pending {
        let (c, ack) = (c.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            let ok = c
                .complete_multipart_upload()
                .bucket("crash")
                .key(&key)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(done))
                        .build(),
                )
                .send()
                .await
                .is_ok();
            if ok {
                ack.lock().unwrap().insert(key, data);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    server.kill9();
    for w in writers {
        let _ = w.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        !acknowledged.is_empty(),
        "the kill came before any write finished"
    );

    server.restart();
    let c = server.alice();
    for (key, data) in &acknowledged {
        let got = c
            .get_object()
            .bucket("crash")
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            body_bytes(got).await,
            *data,
            "{key} changed across the crash"
        );
    }
    // Every listed object is whole: its bytes hash to its ETag and match its size.
    let listed = c.list_objects_v2().bucket("crash").send().await.unwrap();
    for o in listed.contents() {
        let key = o.key().unwrap();
        let got = c
            .get_object()
            .bucket("crash")
            .key(key)
            .send()
            .await
            .unwrap();
        let etag = got.e_tag().unwrap().to_owned();
        let bytes = body_bytes(got).await;
        assert_eq!(bytes.len() as i64, o.size().unwrap(), "{key}");
        if !etag.contains('-') {
            assert_eq!(etag, format!("\"{}\"", md5_hex(&bytes)), "{key}");
        }
    }
    // The start-up collection left no unfinished writes and no unnamed blobs, and the
    // reference counts match the records.
    assert!(files_under(&server.data_dir().join("objects/tmp")).is_empty());
    crate::invariants::stop_and_check_disk(&mut server);
}
