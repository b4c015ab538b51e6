//! Amazon S3 fidelity of multipart uploads, copies and deletes: opaque part ETags that
//! survive a retry, idempotent completion, SSE-C keys on completion, UploadPartCopy's SSE-KMS
//! echo, single-part ETags of copies, and DeleteObjects' per-key ETag condition.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier,
    ServerSideEncryption,
};

use crate::common::*;

const MIB: usize = 1024 * 1024;

fn open_server() -> Server {
    Server::start_configured(
        "block_sse_c_on_new_buckets = false",
        &["--allow-sse-c-over-http"],
        None,
    )
}

fn completed(parts: &[(i32, String)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(e).build())
                .collect(),
        ))
        .build()
}

fn is_opaque_etag(etag: &str) -> bool {
    let inner = etag.trim_matches('"');
    etag.starts_with('"') && inner.len() == 32 && inner.chars().all(|c| c.is_ascii_hexdigit())
}

#[tokio::test]
async fn opaque_part_etags_are_stable_across_a_retried_part() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("mpf").send().await.unwrap();
    let k = ck(1);
    let id = c
        .create_multipart_upload()
        .bucket("mpf")
        .key("retry")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let part1 = pattern(5 * MIB, 11);
    let part2 = pattern(1000, 12);
    let mut etags = Vec::new();
    // Part 1 twice (a client retry), then part 2.
    for (n, data) in [(1, &part1), (1, &part1), (2, &part2)] {
        let out = c
            .upload_part()
            .bucket("mpf")
            .key("retry")
            .upload_id(&id)
            .part_number(n)
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&k.b64)
            .sse_customer_key_md5(&k.md5)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        etags.push(out.e_tag().unwrap().to_owned());
    }
    assert_eq!(etags[0], etags[1], "the same bytes get the same ETag");
    assert_ne!(etags[0], etags[2]);
    for e in &etags {
        assert!(is_opaque_etag(e), "{e}");
    }
    assert_ne!(etags[0], format!("\"{}\"", md5_hex(&part1)), "not the MD5");
    // Completing with the first upload's ETag works.
    c.complete_multipart_upload()
        .bucket("mpf")
        .key("retry")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, etags[0].clone()), (2, etags[2].clone())]))
        .send()
        .await
        .unwrap();
    // Single PUTs under SSE-KMS: opaque, stable for the same data key only.
    let put = c
        .put_object()
        .bucket("mpf")
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from(part2.clone()))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap();
    assert!(is_opaque_etag(etag), "{etag}");
    assert_ne!(etag, format!("\"{}\"", md5_hex(&part2)));
}

#[tokio::test]
async fn a_repeated_complete_gets_the_same_answer_even_after_a_restart() {
    let mut server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("mpf").send().await.unwrap();
    let id = c
        .create_multipart_upload()
        .bucket("mpf")
        .key("twice")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let mut parts = Vec::new();
    for (n, data) in [(1, pattern(5 * MIB, 21)), (2, pattern(10, 22))] {
        let out = c
            .upload_part()
            .bucket("mpf")
            .key("twice")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data))
            .send()
            .await
            .unwrap();
        parts.push((n, out.e_tag().unwrap().to_owned()));
    }
    let complete = |c: aws_sdk_s3::Client, parts: Vec<(i32, String)>| {
        let id = id.clone();
        async move {
            c.complete_multipart_upload()
                .bucket("mpf")
                .key("twice")
                .upload_id(&id)
                .multipart_upload(completed(&parts))
                .send()
                .await
        }
    };
    let first = complete(c.clone(), parts.clone()).await.unwrap();
    assert!(first.e_tag().unwrap().ends_with("-2\""));
    assert!(first.ssekms_key_id().is_some());
    let same = |again: &aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput| {
        assert_eq!(again.e_tag(), first.e_tag());
        assert_eq!(again.location(), first.location());
        assert_eq!(again.key(), Some("twice"));
        assert_eq!(again.bucket(), Some("mpf"));
        assert_eq!(again.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
        assert_eq!(again.ssekms_key_id(), first.ssekms_key_id());
        assert_eq!(again.checksum_crc64_nvme(), first.checksum_crc64_nvme());
    };
    same(&complete(c.clone(), parts.clone()).await.unwrap());
    server.restart();
    let c = server.alice();
    same(&complete(c.clone(), parts.clone()).await.unwrap());
    // Another part list for the completed upload is refused, as S3 refuses it.
    let e = complete(c.clone(), parts[..1].to_vec()).await.unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchUpload".to_owned()), 404));
}

