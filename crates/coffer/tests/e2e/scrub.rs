//! `coffer admin scrub`: every stored segment read back and authenticated, online, with
//! damaged objects named; and a GET over a segment damaged late in a large object counted as
//! an integrity alert.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::common::*;
use crate::rekey::{admin_config, coffer_command};

fn integrity_alerts(server: &Server) -> u64 {
    let (status, text) = http_get(&format!("{}/metrics", server.endpoint()));
    assert_eq!(status, 200);
    text.lines()
        .find(|l| l.starts_with("coffer_integrity_alerts_total"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn scrub_authenticates_every_segment_and_names_damaged_objects() {
    if embedded_only("tampers with blob files on disk") {
        return;
    }
    let server = Server::start_configured(
        "block_sse_c_on_new_buckets = false",
        &["--allow-sse-c-over-http"],
        None,
    );
    let c = server.alice();
    c.create_bucket().bucket("scrub").send().await.unwrap();
    let large = pattern(1 << 20, 3);
    c.put_object()
        .bucket("scrub")
        .key("large")
        .body(ByteStream::from(large.clone()))
        .send()
        .await
        .unwrap();
    for i in 0..5 {
        c.put_object()
            .bucket("scrub")
            .key(format!("small-{i}"))
            .body(ByteStream::from(pattern(1000 + i, i as u64)))
            .send()
            .await
            .unwrap();
    }
    c.put_object()
        .bucket("scrub")
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from(pattern(200_000, 9)))
        .send()
        .await
        .unwrap();
    let Ck {
        b64: key_b64,
        md5: key_md5,
        ..
    } = ck(7);
    c.put_object()
        .bucket("scrub")
        .key("customer")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key_b64)
        .sse_customer_key_md5(&key_md5)
        .body(ByteStream::from(pattern(70_000, 10)))
        .send()
        .await
        .unwrap();

    // An intact store: everything authenticates, through the running server.
    let config = admin_config(&server);
    let (ok, out) = coffer_command(&config, "admin", &["scrub", "--batch", "3"]);
    assert!(ok, "{out}");
    assert!(out.contains("scrub complete: 8 objects"), "{out}");
    assert!(
        out.contains("1 SSE-C objects checked for structure only"),
        "{out}"
    );
    assert!(out.contains(", 0 damaged"), "{out}");
    let expected_bytes: usize = (1 << 20) + (0..5).map(|i| 1000 + i).sum::<usize>() + 200_000;
    assert!(
        out.contains(&format!("{expected_bytes} bytes authenticated")),
        "{out}"
    );

    // A bit flipped in the last segment of the large object (the largest blob).
    let blob = files_under(&server.data_dir().join("objects/blobs"))
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x04;
    std::fs::write(&blob, &bytes).unwrap();

    // A GET streams: the status is sent before the damaged segment is reached, so the body is
    // cut short. It never completes, and it is counted.
    let before = integrity_alerts(&server);
    let out = c
        .get_object()
        .bucket("scrub")
        .key("large")
        .send()
        .await
        .unwrap();
    assert!(
        out.body.collect().await.is_err(),
        "a damaged body completed"
    );
    assert!(integrity_alerts(&server) > before);

    // The scrub names the object and fails.
    let (ok, out) = coffer_command(&config, "admin", &["scrub", "--rate", "50"]);
    assert!(!ok, "{out}");
    assert!(out.contains("DAMAGED scrub/large"), "{out}");
    assert!(out.contains(", 1 damaged"), "{out}");
    assert!(!out.contains("DAMAGED scrub/small"), "{out}");

    // An SSE-C object's blob cut short is found without its key.
    let customer_blob = files_under(&server.data_dir().join("objects/blobs"))
        .into_iter()
        .find(|p| {
            let len = std::fs::metadata(p).unwrap().len();
            len == coffer_crypto::sealed_len(70_000).unwrap()
        })
        .unwrap();
    let whole = std::fs::read(&customer_blob).unwrap();
    std::fs::write(&customer_blob, &whole[..whole.len() - 10]).unwrap();
    let (ok, out) = coffer_command(&config, "admin", &["scrub"]);
    assert!(!ok, "{out}");
    assert!(out.contains("DAMAGED scrub/customer"), "{out}");
    assert!(out.contains(", 2 damaged"), "{out}");
}
