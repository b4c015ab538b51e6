//! Small objects: their sealed bytes ride in their record instead of a blob of their own, in
//! every mode, and read, copy, survive a kill -9 and leave no plaintext exactly as blobs do.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::common::*;
use crate::disk::WindowIndex;
use crate::sse_c::CustomerKeyed;

/// The largest object whose sealed bytes fit a record (16 KiB in one segment).
const FITS: usize = 16 * 1024;

#[tokio::test]
async fn small_objects_live_sealed_in_their_record_in_every_mode() {
    let mut server = Server::start_configured(
        "block_sse_c_on_new_buckets = false",
        &["--allow-sse-c-over-http"],
        None,
    );
    let c = server.alice();
    c.create_bucket().bucket("small").send().await.unwrap();
    let key = ck(3);
    let (s3_data, kms_data, c_data, big) = (
        pattern(FITS, 41),
        pattern(5_000, 42),
        pattern(1, 43),
        pattern(FITS + 1024, 44),
    );
    c.put_object()
        .bucket("small")
        .key("s3")
        .body(ByteStream::from(s3_data.clone()))
        .send()
        .await
        .unwrap();
    let kms = c
        .put_object()
        .bucket("small")
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from(kms_data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        kms.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    c.put_object()
        .bucket("small")
        .key("c")
        .customer_key(&key)
        .body(ByteStream::from(c_data.clone()))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("small")
        .key("empty")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("small")
        .key("big")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap();
    // Only the object past the limit has a blob.
    if !shared_backends() {
        assert_eq!(blob_files_settled(&server, 1).await.len(), 1);
    }

    // A copy of a small object carries its bytes along, into another mode.
    let copied = c
        .copy_object()
        .bucket("small")
        .key("s3-as-kms")
        .copy_source("small/s3")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .send()
        .await
        .unwrap();
    assert_eq!(
        copied.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    c.delete_object()
        .bucket("small")
        .key("s3")
        .send()
        .await
        .unwrap();

    // Acknowledged means durable: a kill -9 loses none of them.
    server.kill9();
    server.restart();
    let c = server.alice();
    let get = |k: &'static str| c.get_object().bucket("small").key(k);
    assert_eq!(
        body_bytes(get("s3-as-kms").send().await.unwrap()).await,
        s3_data
    );
    assert_eq!(body_bytes(get("kms").send().await.unwrap()).await, kms_data);
    assert_eq!(body_bytes(get("empty").send().await.unwrap()).await, b"");
    assert_eq!(body_bytes(get("big").send().await.unwrap()).await, big);
    let ranged = get("kms").range("bytes=4000-4999").send().await.unwrap();
    assert_eq!(ranged.content_range(), Some("bytes 4000-4999/5000"));
    assert_eq!(body_bytes(ranged).await, &kms_data[4000..]);
    let customer = get("c").customer_key(&key).send().await.unwrap();
    assert_eq!(body_bytes(customer).await, c_data);
    // Reading an SSE-C object still needs its key, and a wrong key is refused.
    let e = get("c").send().await.unwrap_err();
    assert_eq!(err_code(&e).1, 400);
    let wrong = ck(4);
    let e = get("c").customer_key(&wrong).send().await.unwrap_err();
    assert_eq!(err_code(&e).1, 403);
    let head = c
        .head_object()
        .bucket("small")
        .key("s3-as-kms")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(FITS as i64));
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );

    if shared_backends() {
        return;
    }
    // Sealed in the record: no 32-byte window of any small object is anywhere on disk.
    let plaintext = [&s3_data[..], &kms_data[..]].concat();
    let index = WindowIndex::new(&plaintext);
    for f in files_under(&server.data_dir()) {
        assert!(
            !index.found_in(&std::fs::read(&f).unwrap()),
            "plaintext found in {}",
            f.display()
        );
    }
    assert!(index.found_in(&kms_data[100..200]), "the scan would see it");

    // Deleting small objects leaves nothing to collect; the large one's blob goes.
    for k in ["s3-as-kms", "kms", "c", "empty", "big"] {
        c.delete_object()
            .bucket("small")
            .key(k)
            .send()
            .await
            .unwrap();
    }
    let left = blob_files_settled(&server, 0).await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A small body sent aws-chunked (as the SDKs send over TLS) is checked against its declared
/// decoded length like a large one: one that ends short is refused with `IncompleteBody`
/// and leaves no object; one that matches is stored whole.
#[tokio::test]
async fn a_small_chunked_body_must_match_its_declared_length() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("chunked").send().await.unwrap();
    let data = pattern(3_000, 45);
    let sha256 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(ring::digest::digest(&ring::digest::SHA256, &data))
    };
    let mut body = format!("{:x}\r\n", data.len()).into_bytes();
    body.extend_from_slice(&data);
    body.extend_from_slice(b"\r\n0\r\nx-amz-checksum-sha256:");
    body.extend_from_slice(sha256.as_bytes());
    body.extend_from_slice(b"\r\n\r\n");
    let put = |declared: usize| {
        let decoded = declared.to_string();
        signed_raw_payload(
            &server,
            "PUT",
            "/chunked/small",
            &[
                ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", decoded.as_str()),
                ("x-amz-trailer", "x-amz-checksum-sha256"),
            ],
            &body,
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER".into(),
            std::time::SystemTime::now(),
        )
    };
    let (status, text) = put(data.len() + 100);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("<Code>IncompleteBody</Code>"), "{text}");
    let missing = c.head_object().bucket("chunked").key("small").send().await;
    assert!(missing.is_err(), "a refused body left an object");
    let (status, text) = put(data.len());
    assert_eq!(status, 200, "{text}");
    let got = body_bytes(
        c.get_object()
            .bucket("chunked")
            .key("small")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(got == data, "the stored bytes differ");
}
