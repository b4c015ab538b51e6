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
pub(crate) trait CustomerKeyed: Sized {
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

mod blocking_and_conditions;
mod copies;
mod multipart;
mod secrecy;

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
