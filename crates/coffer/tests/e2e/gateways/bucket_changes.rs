//! A gateway decides a PUT or DELETE on the bucket as it read it a moment ago (no round trip
//! of its own over PostgreSQL); a change another gateway made meanwhile is caught when the
//! write commits. The write is then refused with 503 SlowDown, which the SDK retries, and
//! the retry is decided on the bucket as it is now: never on the old configuration.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};

use super::{metric, two_gateways};
use crate::common::*;

/// Within this of its last read, a gateway may still decide on it (the store's 1 s less a
/// margin): only then must the stale decision have been caught at commit.
const SURELY_REMEMBERED: Duration = Duration::from_millis(800);

const REFUSED: &str = "coffer_bucket_changed_writes_total";

#[tokio::test]
async fn a_put_decided_on_a_bucket_the_other_gateway_just_changed_follows_the_change() {
    let Some((a, b)) = two_gateways() else { return };
    let (ca, cb) = (a.alice(), b.alice());
    ca.create_bucket().bucket("changing").send().await.unwrap();
    let put = |key: &'static str| {
        ca.put_object()
            .bucket("changing")
            .key(key)
            .body(ByteStream::from(b"data".to_vec()))
            .send()
    };

    // A reads the bucket (SSE-S3 by default); B then makes SSE-KMS the default.
    let read_at = Instant::now();
    let first = put("first").await.unwrap();
    assert_eq!(
        first.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    cb.put_bucket_encryption()
        .bucket("changing")
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let changed_within = read_at.elapsed();
    let second = put("second").await.unwrap();
    assert_eq!(
        second.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms),
        "A sealed its PUT under the default B had replaced"
    );
    let head = cb
        .head_object()
        .bucket("changing")
        .key("second")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    if changed_within < SURELY_REMEMBERED {
        assert_eq!(metric(&a, REFUSED, "outcome=\"refused\""), 1.0);
    }

    // B now denies PutObject: A's next PUT is refused, and stores nothing.
    put("third").await.unwrap();
    cb.put_bucket_policy()
        .bucket("changing")
        .policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",
                "Action":"s3:PutObject","Resource":"arn:aws:s3:::changing/*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let e = put("denied").await.unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
    let gone = cb
        .head_object()
        .bucket("changing")
        .key("denied")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&gone).1, 404);

    // B then denies DeleteObject too: A's next delete is refused, and removes nothing.
    cb.put_bucket_policy()
        .bucket("changing")
        .policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",
                "Action":["s3:PutObject","s3:DeleteObject"],
                "Resource":"arn:aws:s3:::changing/*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let e = ca
        .delete_object()
        .bucket("changing")
        .key("first")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
    cb.head_object()
        .bucket("changing")
        .key("first")
        .send()
        .await
        .expect("still there");
}
