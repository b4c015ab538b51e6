use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, Delete, ObjectAttributes, ObjectIdentifier,
};
use base64::Engine as _;

use crate::common::*;

async fn bucket_with(server: &Server, key: &str, data: &[u8]) -> aws_sdk_s3::Client {
    let c = server.alice();
    c.create_bucket().bucket("obj").send().await.unwrap();
    c.put_object()
        .bucket("obj")
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap();
    c
}

#[tokio::test]
async fn put_get_head_round_trip_with_headers_and_metadata() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("obj").send().await.unwrap();
    let data = pattern(300_000, 1);
    let put = c
        .put_object()
        .bucket("obj")
        .key("dir/obj one+%.bin")
        .content_type("application/x-test")
        .cache_control("max-age=60")
        .content_disposition("attachment")
        .metadata("color", "blue")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let etag = format!("\"{}\"", md5_hex(&data));
    assert_eq!(put.e_tag(), Some(etag.as_str()));

    let got = c
        .get_object()
        .bucket("obj")
        .key("dir/obj one+%.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(got.content_length(), Some(300_000));
    assert_eq!(
        got.metadata().unwrap().get("color").map(String::as_str),
        Some("blue")
    );
    assert_eq!(body_bytes(got).await, data);

    let head = c
        .head_object()
        .bucket("obj")
        .key("dir/obj one+%.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(300_000));
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(head.content_disposition(), Some("attachment"));

    // Response-header overrides.
    let got = c
        .get_object()
        .bucket("obj")
        .key("dir/obj one+%.bin")
        .response_content_type("text/plain")
        .response_content_disposition("inline")
        .response_cache_control("no-store")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.content_disposition(), Some("inline"));
    assert_eq!(got.cache_control(), Some("no-store"));

    // An object written with no type gets S3's default (the SDK always sends one, so raw).
    let (status, text) = signed_raw(&server, "PUT", "/obj/plain", &[], b"");
    assert_eq!(status, 200, "{text}");
    let got = c
        .get_object()
        .bucket("obj")
        .key("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("binary/octet-stream"));
    assert_eq!(got.e_tag(), Some("\"d41d8cd98f00b204e9800998ecf8427e\""));
    assert!(body_bytes(got).await.is_empty());

    let e = c
        .get_object()
        .bucket("obj")
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchKey".into()), 404));
    let e = c
        .head_object()
        .bucket("obj")
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 404);
    let e = c
        .get_object()
        .bucket("nobucket")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchBucket".into()), 404));
    let e = server
        .client(BOB)
        .get_object()
        .bucket("obj")
        .key("plain")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
}

#[tokio::test]
async fn ranges_return_exact_bytes_and_unsatisfiable_is_416() {
    let server = Server::start();
    let data = pattern(1_000_000, 2);
    let c = bucket_with(&server, "r", &data).await;
    for (range, want) in [
        ("bytes=0-9", &data[0..10]),
        ("bytes=999990-", &data[999_990..]),
        ("bytes=-5", &data[999_995..]),
        ("bytes=65530-65545", &data[65_530..65_546]),
        ("bytes=100-2000000", &data[100..]),
    ] {
        let got = c
            .get_object()
            .bucket("obj")
            .key("r")
            .range(range)
            .send()
            .await
            .unwrap();
        let len = want.len() as i64;
        assert_eq!(got.content_length(), Some(len), "{range}");
        assert!(
            got.content_range().unwrap().ends_with("/1000000"),
            "{range}"
        );
        assert_eq!(body_bytes(got).await, want, "{range}");
    }
    let e = c
        .get_object()
        .bucket("obj")
        .key("r")
        .range("bytes=1000000-")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRange".into()), 416));
}

