//! SSE-C: customer-provided keys, as Amazon S3 handles them: validation, echo, reads that
//! need the same key, multipart, copies between modes, key rotation by copy, transport and
//! bucket blocking, and no trace of the key on disk or in the log.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ObjectAttributes, ServerSideEncryption,
};
use base64::Engine as _;
use md5::Digest as _;

use crate::common::*;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The SSE-C headers of a key, on every request builder that takes them.
trait CustomerKeyed: Sized {
    fn customer_key(self, k: &Ck) -> Self;
}

/// The copy-source SSE-C headers, on the builders that copy.
trait SourceCustomerKeyed: Sized {
    fn source_customer_key(self, k: &Ck) -> Self;
}

macro_rules! customer_keyed {
    ($($builder:ty),*) => {$(
        impl CustomerKeyed for $builder {
            fn customer_key(self, k: &Ck) -> Self {
                self.sse_customer_algorithm("AES256")
                    .sse_customer_key(&k.b64)
                    .sse_customer_key_md5(&k.md5)
            }
        }
    )*};
}

macro_rules! source_customer_keyed {
    ($($builder:ty),*) => {$(
        impl SourceCustomerKeyed for $builder {
            fn source_customer_key(self, k: &Ck) -> Self {
                self.copy_source_sse_customer_algorithm("AES256")
                    .copy_source_sse_customer_key(&k.b64)
                    .copy_source_sse_customer_key_md5(&k.md5)
            }
        }
    )*};
}

use aws_sdk_s3::operation::{
    copy_object::builders::CopyObjectFluentBuilder,
    create_multipart_upload::builders::CreateMultipartUploadFluentBuilder,
    get_object::builders::GetObjectFluentBuilder,
    get_object_attributes::builders::GetObjectAttributesFluentBuilder,
    head_object::builders::HeadObjectFluentBuilder, put_object::builders::PutObjectFluentBuilder,
    upload_part::builders::UploadPartFluentBuilder,
    upload_part_copy::builders::UploadPartCopyFluentBuilder,
};

customer_keyed!(
    PutObjectFluentBuilder,
    GetObjectFluentBuilder,
    HeadObjectFluentBuilder,
    GetObjectAttributesFluentBuilder,
    CreateMultipartUploadFluentBuilder,
    UploadPartFluentBuilder,
    UploadPartCopyFluentBuilder,
    CopyObjectFluentBuilder
);
source_customer_keyed!(CopyObjectFluentBuilder, UploadPartCopyFluentBuilder);

/// A server that allows SSE-C over loopback HTTP (so the SDK client can stay plain) and
/// starts buckets unblocked.
fn open_server() -> Server {
    Server::start_configured(
        "block_sse_c_on_new_buckets = false",
        &["--allow-sse-c-over-http"],
        None,
    )
}

async fn put_c(c: &aws_sdk_s3::Client, bucket: &str, key: &str, data: &[u8], k: &Ck) -> String {
    let out = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .customer_key(k)
        .send()
        .await
        .unwrap();
    assert_eq!(out.sse_customer_algorithm(), Some("AES256"));
    assert_eq!(out.sse_customer_key_md5(), Some(k.md5.as_str()));
    assert_eq!(
        out.server_side_encryption(),
        None,
        "SSE-C echoes no SSE header"
    );
    out.e_tag().unwrap().to_owned()
}

async fn get_c(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    k: &Ck,
) -> Result<Vec<u8>, (Option<String>, u16)> {
    match c
        .get_object()
        .bucket(bucket)
        .key(key)
        .customer_key(k)
        .send()
        .await
    {
        Ok(out) => {
            assert_eq!(out.sse_customer_key_md5(), Some(k.md5.as_str()));
            Ok(body_bytes(out).await)
        }
        Err(e) => Err(err_code(&e)),
    }
}

