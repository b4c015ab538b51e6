//! The web console in a real browser (headless chromium over WebDriver): what a user sees
//! and does, checked against what the APIs say.

mod browser;
mod flow;
mod forms;
mod rights;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::common::*;

/// A bucket holding one object in each mode: `s3.txt` (SSE-S3), `kms.txt` (SSE-KMS under
/// `key`), `customer.txt` (SSE-C). Returns the SSE-C key.
/// A new KMS key of alice's, with `description` if given; its id.
pub async fn new_key(server: &Server, description: Option<&str>) -> String {
    crate::kms::kms_client(server, ALICE)
        .create_key()
        .set_description(description.map(str::to_owned))
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id
}

pub async fn bucket_in_three_modes(server: &Server, bucket: &str, key: &str) -> Ck {
    let ca = std::fs::read(server.data_dir().join("tls/cert.pem")).unwrap();
    let s3 = server.https_client(ALICE, &ca);
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    s3.put_object()
        .bucket(bucket)
        .key("s3.txt")
        .body(ByteStream::from_static(b"server-side"))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(bucket)
        .key("kms.txt")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(key)
        .body(ByteStream::from_static(b"kms"))
        .send()
        .await
        .unwrap();
    // New buckets block SSE-C (AWS's default since April 2026): this one allows it.
    let config = r#"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BlockedEncryptionTypes><EncryptionType>NONE</EncryptionType></BlockedEncryptionTypes></Rule></ServerSideEncryptionConfiguration>"#;
    let (status, body) = signed_raw(
        server,
        "PUT",
        &format!("/{bucket}?encryption"),
        &[],
        config.as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    let ck = ck(7);
    s3.put_object()
        .bucket(bucket)
        .key("customer.txt")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&ck.b64)
        .sse_customer_key_md5(&ck.md5)
        .body(ByteStream::from_static(b"customer"))
        .send()
        .await
        .unwrap();
    ck
}