#[tokio::test]
async fn completing_an_sse_c_upload_with_a_checksum_needs_its_key() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("mpf").send().await.unwrap();
    let (k, wrong) = (ck(3), ck(4));
    let id = c
        .create_multipart_upload()
        .bucket("mpf")
        .key("ck")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let out = c
        .upload_part()
        .bucket("mpf")
        .key("ck")
        .upload_id(&id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .body(ByteStream::from(pattern(100, 31)))
        .send()
        .await
        .unwrap();
    let parts = completed(&[(1, out.e_tag().unwrap().to_owned())]);
    let complete = |key: Option<&Ck>| {
        c.complete_multipart_upload()
            .bucket("mpf")
            .key("ck")
            .upload_id(&id)
            .multipart_upload(parts.clone())
            .set_sse_customer_algorithm(key.map(|_| "AES256".to_owned()))
            .set_sse_customer_key(key.map(|k| k.b64.clone()))
            .set_sse_customer_key_md5(key.map(|k| k.md5.clone()))
            .send()
    };
    let e = complete(None).await.unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".to_owned()), 400));
    let e = complete(Some(&wrong)).await.unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".to_owned()), 400));
    complete(Some(&k)).await.unwrap();
}

#[tokio::test]
async fn upload_part_copy_echoes_the_uploads_kms_key() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("mpf").send().await.unwrap();
    c.put_object()
        .bucket("mpf")
        .key("src")
        .body(ByteStream::from(pattern(1000, 41)))
        .send()
        .await
        .unwrap();
    let created = c
        .create_multipart_upload()
        .bucket("mpf")
        .key("dst")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .bucket_key_enabled(true)
        .send()
        .await
        .unwrap();
    let arn = created.ssekms_key_id().unwrap().to_owned();
    let out = c
        .upload_part_copy()
        .bucket("mpf")
        .key("dst")
        .upload_id(created.upload_id().unwrap())
        .part_number(1)
        .copy_source("mpf/src")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(out.ssekms_key_id(), Some(arn.as_str()));
    assert_eq!(out.bucket_key_enabled(), Some(true));
}

#[tokio::test]
async fn a_copy_of_a_multipart_object_gets_a_single_part_etag() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("mpf").send().await.unwrap();
    let id = c
        .create_multipart_upload()
        .bucket("mpf")
        .key("mp")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let data = [pattern(5 * MIB, 51), pattern(777, 52)];
    let mut parts = Vec::new();
    for (i, p) in data.iter().enumerate() {
        let out = c
            .upload_part()
            .bucket("mpf")
            .key("mp")
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        parts.push((i as i32 + 1, out.e_tag().unwrap().to_owned()));
    }
    c.complete_multipart_upload()
        .bucket("mpf")
        .key("mp")
        .upload_id(&id)
        .multipart_upload(completed(&parts))
        .send()
        .await
        .unwrap();
    let whole = data.concat();
    let out = c
        .copy_object()
        .bucket("mpf")
        .key("copy")
        .copy_source("mpf/mp")
        .send()
        .await
        .unwrap();
    let md5 = format!("\"{}\"", md5_hex(&whole));
    assert_eq!(
        out.copy_object_result().unwrap().e_tag(),
        Some(md5.as_str())
    );
    let head = c
        .head_object()
        .bucket("mpf")
        .key("copy")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag(), Some(md5.as_str()));
    let got = c
        .get_object()
        .bucket("mpf")
        .key("copy")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, whole);
    // Into SSE-KMS: opaque, single-part.
    let out = c
        .copy_object()
        .bucket("mpf")
        .key("copy-kms")
        .copy_source("mpf/mp")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .send()
        .await
        .unwrap();
    let etag = out.copy_object_result().unwrap().e_tag().unwrap();
    assert!(is_opaque_etag(etag), "{etag}");
}

#[tokio::test]
async fn delete_objects_honours_each_keys_etag() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("mpf").send().await.unwrap();
    for k in ["a", "b", "c"] {
        c.put_object()
            .bucket("mpf")
            .key(k)
            .body(ByteStream::from(k.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
    }
    let etag = |k: &str| format!("\"{}\"", md5_hex(k.as_bytes()));
    let ident = |k: &str, e: Option<String>| {
        ObjectIdentifier::builder()
            .key(k)
            .set_e_tag(e)
            .build()
            .unwrap()
    };
    let out = c
        .delete_objects()
        .bucket("mpf")
        .delete(
            Delete::builder()
                .objects(ident("a", Some(etag("not-a"))))
                .objects(ident("b", Some(etag("b"))))
                .objects(ident("c", None))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    assert_eq!(deleted, ["b", "c"]);
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].key(), Some("a"));
    assert_eq!(out.errors()[0].code(), Some("PreconditionFailed"));
    // The mismatched key is still there; the others are gone.
    c.head_object().bucket("mpf").key("a").send().await.unwrap();
    for k in ["b", "c"] {
        assert!(c.head_object().bucket("mpf").key(k).send().await.is_err());
    }
}