#[tokio::test]
async fn reads_need_the_same_key_and_responses_echo_it() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("cee").send().await.unwrap();
    let (a, b) = (ck(1), ck(2));
    let data = pattern(200_000, 7);

    let etag1 = put_c(&c, "cee", "obj", &data, &a).await;
    let etag2 = put_c(&c, "cee", "obj", &data, &a).await;
    assert_ne!(
        etag1,
        format!("\"{}\"", md5_hex(&data)),
        "not the plaintext MD5"
    );
    assert_ne!(etag1, etag2, "SSE-C ETags differ between uploads");

    assert_eq!(get_c(&c, "cee", "obj", &a).await.unwrap(), data);
    // Another key: 403, no bytes.
    assert_eq!(
        get_c(&c, "cee", "obj", &b).await.unwrap_err(),
        (Some("AccessDenied".into()), 403)
    );
    // No key: 400 InvalidRequest.
    let e = c
        .get_object()
        .bucket("cee")
        .key("obj")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    // HEAD: the same statuses, no body.
    let e = c
        .head_object()
        .bucket("cee")
        .key("obj")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 400);
    let e = c
        .head_object()
        .bucket("cee")
        .key("obj")
        .customer_key(&b)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 403);
    let head = c
        .head_object()
        .bucket("cee")
        .key("obj")
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(data.len() as i64));
    assert_eq!(head.sse_customer_algorithm(), Some("AES256"));
    assert_eq!(head.sse_customer_key_md5(), Some(a.md5.as_str()));
    assert_eq!(head.server_side_encryption(), None);
    assert_eq!(head.e_tag(), Some(etag2.as_str()));

    // A range, in plaintext offsets.
    let got = c
        .get_object()
        .bucket("cee")
        .key("obj")
        .range("bytes=65530-131080")
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_range(), Some("bytes 65530-131080/200000"));
    assert_eq!(body_bytes(got).await, &data[65530..=131080]);

    // GetObjectAttributes needs the key too.
    let e = c
        .get_object_attributes()
        .bucket("cee")
        .key("obj")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let attrs = c
        .get_object_attributes()
        .bucket("cee")
        .key("obj")
        .object_attributes(ObjectAttributes::ObjectSize)
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.object_size(), Some(data.len() as i64));

    // SSE-C headers on an object that is not SSE-C.
    c.put_object()
        .bucket("cee")
        .key("plain")
        .body(ByteStream::from_static(b"s3"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        get_c(&c, "cee", "plain", &a).await.unwrap_err(),
        (Some("InvalidRequest".into()), 400)
    );
    // The object default checksum is kept for SSE-C uploads too (SPEC §3.2).
    let got = c
        .get_object()
        .bucket("cee")
        .key("obj")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    assert!(got.checksum_crc64_nvme().is_some() || got.checksum_crc32().is_some());
}

