//! HTTPS: the generated development certificate and an operator's own.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};

use crate::common::*;

#[tokio::test]
async fn generated_certificate_serves_https_with_streaming_checksums() {
    let server = Server::start();
    let cert_path = server.data_dir().join("tls/cert.pem");
    assert!(
        server
            .stdout_lines
            .iter()
            .any(|l| l.contains(&cert_path.display().to_string())),
        "the certificate's path is printed: {:?}",
        server.stdout_lines
    );
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(server.data_dir().join("tls/key.pem"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(
        key_mode & 0o077,
        0,
        "the private key is readable by its owner only"
    );

    let c = server.https_client(ALICE, &std::fs::read(&cert_path).unwrap());
    c.create_bucket().bucket("tls").send().await.unwrap();
    let data = pattern(3 * 1024 * 1024 + 5, 11);
    // Over TLS the SDK sends an unsigned aws-chunked body with the checksum in a trailer.
    let put = c
        .put_object()
        .bucket("tls")
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket("tls")
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(got.checksum_crc32_c(), put.checksum_crc32_c());
    assert_eq!(body_bytes(got).await, data);

    // A client that does not trust the certificate cannot connect.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let stranger = server.https_client(ALICE, other.cert.pem().as_bytes());
    assert!(stranger.list_buckets().send().await.is_err());
}

#[tokio::test]
async fn operator_certificate_is_used_when_given() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let server = Server::start_with(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(
        !server.data_dir().join("tls/cert.pem").exists(),
        "no dev certificate is generated"
    );
    let c = server.https_client(ALICE, ck.cert.pem().as_bytes());
    c.create_bucket().bucket("own").send().await.unwrap();
}

/// Found by the soak (scripts/soak.sh): over HTTPS the SDK speaks HTTP/2, and an error
/// answer to a HEAD carried its XML body in DATA frames, which HTTP/2 forbids for HEAD.
/// The client reset the stream and saw a transport error instead of the 404 or 403.
#[tokio::test]
async fn head_errors_over_http2_arrive_as_status_codes() {
    let server = Server::start_configured("block_sse_c_on_new_buckets = false", &[], None);
    let ca = std::fs::read(server.data_dir().join("tls/cert.pem")).unwrap();
    let c = server.https_client(ALICE, &ca);
    c.create_bucket().bucket("heads").send().await.unwrap();

    let missing = c
        .head_object()
        .bucket("heads")
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert!(
        missing.as_service_error().is_some_and(|e| e.is_not_found()),
        "a HEAD of a missing key is a 404, not a broken stream: {missing:?}"
    );

    let (key, key_md5) = customer_key(1);
    c.put_object()
        .bucket("heads")
        .key("sse-c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&key_md5)
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .unwrap();
    let (wrong, wrong_md5) = customer_key(2);
    let denied = c
        .head_object()
        .bucket("heads")
        .key("sse-c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&wrong)
        .sse_customer_key_md5(&wrong_md5)
        .send()
        .await
        .unwrap_err();
    assert!(
        denied.as_service_error().is_some(),
        "a HEAD with the wrong key is an answer, not a broken stream: {denied:?}"
    );
    assert_eq!(
        denied.raw_response().map(|r| r.status().as_u16()),
        Some(403)
    );

    // The successful HEAD still reports the object's length without sending it.
    let head = c
        .head_object()
        .bucket("heads")
        .key("sse-c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&key_md5)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(6));
}

/// A 256-bit SSE-C key made of `byte`, and its MD5, both base64.
fn customer_key(byte: u8) -> (String, String) {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use md5::Digest;
    let key = [byte; 32];
    (STANDARD.encode(key), STANDARD.encode(md5::Md5::digest(key)))
}
