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

#[tokio::test]
async fn the_trail_verifies_until_it_is_touched() {
    let server = audit_server();
    let kms = kms_client(&server, ALICE);
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    for _ in 0..3 {
        for _ in 0..5 {
            kms.generate_data_key()
                .key_id(&arn)
                .number_of_bytes(32)
                .send()
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let config = admin_config(&server);
    let (ok, out) = coffer_command(&config, "audit", &["verify"]);
    assert!(ok, "{out}");
    assert!(out.contains("the trail is intact"), "{out}");
    let checked: usize = out
        .split(" log files checked")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(checked >= 2, "{out}");

    // Edit one record of a digested log file.
    let logs: Vec<_> = files_under(&server.data_dir().join("audit/AWSLogs"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail/"))
        .collect();
    let victim = &logs[0];
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(victim).unwrap()),
        &mut text,
    )
    .unwrap();
    let edited = text.replacen("GenerateDataKey", "GenerateRandom", 1);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, edited.as_bytes()).unwrap();
    std::fs::write(victim, enc.finish().unwrap()).unwrap();
    let (ok, out) = coffer_command(&config, "audit", &["verify"]);
    assert!(!ok, "{out}");
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL") && l.contains(&name) && l.contains("changed")),
        "{out}"
    );
}

#[tokio::test]
async fn every_acknowledged_read_is_on_record_after_a_crash() {
    let mut server = audit_server();
    let (c, kms) = (server.alice(), kms_client(&server, ALICE));
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    c.create_bucket().bucket("crashy").send().await.unwrap();
    let n = 60;
    for i in 0..n {
        c.put_object()
            .bucket("crashy")
            .key(format!("o{i}"))
            .body(ByteStream::from_static(b"x"))
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&arn)
            .send()
            .await
            .unwrap();
    }
    // A burst of GETs, each of its own object, killed in the middle.
    let readers: Vec<_> = (0..4)
        .map(|w| {
            let c = c.clone();
            tokio::spawn(async move {
                let mut ok = Vec::new();
                for round in 0..400 {
                    let i = (w * 13 + round * 7) % 60;
                    let Ok(out) = c
                        .get_object()
                        .bucket("crashy")
                        .key(format!("o{i}"))
                        .send()
                        .await
                    else {
                        break;
                    };
                    let Ok(bytes) = out.body.collect().await else {
                        break;
                    };
                    if bytes.into_bytes().as_ref() != b"x" {
                        break;
                    }
                    ok.push(i);
                }
                ok
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.kill9();
    let mut acknowledged: std::collections::HashMap<usize, usize> = Default::default();
    for r in readers {
        for i in r.await.unwrap() {
            *acknowledged.entry(i).or_default() += 1;
        }
    }
    assert!(
        !acknowledged.is_empty(),
        "some GETs finished before the kill"
    );
    server.restart();
    let all = records(&server);
    for (i, times) in acknowledged {
        let recorded = all
            .iter()
            .filter(|r| {
                r["eventName"] == "Decrypt"
                    && r["requestParameters"]["encryptionContext"]["aws:s3:arn"]
                        == format!("arn:aws:s3:::crashy/o{i}")
            })
            .count();
        assert!(
            recorded >= times,
            "o{i}: {times} acknowledged GETs, {recorded} records"
        );
    }
}

/// A request signed for CloudTrail (`aws-sigv4`, scope `cloudtrail`).
fn lookup_events(server: &Server, user: (&str, &str, &str), body: &str) -> (u16, String) {
    signed_json(
        server,
        user,
        "cloudtrail",
        "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
        body,
    )
}

/// A JSON 1.1 request for `target`, signed for `service` as `user`, with `body` as given.
fn signed_json(
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

#[tokio::test]
async fn lookup_events_answers_who_used_which_key() {
    let server = audit_server();
    let kms = kms_client(&server, ALICE);
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    for _ in 0..3 {
        let e = kms
            .encrypt()
            .key_id(&arn)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await
            .unwrap();
        kms.decrypt()
            .ciphertext_blob(e.ciphertext_blob().unwrap().clone())
            .send()
            .await
            .unwrap();
    }
    let (status, body) = lookup_events(
        &server,
        ALICE,
        r#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"Decrypt"}],"MaxResults":2}"#,
    );
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body[body.find('{').unwrap()..]).unwrap();
    let events = page["Events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(page["NextToken"].is_string());
    for e in events {
        assert_eq!(e["EventName"], "Decrypt");
        assert_eq!(e["Username"], "alice");
        assert_eq!(e["ReadOnly"], "true");
        assert_eq!(e["Resources"][0]["ResourceName"], arn.as_str());
        let full: Value = serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
        assert_eq!(full["eventSource"], "kms.amazonaws.com");
    }
    let next = format!(
        r#"{{"LookupAttributes":[{{"AttributeKey":"EventName","AttributeValue":"Decrypt"}}],"MaxResults":2,"NextToken":{}}}"#,
        page["NextToken"]
    );
    let (_, body) = lookup_events(&server, ALICE, &next);
    let page: Value = serde_json::from_str(&body[body.find('{').unwrap()..]).unwrap();
    assert_eq!(page["Events"].as_array().unwrap().len(), 1);
    assert!(page["NextToken"].is_null(), "{page}");
    // Every lookup was answered from the index in the metadata store, none by reading files.
    let (_, metrics) = http_get(&format!("{}/metrics", server.endpoint()));
    assert!(
        metrics.contains(r#"coffer_audit_lookups_total{via="index"}"#)
            && !metrics.contains(r#"coffer_audit_lookups_total{via="files"}"#),
        "{metrics}"
    );
    // Only admins may read the trail; bad requests get CloudTrail's errors.
    let (status, body) = lookup_events(&server, BOB, "{}");
    assert_eq!(status, 400);
    assert!(body.contains("AccessDeniedException"), "{body}");
    let (_, body) = lookup_events(&server, ALICE, r#"{"MaxResults":500}"#);
    assert!(body.contains("InvalidMaxResultsException"), "{body}");
}

#[tokio::test]
async fn s3_data_events_are_recorded_when_enabled() {
    let server = Server::start_configured(
        &format!("{FAST_TRAIL}\naudit_s3_data_events = true"),
        &[],
        None,
    );
    let (c, kms) = (server.alice(), kms_client(&server, ALICE));
    c.create_bucket().bucket("events").send().await.unwrap();
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    c.put_object()
        .bucket("events")
        .key("by-default")
        .body(ByteStream::from_static(b"d"))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("events")
        .key("asked-s3")
        .body(ByteStream::from_static(b"s"))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("events")
        .key("asked-kms")
        .body(ByteStream::from_static(b"k"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&arn)
        .send()
        .await
        .unwrap();
    c.get_object()
        .bucket("events")
        .key("asked-kms")
        .send()
        .await
        .unwrap();
    let all = records(&server);
    let s3: Vec<_> = all
        .iter()
        .filter(|r| r["eventSource"] == "s3.amazonaws.com")
        .collect();
    let applied = |key: &str| {
        s3.iter()
            .find(|r| r["eventName"] == "PutObject" && r["requestParameters"]["key"] == key)
            .map(|r| r["additionalEventData"]["SSEApplied"].clone())
    };
    assert_eq!(applied("by-default"), Some(Value::from("Default_SSE_S3")));
    assert_eq!(applied("asked-s3"), Some(Value::from("SSE_S3")));
    assert_eq!(applied("asked-kms"), Some(Value::from("SSE_KMS")));
    let get: Vec<_> = s3
        .iter()
        .filter(|r| r["eventName"] == "GetObject")
        .collect();
    assert_eq!(get.len(), 1);
    assert_eq!(get[0]["eventCategory"], "Data");
    assert_eq!(get[0]["readOnly"], true);
    assert_eq!(get[0]["userIdentity"]["userName"], "alice");
    // Data events are not management events: LookupEvents leaves them out.
    let (_, body) = lookup_events(
        &server,
        ALICE,
        r#"{"LookupAttributes":[{"AttributeKey":"EventSource","AttributeValue":"s3.amazonaws.com"}]}"#,
    );
    let page: Value = serde_json::from_str(&body[body.find('{').unwrap()..]).unwrap();
    assert_eq!(page["Events"].as_array().unwrap().len(), 0);
}

/// Records keep only the request members each operation defines, by their exact names:
/// a plaintext sent as `PlainText`, or junk, is named but never copied, and no record
/// outgrows its cap whatever a caller sends.
#[tokio::test]
async fn records_hold_only_the_members_an_operation_defines() {
    let server = audit_server();
    let kms = kms_client(&server, ALICE);
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let junk = "J".repeat(300_000);
    let body = format!(
        r#"{{"KeyId":"{arn}","PlainText":"c2VjcmV0LXBsYWludGV4dC12YWx1ZQ==","Plaintext":"c2VjcmV0LXBsYWludGV4dC12YWx1ZQ==","Junk":"{junk}","EncryptionContext":{{"app":"{junk}"}}}}"#
    );
    for user in [BOB, ALICE] {
        let (status, text) = signed_json(&server, user, "kms", "TrentService.Encrypt", &body);
        assert!(status == 400 || status == 200, "{status} {text}");
    }
    // A cut moves the journal into a log file: both are checked below.
    let journal = std::fs::read(server.data_dir().join("audit/journal.jsonl")).unwrap_or_default();
    let records = records(&server);
    let encrypts: Vec<&Value> = records
        .iter()
        .filter(|r| r["eventName"] == "Encrypt")
        .collect();
    assert_eq!(encrypts.len(), 2, "{encrypts:?}");
    for r in &encrypts {
        let text = serde_json::to_string(r).unwrap();
        assert!(text.len() <= 16 * 1024, "a record of {} bytes", text.len());
        assert!(!text.contains("c2VjcmV0LXBsYWludGV4dC12YWx1ZQ"), "{text}");
        assert!(!text.contains("JJJJJJJJ"), "junk was copied");
        let p = &r["requestParameters"];
        assert_eq!(p["keyId"], arn.as_str());
        let unknown: Vec<&str> = p["unrecognizedParameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            unknown.contains(&"PlainText") && unknown.contains(&"Junk"),
            "{p}"
        );
        assert!(p.get("plaintext").is_none() && p.get("plainText").is_none());
    }
    for needle in ["c2VjcmV0LXBsYWludGV4dC12YWx1ZQ", "JJJJJJJJJJJJJJJJ"] {
        assert!(!String::from_utf8_lossy(&journal).contains(needle));
        for f in files_under(&server.data_dir().join("audit")) {
            let bytes = std::fs::read(&f).unwrap();
            let text = match f.extension().and_then(|e| e.to_str()) {
                Some("gz") => {
                    let mut out = String::new();
                    std::io::Read::read_to_string(
                        &mut flate2::read::GzDecoder::new(bytes.as_slice()),
                        &mut out,
                    )
                    .unwrap();
                    out
                }
                _ => String::from_utf8_lossy(&bytes).into_owned(),
            };
            assert!(!text.contains(needle), "{needle} in {}", f.display());
        }
    }
}

/// The review's case, as an operator tries it: a dozen KMS calls, one digit of one record
/// edited in the live journal. Verify fails at once, naming the record; the server's own
/// self-check counts the failure.
#[tokio::test]
async fn an_edited_journal_record_fails_verification_at_once() {
    let server = Server::start_configured("audit_self_check_seconds = 1", &[], None);
    let kms = kms_client(&server, ALICE);
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    for i in 0..12 {
        kms.encrypt()
            .key_id(&arn)
            .plaintext(Blob::new(b"x".to_vec()))
            .encryption_context("order", format!("{}", 1000 + i))
            .send()
            .await
            .unwrap();
    }
    let config = admin_config(&server);
    let (ok, out) = coffer_command(&config, "audit", &["verify"]);
    assert!(ok, "{out}");
    assert!(out.contains("the trail is intact"), "{out}");
    let checked: usize = out
        .split(" records checked")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(checked >= 13, "{out}");

    let path = server.data_dir().join("audit/journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"1005\""));
    std::fs::write(&path, text.replacen("\"1005\"", "\"1006\"", 1)).unwrap();
    let (ok, out) = coffer_command(&config, "audit", &["verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL audit/journal.jsonl line") && l.contains("was changed")),
        "{out}"
    );

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, metrics) = http_get(&format!("{}/metrics", server.endpoint()));
    let failures: f64 = metrics
        .lines()
        .find(|l| l.starts_with("coffer_audit_integrity_failures_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    assert!(failures >= 1.0, "{metrics}");
}

/// The newest records of a burst, removed while the server is down right after a crash (with
/// the anchor file), are missed no more: the anchor in the metadata store moves with each
/// batch the lookup index takes, a few milliseconds behind the journal, not once a second.
#[tokio::test]
async fn records_removed_right_after_a_crash_are_caught() {
    let mut server = Server::start();
    let kms = kms_client(&server, ALICE);
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    // Past the writer's first anchoring, inside its one-second period.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..8 {
        kms.generate_random()
            .number_of_bytes(8)
            .send()
            .await
            .unwrap();
    }
    kms.describe_key().key_id(&arn).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.kill9();

    let audit = server.data_dir().join("audit");
    let journal = audit.join("journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    let last = kept.last().unwrap().to_owned();
    assert!(last.contains("DescribeKey"), "{last}");
    std::fs::write(&journal, format!("{}\n", kept[..kept.len() - 3].join("\n"))).unwrap();
    let _ = std::fs::remove_file(audit.join("chain-anchor.json"));

    server.restart();
    let (ok, out) = coffer_command(&admin_config(&server), "audit", &["verify"]);
    assert!(!ok, "three records removed at the end passed: {out}");
    assert!(out.contains("FAIL"), "{out}");
}