#[tokio::test]
async fn invalid_headers_get_amazons_errors_in_amazons_order() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("vee").send().await.unwrap();
    let a = ck(3);
    let put = |alg: Option<&str>, key: Option<&str>, md5: Option<&str>| {
        c.put_object()
            .bucket("vee")
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .set_sse_customer_algorithm(alg.map(str::to_owned))
            .set_sse_customer_key(key.map(str::to_owned))
            .set_sse_customer_key_md5(md5.map(str::to_owned))
    };
    let code = |r: Result<_, aws_sdk_s3::error::SdkError<_, _>>| err_code(&r.unwrap_err());

    // Both SSE-S3 and SSE-C, even with a bad algorithm: the conflict is reported first.
    let r = put(Some("KMS"), Some(&a.b64), Some(&a.md5))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await;
    assert_eq!(code(r), (Some("InvalidArgument".into()), 400));
    let r = put(None, Some(&a.b64), Some(&a.md5)).send().await;
    assert_eq!(code(r), (Some("InvalidArgument".into()), 400));
    let r = put(Some("AES256"), None, None).send().await;
    assert_eq!(code(r), (Some("InvalidArgument".into()), 400));
    let r = put(Some("AES128"), Some(&a.b64), Some(&a.md5)).send().await;
    assert_eq!(
        code(r),
        (Some("InvalidEncryptionAlgorithmError".into()), 400)
    );
    let short = B64.encode([7u8; 16]);
    let short_md5 = B64.encode(md5::Md5::digest([7u8; 16]));
    let r = put(Some("AES256"), Some(&short), Some(&short_md5))
        .send()
        .await;
    assert_eq!(code(r), (Some("InvalidArgument".into()), 400));
    let r = put(Some("AES256"), Some(&a.b64), Some(&ck(4).md5))
        .send()
        .await;
    assert_eq!(code(r), (Some("InvalidArgument".into()), 400));
    let r = put(Some("AES256"), Some("not base64!"), Some(&a.md5))
        .send()
        .await;
    assert_eq!(code(r), (Some("InvalidArgument".into()), 400));
    // Nothing was stored by any of them.
    assert!(c.head_object().bucket("vee").key("k").send().await.is_err());

    // On a read, a key that cannot be the right one is a wrong key (403).
    put_c(&c, "vee", "k", b"x", &a).await;
    let e = c
        .get_object()
        .bucket("vee")
        .key("k")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&short)
        .sse_customer_key_md5(&short_md5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
    let e = c
        .get_object()
        .bucket("vee")
        .key("k")
        .sse_customer_algorithm("DES")
        .sse_customer_key(&a.b64)
        .sse_customer_key_md5(&a.md5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_code(&e),
        (Some("InvalidEncryptionAlgorithmError".into()), 400)
    );
}

#[tokio::test]
async fn sse_c_is_refused_over_plain_http_unless_allowed_for_loopback() {
    let server = Server::start_configured("block_sse_c_on_new_buckets = false", &[], None);
    let c = server.alice();
    c.create_bucket().bucket("tee").send().await.unwrap();
    let a = ck(5);
    let e = c
        .put_object()
        .bucket("tee")
        .key("k")
        .body(ByteStream::from_static(b"secret"))
        .customer_key(&a)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    assert!(c.head_object().bucket("tee").key("k").send().await.is_err());

    // Over TLS it works, and reads over plain HTTP are refused the same way.
    let ca = std::fs::read(server.data_dir().join("tls/cert.pem")).unwrap();
    let tls = server.https_client(ALICE, &ca);
    put_c(&tls, "tee", "k", b"secret", &a).await;
    assert_eq!(get_c(&tls, "tee", "k", &a).await.unwrap(), b"secret");
    assert_eq!(
        get_c(&c, "tee", "k", &a).await.unwrap_err(),
        (Some("InvalidRequest".into()), 400)
    );
}

