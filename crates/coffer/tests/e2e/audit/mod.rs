//! The audit trail: exactly one record per KMS call, naming the right user, key and
//! context; nothing for SSE-S3 or SSE-C; durable before the answer; verifiable; searchable
//! through `coffer audit lookup` and CloudTrail's LookupEvents; metered.

use std::time::{Duration, SystemTime};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use base64::Engine as _;
use serde_json::Value;

use crate::common::*;
use crate::kms::kms_client;
use crate::rekey::{admin_config, coffer_command};

mod integrity;
mod lookup;

const FAST_TRAIL: &str =
    "block_sse_c_on_new_buckets = false\naudit_log_file_seconds = 1\naudit_digest_seconds = 2";

fn audit_server() -> Server {
    Server::start_configured(FAST_TRAIL, &["--allow-sse-c-over-http"], None)
}

/// Every record of the trail, read by `coffer audit lookup --json` (beside the live server).
fn records(server: &Server) -> Vec<Value> {
    let (ok, out) = coffer_command(
        &admin_config(server),
        "audit",
        &["lookup", "--json", "--limit", "100000"],
    );
    assert!(ok, "{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn kms_calls(records: &[Value]) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| r["eventSource"] == "kms.amazonaws.com" && r["eventType"] == "AwsApiCall")
        .collect()
}

/// KMS requests counted at their call sites (`/metrics`), API and S3 together.
fn metered(server: &Server) -> u64 {
    let (_, text) = http_get(&format!("{}/metrics", server.endpoint()));
    text.lines()
        .filter(|l| l.starts_with("coffer_kms_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn one_record_per_kms_call_with_the_right_user_key_and_context() {
    let server = audit_server();
    let (alice, bob) = (server.alice(), server.client(BOB));
    let kms = kms_client(&server, ALICE);
    let k1 = kms.create_key().send().await.unwrap();
    let k1_arn = k1.key_metadata().unwrap().arn().unwrap().to_owned();
    let k2 = kms.create_key().send().await.unwrap();
    let k2_arn = k2.key_metadata().unwrap().arn().unwrap().to_owned();
    // Bob may make data keys under K2 through S3, not decrypt them.
    let policy = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:root"}},"Action":"kms:*","Resource":"*"}},
           {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:user/bob"}},"Action":"kms:GenerateDataKey","Resource":"{k2_arn}"}}]}}"#
    );
    kms.put_key_policy()
        .key_id(&k2_arn)
        .policy(policy)
        .send()
        .await
        .unwrap();

    // Direct calls, one failing.
    let enc = kms
        .encrypt()
        .key_id(&k1_arn)
        .plaintext(Blob::new(b"top secret plaintext".to_vec()))
        .encryption_context("purpose", "audit-test")
        .send()
        .await
        .unwrap();
    let blob = enc.ciphertext_blob().unwrap().clone();
    kms.decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "audit-test")
        .send()
        .await
        .unwrap();
    kms.decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "wrong")
        .send()
        .await
        .unwrap_err();

    // SSE-KMS through S3, by two users, one of them denied on read.
    alice
        .create_bucket()
        .bucket("audited")
        .send()
        .await
        .unwrap();
    bob.create_bucket().bucket("bobs").send().await.unwrap();
    let put_kms = |c: &aws_sdk_s3::Client, bucket: &str, key: &str, kms_key: &str| {
        c.put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from_static(b"payload"))
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(kms_key)
            .send()
    };
    put_kms(&alice, "audited", "a", &k1_arn).await.unwrap();
    alice
        .get_object()
        .bucket("audited")
        .key("a")
        .send()
        .await
        .unwrap();
    alice
        .copy_object()
        .bucket("audited")
        .key("a-copy")
        .copy_source("audited/a")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&k1_arn)
        .send()
        .await
        .unwrap();
    put_kms(&bob, "bobs", "b", &k2_arn).await.unwrap();
    let denied = bob
        .get_object()
        .bucket("bobs")
        .key("b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&denied), (Some("AccessDenied".into()), 403));
    // With a bucket key: one call for several PUTs.
    for i in 0..5 {
        alice
            .put_object()
            .bucket("audited")
            .key(format!("bk/{i}"))
            .body(ByteStream::from_static(b"x"))
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&k1_arn)
            .bucket_key_enabled(true)
            .send()
            .await
            .unwrap();
    }

    let before = records(&server);
    let calls_before = kms_calls(&before).len();
    // SSE-S3 and SSE-C reads and writes use no KMS and leave no record.
    alice
        .put_object()
        .bucket("audited")
        .key("s3")
        .body(ByteStream::from_static(b"s3"))
        .send()
        .await
        .unwrap();
    alice
        .get_object()
        .bucket("audited")
        .key("s3")
        .send()
        .await
        .unwrap();
    let raw = [9u8; 32];
    let (k64, md5) = (
        base64::engine::general_purpose::STANDARD.encode(raw),
        base64::engine::general_purpose::STANDARD.encode({
            use md5::Digest as _;
            md5::Md5::digest(raw)
        }),
    );
    alice
        .put_object()
        .bucket("audited")
        .key("c")
        .body(ByteStream::from_static(b"c"))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k64)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    alice
        .get_object()
        .bucket("audited")
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k64)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    let all = records(&server);
    let calls = kms_calls(&all);
    assert_eq!(
        calls.len(),
        calls_before,
        "SSE-S3/SSE-C leave no KMS record"
    );

    // Exactly one record per KMS request counted at its call site.
    assert_eq!(calls.len() as u64, metered(&server));

    // The denied read: bob, via S3, under K2, with the object's context.
    let denied: Vec<_> = calls
        .iter()
        .filter(|r| r["eventName"] == "Decrypt" && r["userIdentity"]["userName"] == "bob")
        .collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    let d = denied[0];
    assert_eq!(d["errorCode"], "AccessDeniedException");
    assert_eq!(d["userIdentity"]["invokedBy"], "s3.amazonaws.com");
    assert_eq!(d["sourceIPAddress"], "s3.amazonaws.com");
    assert_eq!(
        d["userIdentity"]["arn"],
        "arn:aws:iam::000000000000:user/bob"
    );
    assert_eq!(d["resources"][0]["ARN"], k2_arn.as_str());
    assert_eq!(
        d["requestParameters"]["encryptionContext"]["aws:s3:arn"],
        "arn:aws:s3:::bobs/b"
    );
    assert_eq!(d["readOnly"], true);
    assert_eq!(d["eventCategory"], "Management");

    // Alice's PUT: GenerateDataKey with the object's context, keySpec, the key as named.
    let put: Vec<_> = calls
        .iter()
        .filter(|r| {
            r["eventName"] == "GenerateDataKey"
                && r["requestParameters"]["encryptionContext"]["aws:s3:arn"]
                    == "arn:aws:s3:::audited/a"
        })
        .collect();
    assert_eq!(put.len(), 1);
    assert_eq!(put[0]["userIdentity"]["userName"], "alice");
    assert_eq!(put[0]["requestParameters"]["keySpec"], "AES_256");
    // The bucket key: one GenerateDataKey with the bucket's ARN for the five PUTs.
    let bucket_keys = calls
        .iter()
        .filter(|r| {
            r["requestParameters"]["encryptionContext"]["aws:s3:arn"] == "arn:aws:s3:::audited"
        })
        .count();
    assert_eq!(bucket_keys, 1);

    // Direct calls: the client's address, no secrets, the failure named.
    let direct: Vec<_> = calls
        .iter()
        .filter(|r| r["userIdentity"]["invokedBy"].is_null() && r["eventName"] == "Decrypt")
        .collect();
    assert_eq!(direct.len(), 2);
    assert!(
        direct
            .iter()
            .any(|r| r["errorCode"] == "InvalidCiphertextException")
    );
    assert!(direct.iter().all(|r| r["sourceIPAddress"] == "127.0.0.1"));
    assert!(
        direct
            .iter()
            .all(|r| r["userIdentity"]["accessKeyId"] == ALICE.1)
    );
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains("top secret plaintext"));
    assert!(
        !text.contains(&base64::engine::general_purpose::STANDARD.encode(b"top secret plaintext"))
    );
    assert!(!text.contains(&base64::engine::general_purpose::STANDARD.encode(blob.as_ref())));
    assert!(
        !text.contains("kms:GenerateDataKey\",\"Resource"),
        "policies are not logged"
    );
    // Management events are there too, not read-only.
    let put_policy: Vec<_> = calls
        .iter()
        .filter(|r| r["eventName"] == "PutKeyPolicy")
        .collect();
    assert_eq!(put_policy.len(), 1);
    assert_eq!(put_policy[0]["readOnly"], false);

    // The usage report counts the same requests.
    let (ok, out) = coffer_command(&admin_config(&server), "kms", &["usage", "--json"]);
    assert!(ok, "{out}");
    let usage: Value = serde_json::from_str(&out).unwrap();
    let total: u64 = usage
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, calls.len() as u64);
    assert_eq!(usage[0]["keyMonths"], 2.0, "two customer keys");
}

/// A JSON 1.1 request for `target`, signed for `service` as `user`, with `body` as given.
pub(crate) fn signed_json(
    server: &Server,
    user: (&str, &str, &str),
    service: &str,
    target: &str,
    body: &str,
) -> (u16, String) {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let url = format!("http://{}/", server.http);
    let headers = [
        ("host".to_owned(), server.http.to_string()),
        ("x-amz-target".to_owned(), target.to_owned()),
        (
            "content-type".to_owned(),
            "application/x-amz-json-1.1".to_owned(),
        ),
    ];
    let identity = aws_credential_types::Credentials::new(user.1, user.2, None, None, "t").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = "POST / HTTP/1.1\r\n".to_owned();
    for (k, v) in &headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    for (k, v) in instructions.headers() {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    raw_exchange(server.http, req.as_bytes())
}