#[tokio::test]
async fn conditional_reads_answer_412_and_304() {
    let server = Server::start();
    let c = bucket_with(&server, "k", b"conditional").await;
    let etag = format!("\"{}\"", md5_hex(b"conditional"));
    let past = DateTime::from_secs(1_000_000_000);
    let future = DateTime::from_secs(4_000_000_000);

    let ok = c
        .get_object()
        .bucket("obj")
        .key("k")
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(ok).await, b"conditional");
    let e = c
        .get_object()
        .bucket("obj")
        .key("k")
        .if_match("\"nope\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("PreconditionFailed".into()), 412));
    let e = c
        .get_object()
        .bucket("obj")
        .key("k")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 304);
    let e = c
        .get_object()
        .bucket("obj")
        .key("k")
        .if_modified_since(future)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 304);
    let e = c
        .get_object()
        .bucket("obj")
        .key("k")
        .if_unmodified_since(past)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 412);
    let e = c
        .head_object()
        .bucket("obj")
        .key("k")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 304);
    // If-Match that holds wins over a failing If-Unmodified-Since.
    c.get_object()
        .bucket("obj")
        .key("k")
        .if_match(&etag)
        .if_unmodified_since(past)
        .send()
        .await
        .unwrap();

    // Conditional writes.
    let e = c
        .put_object()
        .bucket("obj")
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("PreconditionFailed".into()), 412));
    c.put_object()
        .bucket("obj")
        .key("k")
        .if_match(&etag)
        .body(ByteStream::from_static(b"replaced"))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn content_md5_and_checksums_are_validated_and_returned() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("obj").send().await.unwrap();
    let data = pattern(200_000, 3);
    let b64 = |raw: &[u8]| base64::engine::general_purpose::STANDARD.encode(raw);

    let md5 = {
        use md5::Digest;
        md5::Md5::digest(&data).to_vec()
    };
    c.put_object()
        .bucket("obj")
        .key("md5")
        .content_md5(b64(&md5))
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let e = c
        .put_object()
        .bucket("obj")
        .key("md5-bad")
        .content_md5(b64(&[0u8; 16]))
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("BadDigest".into()), 400));
    let e = c
        .put_object()
        .bucket("obj")
        .key("md5-invalid")
        .content_md5("not-an-md5")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidDigest".into()), 400));
    let e = c
        .head_object()
        .bucket("obj")
        .key("md5-bad")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 404, "a rejected PUT stores nothing");

    for alg in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ] {
        let key = format!("sum-{}", alg.as_str());
        let put = c
            .put_object()
            .bucket("obj")
            .key(&key)
            .checksum_algorithm(alg.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        let got = c
            .get_object()
            .bucket("obj")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let (sent, returned) = match alg {
            ChecksumAlgorithm::Crc32 => (put.checksum_crc32(), got.checksum_crc32()),
            ChecksumAlgorithm::Crc32C => (put.checksum_crc32_c(), got.checksum_crc32_c()),
            ChecksumAlgorithm::Crc64Nvme => (put.checksum_crc64_nvme(), got.checksum_crc64_nvme()),
            ChecksumAlgorithm::Sha1 => (put.checksum_sha1(), got.checksum_sha1()),
            _ => (put.checksum_sha256(), got.checksum_sha256()),
        };
        assert!(sent.is_some(), "{key}: PUT echoes the checksum");
        assert_eq!(sent, returned, "{key}");
        let expected_sha256 = b64(ring::digest::digest(&ring::digest::SHA256, &data).as_ref());
        if alg == ChecksumAlgorithm::Sha256 {
            assert_eq!(returned, Some(expected_sha256.as_str()));
        }
        assert_eq!(body_bytes(got).await, data);
    }

    let e = c
        .put_object()
        .bucket("obj")
        .key("crc-bad")
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("BadDigest".into()), 400));
}

#[tokio::test]
async fn delete_and_delete_objects() {
    let server = Server::start();
    let c = bucket_with(&server, "one", b"1").await;
    for k in ["two", "three"] {
        c.put_object()
            .bucket("obj")
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    c.delete_object()
        .bucket("obj")
        .key("one")
        .send()
        .await
        .unwrap();
    // Deleting what is not there succeeds, as on S3.
    c.delete_object()
        .bucket("obj")
        .key("one")
        .send()
        .await
        .unwrap();
    let out = c
        .delete_objects()
        .bucket("obj")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("two").build().unwrap())
                .objects(ObjectIdentifier::builder().key("never").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    assert_eq!(deleted, vec!["never", "two"]);
    let quiet = c
        .delete_objects()
        .bucket("obj")
        .delete(
            Delete::builder()
                .quiet(true)
                .objects(ObjectIdentifier::builder().key("three").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(quiet.deleted().is_empty());
    let left = c.list_objects_v2().bucket("obj").send().await.unwrap();
    assert_eq!(left.key_count(), Some(0));
    // Deleted objects' blobs are gone from disk (a shared store keeps them a while, for
    // reads already under way).
    if !shared_backends() {
        let blobs = blob_files_settled(&server, 0).await;
        assert!(blobs.is_empty(), "left behind: {blobs:?}");
    }
}

#[tokio::test]
async fn get_object_attributes_reports_size_etag_checksum() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("obj").send().await.unwrap();
    c.put_object()
        .bucket("obj")
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from_static(b"attributes"))
        .send()
        .await
        .unwrap();
    let a = c
        .get_object_attributes()
        .bucket("obj")
        .key("k")
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::Checksum)
        .object_attributes(ObjectAttributes::StorageClass)
        .send()
        .await
        .unwrap();
    assert_eq!(a.object_size(), Some(10));
    assert_eq!(
        a.e_tag().map(|e| e.trim_matches('"')),
        Some(md5_hex(b"attributes").as_str())
    );
    assert!(a.checksum().and_then(|c| c.checksum_sha256()).is_some());
    assert_eq!(a.storage_class().map(|s| s.as_str()), Some("STANDARD"));
}
