//! Prometheus metrics and request ids.

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

#[tokio::test]
async fn metrics_endpoint_counts_requests_and_bytes() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("obs").send().await.unwrap();
    c.put_object()
        .bucket("obs")
        .key("k")
        .body(ByteStream::from(vec![7u8; 4096]))
        .send()
        .await
        .unwrap();
    let got = c.get_object().bucket("obs").key("k").send().await.unwrap();
    assert_eq!(body_bytes(got).await.len(), 4096);

    let (status, text) = http_get(&format!("http://{}/metrics", server.http));
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("coffer_http_requests_total"), "{text}");
    assert!(
        text.contains("coffer_s3_operations_total{op=\"PutObject\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("coffer_s3_bytes_received_total 4096"),
        "{text}"
    );
    assert!(text.contains("coffer_s3_bytes_sent_total 4096"), "{text}");
    // Which gateway answered: its id (kept in the data directory) as an info series.
    let id = std::fs::read_to_string(server.data_dir().join("gateway-id")).unwrap();
    assert!(
        text.contains(&format!(
            "coffer_gateway_info{{gateway=\"{}\"}} 1",
            id.trim()
        )),
        "{text}"
    );

    let (_, head) = signed_raw(&server, "GET", "/obs/k", &[], b"");
    assert!(
        head.lines().any(|l| l.starts_with("x-amz-request-id: ")),
        "{head}"
    );
}