#[tokio::test]
async fn buckets_that_block_sse_c_refuse_writes_and_still_serve_reads() {
    // The default: new buckets start blocked, as on AWS since April 2026.
    let server = Server::start_with(&["--allow-sse-c-over-http"]);
    let c = server.alice();
    c.create_bucket().bucket("bee").send().await.unwrap();
    let enc = c
        .get_bucket_encryption()
        .bucket("bee")
        .send()
        .await
        .unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.blocked_encryption_types()
            .map(|b| b.encryption_type().to_vec()),
        Some(vec![aws_sdk_s3::types::EncryptionType::SseC])
    );
    let a = ck(6);
    let blocked = |r: (Option<String>, u16)| assert_eq!(r, (Some("AccessDenied".into()), 403));
    let e = c
        .put_object()
        .bucket("bee")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .customer_key(&a)
        .send()
        .await
        .unwrap_err();
    blocked(err_code(&e));
    let e = c
        .create_multipart_upload()
        .bucket("bee")
        .key("m")
        .customer_key(&a)
        .send()
        .await
        .unwrap_err();
    blocked(err_code(&e));
    // SSE-S3 writes are unaffected.
    c.put_object()
        .bucket("bee")
        .key("s3")
        .body(ByteStream::from_static(b"fine"))
        .send()
        .await
        .unwrap();

    // Unblock (NONE), write SSE-C, block again: the object stays readable with its key.
    let set = |types: aws_sdk_s3::types::EncryptionType| {
        c.put_bucket_encryption()
            .bucket("bee")
            .server_side_encryption_configuration(
                aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder()
                    .rules(
                        aws_sdk_s3::types::ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(
                                aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
                                    .sse_algorithm(ServerSideEncryption::Aes256)
                                    .build()
                                    .unwrap(),
                            )
                            .blocked_encryption_types(
                                aws_sdk_s3::types::BlockedEncryptionTypes::builder()
                                    .encryption_type(types)
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
    };
    set(aws_sdk_s3::types::EncryptionType::None).await.unwrap();
    put_c(&c, "bee", "k", b"customer", &a).await;
    set(aws_sdk_s3::types::EncryptionType::SseC).await.unwrap();
    assert_eq!(get_c(&c, "bee", "k", &a).await.unwrap(), b"customer");
    // A copy into SSE-C is a write too.
    let e = c
        .copy_object()
        .bucket("bee")
        .key("k2")
        .copy_source("bee/s3")
        .customer_key(&a)
        .send()
        .await
        .unwrap_err();
    blocked(err_code(&e));
    // DeleteBucketEncryption resets the default but does not lift the block.
    c.delete_bucket_encryption()
        .bucket("bee")
        .send()
        .await
        .unwrap();
    let e = c
        .put_object()
        .bucket("bee")
        .key("k3")
        .body(ByteStream::from_static(b"x"))
        .customer_key(&a)
        .send()
        .await
        .unwrap_err();
    blocked(err_code(&e));

    // With the server set to AWS's older behaviour, new buckets accept SSE-C.
    let open = open_server();
    let c = open.alice();
    c.create_bucket().bucket("ooo").send().await.unwrap();
    put_c(&c, "ooo", "k", b"ok", &a).await;
}

#[tokio::test]
async fn multipart_parts_need_the_upload_key_and_read_back_in_any_range() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("mpu").send().await.unwrap();
    let (a, b) = (ck(7), ck(8));
    let create = c
        .create_multipart_upload()
        .bucket("mpu")
        .key("big")
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(create.sse_customer_key_md5(), Some(a.md5.as_str()));
    assert_eq!(create.server_side_encryption(), None);
    let id = create.upload_id().unwrap().to_owned();
    // Unaligned part sizes: 5 MiB + 1, then 65 537, as Ceph's suite does.
    let part1 = pattern(5 * 1024 * 1024 + 1, 21);
    let source = pattern(65_537 + 300, 22);

    let part = |n: i32, data: Vec<u8>| {
        c.upload_part()
            .bucket("mpu")
            .key("big")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data))
    };
    let e = part(1, part1.clone()).send().await.unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let e = part(1, part1.clone())
        .customer_key(&b)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let p1 = part(1, part1.clone())
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(p1.sse_customer_key_md5(), Some(a.md5.as_str()));
    assert_ne!(p1.e_tag().unwrap(), format!("\"{}\"", md5_hex(&part1)));

    // Part 2 copied from an SSE-C object under another key (source key + upload key).
    put_c(&c, "mpu", "src", &source, &b).await;
    let e = c
        .upload_part_copy()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .part_number(2)
        .copy_source("mpu/src")
        .copy_source_range("bytes=300-65836")
        .customer_key(&a)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_code(&e),
        (Some("InvalidRequest".into()), 400),
        "an SSE-C source needs its key"
    );
    let p2 = c
        .upload_part_copy()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .part_number(2)
        .copy_source("mpu/src")
        .copy_source_range("bytes=300-65836")
        .source_customer_key(&b)
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    let done = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(p1.e_tag().unwrap())
                        .build(),
                )
                .parts(
                    CompletedPart::builder()
                        .part_number(2)
                        .e_tag(p2.copy_part_result().unwrap().e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(done.e_tag().unwrap().ends_with("-2\""));
    assert_eq!(
        done.server_side_encryption(),
        None,
        "no SSE echo on completion"
    );

    let whole: Vec<u8> = [&part1[..], &source[300..]].concat();
    assert_eq!(get_c(&c, "mpu", "big", &a).await.unwrap(), whole);
    for (from, to) in [
        (0u64, 10u64),
        (5 * 1024 * 1024 - 3, 5 * 1024 * 1024 + 70),
        (5 * 1024 * 1024 + 1, 5 * 1024 * 1024 + 1),
        (whole.len() as u64 - 5, whole.len() as u64 - 1),
    ] {
        let got = c
            .get_object()
            .bucket("mpu")
            .key("big")
            .range(format!("bytes={from}-{to}"))
            .customer_key(&a)
            .send()
            .await
            .unwrap();
        assert_eq!(
            body_bytes(got).await,
            &whole[from as usize..=to as usize],
            "{from}-{to}"
        );
    }
    for (n, want) in [(1, &part1[..]), (2, &source[300..])] {
        let got = c
            .get_object()
            .bucket("mpu")
            .key("big")
            .part_number(n)
            .customer_key(&a)
            .send()
            .await
            .unwrap();
        assert_eq!(got.parts_count(), Some(2));
        assert_eq!(got.e_tag(), done.e_tag());
        assert_eq!(body_bytes(got).await, want, "part {n}");
    }
    let e = c
        .get_object()
        .bucket("mpu")
        .key("big")
        .part_number(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));

    // An SSE-S3 upload refuses SSE-C parts.
    let plain = c
        .create_multipart_upload()
        .bucket("mpu")
        .key("plain")
        .send()
        .await
        .unwrap();
    let e = c
        .upload_part()
        .bucket("mpu")
        .key("plain")
        .upload_id(plain.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .customer_key(&a)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
}

#[tokio::test]
async fn copies_move_between_modes_and_rotate_keys_without_rewriting_data() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("cpy").send().await.unwrap();
    let (a, b) = (ck(9), ck(10));
    let data = pattern(150_000, 31);
    c.put_object()
        .bucket("cpy")
        .key("s3")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();

    // SSE-S3 -> SSE-C.
    let out = c
        .copy_object()
        .bucket("cpy")
        .key("c")
        .copy_source("cpy/s3")
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(out.sse_customer_key_md5(), Some(a.md5.as_str()));
    assert_eq!(out.server_side_encryption(), None);
    let c_etag = out
        .copy_object_result()
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();
    assert_ne!(c_etag, format!("\"{}\"", md5_hex(&data)));
    assert_eq!(get_c(&c, "cpy", "c", &a).await.unwrap(), data);

    // SSE-C source without its key, with another key, and CS3 on a non-SSE-C source.
    let copy = |src: &str, dst: &str| c.copy_object().bucket("cpy").key(dst).copy_source(src);
    let e = copy("cpy/c", "x").send().await.unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let e = copy("cpy/c", "x")
        .source_customer_key(&b)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
    let e = copy("cpy/s3", "x")
        .source_customer_key(&a)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));

    // SSE-C -> SSE-S3: the target's ETag is the plaintext MD5 again.
    let out = copy("cpy/c", "back")
        .source_customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.copy_object_result().unwrap().e_tag(),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );
    assert_eq!(
        out.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let got = c
        .get_object()
        .bucket("cpy")
        .key("back")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, data);

    // SSE-C -> SSE-C under another key.
    copy("cpy/c", "other")
        .source_customer_key(&a)
        .customer_key(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(get_c(&c, "cpy", "other", &b).await.unwrap(), data);
    assert_eq!(get_c(&c, "cpy", "other", &a).await.unwrap_err().1, 403);

    // Key rotation in place: old key as source, new key as target. Only the data key is
    // re-sealed: every blob file is byte-for-byte what it was.
    // Every copy above shared the first object's one blob.
    let blobs_before: Vec<(std::path::PathBuf, Vec<u8>)> = blob_files_settled(&server, 1)
        .await
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    copy("cpy/c", "c")
        .source_customer_key(&a)
        .customer_key(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(blobs_before.len(), 1);
    let blobs_after = blob_files_settled(&server, 1).await;
    assert_eq!(blobs_after.len(), 1);
    for (path, bytes) in &blobs_before {
        assert_eq!(&std::fs::read(path).unwrap(), bytes, "{}", path.display());
    }
    assert_eq!(get_c(&c, "cpy", "c", &b).await.unwrap(), data);
    assert_eq!(
        get_c(&c, "cpy", "c", &a).await.unwrap_err(),
        (Some("AccessDenied".into()), 403),
        "the old key no longer opens it"
    );
}

#[tokio::test]
async fn customer_keys_never_reach_the_disk_or_the_log() {
    let mut server = Server::start_configured(
        "block_sse_c_on_new_buckets = false",
        &["--allow-sse-c-over-http"],
        Some("trace"),
    );
    let c = server.alice();
    c.create_bucket().bucket("scan").send().await.unwrap();
    let keys: Vec<Ck> = (20..25).map(ck).collect();
    let data = pattern(100_000, 41);
    put_c(&c, "scan", "one", &data, &keys[0]).await;
    assert_eq!(get_c(&c, "scan", "one", &keys[0]).await.unwrap(), data);
    assert_eq!(get_c(&c, "scan", "one", &keys[1]).await.unwrap_err().1, 403);
    c.copy_object()
        .bucket("scan")
        .key("one")
        .copy_source("scan/one")
        .source_customer_key(&keys[0])
        .customer_key(&keys[2])
        .send()
        .await
        .unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("scan")
        .key("mp")
        .customer_key(&keys[3])
        .send()
        .await
        .unwrap();
    c.upload_part()
        .bucket("scan")
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from(data.clone()))
        .customer_key(&keys[3])
        .send()
        .await
        .unwrap();
    // A key header that s3s cannot read as text (a non-ASCII byte after the key) once made
    // it log the whole value at ERROR; so did an Authorization header alike.
    for (header, value) in [
        (
            "x-amz-server-side-encryption-customer-key",
            keys[4].b64.as_bytes(),
        ),
        (
            "x-amz-copy-source-server-side-encryption-customer-key",
            keys[4].b64.as_bytes(),
        ),
    ] {
        let host = server.http.to_string();
        let url = format!("http://{host}/scan/raw");
        let signed = sign(
            "PUT",
            &url,
            &[("host", &host)],
            b"x",
            ALICE.1,
            ALICE.2,
            std::time::SystemTime::now(),
        );
        let mut req = b"PUT /scan/raw HTTP/1.1\r\n".to_vec();
        for (k, v) in &signed {
            req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        req.extend_from_slice(b"x-amz-server-side-encryption-customer-algorithm: AES256\r\n");
        req.extend_from_slice(format!("{header}: ").as_bytes());
        req.extend_from_slice(value);
        req.extend_from_slice(b"\xe9\r\n");
        req.extend_from_slice(
            format!(
                "x-amz-server-side-encryption-customer-key-md5: {}\r\n",
                keys[4].md5
            )
            .as_bytes(),
        );
        req.extend_from_slice(b"content-length: 1\r\nconnection: close\r\n\r\nx");
        let (status, body) = raw_exchange(server.http, &req);
        assert_eq!(status, 400, "{body}");
    }
    let mut req = format!(
        "GET /scan/one HTTP/1.1\r\nhost: {}\r\nauthorization: AWS4-HMAC-SHA256 Credential=",
        server.http
    )
    .into_bytes();
    req.extend_from_slice(keys[4].b64.as_bytes());
    req.extend_from_slice(b"\xe9\r\nconnection: close\r\n\r\n");
    let (status, body) = raw_exchange(server.http, &req);
    assert!((400..500).contains(&status), "{body}");
    server.kill9();

    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        needles.push((format!("key {i} raw"), k.raw.to_vec()));
        needles.push((format!("key {i} base64"), k.b64.clone().into_bytes()));
        needles.push((format!("key {i} md5 base64"), k.md5.clone().into_bytes()));
        needles.push((format!("key {i} md5 raw"), md5::Md5::digest(k.raw).to_vec()));
    }
    let mut files = files_under(&server.data_dir());
    files.push(server.log_path());
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log was verbose"
    );
    // A log written to a file carries no terminal colour codes.
    assert!(!log.contains('\u{1b}'), "colour codes in a log file");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for (what, needle) in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{what} found in {}",
                f.display()
            );
        }
    }
    // The log did record these requests, just not their keys.
    assert!(log.matches("request").count() >= 6, "{log}");
}

