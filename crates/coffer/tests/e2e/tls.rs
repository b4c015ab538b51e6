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
