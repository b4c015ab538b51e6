//! Finding records: CloudTrail's LookupEvents, and S3 data events when enabled.

use super::*;

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
