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

/// Each audited request waits for its record to reach the disk; `/metrics` says how many
/// records went there, in how many journal syncs, how long the syncs took and the records
/// waited, in buckets fine enough for a disk's flush (a tenth of a millisecond and up).
#[tokio::test]
async fn metrics_say_how_long_audit_records_wait_for_the_disk() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("obs").send().await.unwrap();
    let url = format!("http://{}/metrics", server.http);
    let (_, before) = http_get(&url);

    c.put_object()
        .bucket("obs")
        .key("k")
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
        .body(ByteStream::from(vec![7u8; 4096]))
        .send()
        .await
        .unwrap();
    let got = c.get_object().bucket("obs").key("k").send().await.unwrap();
    assert_eq!(body_bytes(got).await, vec![7u8; 4096]);

    let (status, text) = http_get(&url);
    assert_eq!(status, 200, "{text}");
    let delta = |name| series_value(&text, name) - series_value(&before, name);
    // GenerateDataKey for the PUT and Decrypt for the GET, each on disk before its answer.
    let records = delta("coffer_audit_records_appended_total");
    let syncs = delta("coffer_audit_journal_sync_seconds_count");
    assert!(records >= 2.0, "{records} records\n{text}");
    assert!((1.0..=records).contains(&syncs), "{syncs} syncs\n{text}");
    let total = series_value(&text, "coffer_audit_records_appended_total");
    assert_eq!(
        series_value(&text, "coffer_audit_record_wait_seconds_count"),
        total,
        "{text}"
    );
    assert!(
        series_value(&text, "coffer_audit_record_wait_seconds_sum") > 0.0,
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "coffer_audit_record_wait_seconds_bucket{{le=\"+Inf\"}} {total}"
        )),
        "{text}"
    );
    for histogram in [
        "coffer_audit_record_wait_seconds",
        "coffer_audit_journal_sync_seconds",
    ] {
        assert!(
            text.contains(&format!("{histogram}_bucket{{le=\"0.0001\"}}")),
            "{text}"
        );
    }
}