#[tokio::test]
async fn upload_part_copy_moves_parts_between_modes() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("upc").send().await.unwrap();
    let a = ck(11);
    let s3_data = pattern(70_000, 51);
    let c_data = pattern(80_000, 52);
    c.put_object()
        .bucket("upc")
        .key("s3-src")
        .body(ByteStream::from(s3_data.clone()))
        .send()
        .await
        .unwrap();
    put_c(&c, "upc", "c-src", &c_data, &a).await;

    // SSE-S3 source into an SSE-C upload, and SSE-C source into an SSE-S3 upload.
    let into_c = c
        .create_multipart_upload()
        .bucket("upc")
        .key("into-c")
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    let into_s3 = c
        .create_multipart_upload()
        .bucket("upc")
        .key("into-s3")
        .send()
        .await
        .unwrap();
    let p_c = c
        .upload_part_copy()
        .bucket("upc")
        .key("into-c")
        .upload_id(into_c.upload_id().unwrap())
        .part_number(1)
        .copy_source("upc/s3-src")
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(p_c.sse_customer_key_md5(), Some(a.md5.as_str()));
    let p_s3 = c
        .upload_part_copy()
        .bucket("upc")
        .key("into-s3")
        .upload_id(into_s3.upload_id().unwrap())
        .part_number(1)
        .copy_source("upc/c-src")
        .source_customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(
        p_s3.copy_part_result().unwrap().e_tag(),
        Some(format!("\"{}\"", md5_hex(&c_data)).as_str()),
        "an SSE-S3 part's ETag is its MD5"
    );
    for (key, upload, etag) in [
        (
            "into-c",
            &into_c,
            p_c.copy_part_result().unwrap().e_tag().unwrap(),
        ),
        (
            "into-s3",
            &into_s3,
            p_s3.copy_part_result().unwrap().e_tag().unwrap(),
        ),
    ] {
        c.complete_multipart_upload()
            .bucket("upc")
            .key(key)
            .upload_id(upload.upload_id().unwrap())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    assert_eq!(get_c(&c, "upc", "into-c", &a).await.unwrap(), s3_data);
    let got = c
        .get_object()
        .bucket("upc")
        .key("into-s3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(body_bytes(got).await, c_data);
}

/// A conditional GET of an SSE-C object without its key is refused for the missing key, not
/// answered 304 or 412: those would tell a caller without the key that the object exists
/// and what its ETag is.
#[tokio::test]
async fn conditional_reads_check_the_customer_key_first() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("cond").send().await.unwrap();
    let k = ck(60);
    let etag = put_c(&c, "cond", "obj", b"conditional", &k).await;

    let e = c
        .get_object()
        .bucket("cond")
        .key("obj")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let e = c
        .get_object()
        .bucket("cond")
        .key("obj")
        .if_match("\"00000000000000000000000000000000\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let e = c
        .get_object()
        .bucket("cond")
        .key("obj")
        .if_none_match(&etag)
        .customer_key(&ck(61))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 403);
    // With the key, the conditions apply as usual.
    let e = c
        .get_object()
        .bucket("cond")
        .key("obj")
        .if_none_match(&etag)
        .customer_key(&k)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 304);
}
