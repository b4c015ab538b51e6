//! Operator commands on KMS keys, and resealing objects with UpdateObjectEncryption.

use super::*;

#[tokio::test]
async fn the_kms_command_lists_describes_rotates_and_schedules_deletion() {
    let mut server = Server::start();
    let kms = kms_client(&server, ALICE);
    let (id, arn) = new_key(&kms).await;
    kms.create_alias()
        .alias_name("alias/ledger")
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    let config = crate::rekey::admin_config(&server);
    let run = |args: &[&str]| crate::rekey::coffer_command(&config, "kms", args);

    // Through the running server.
    let (ok, out) = run(&["list-keys"]);
    assert!(ok, "{out}");
    let row = out.lines().find(|l| l.starts_with(&id)).expect(&out);
    assert!(
        row.contains("Enabled") && row.contains("CUSTOMER") && row.contains("alias/ledger"),
        "{row}"
    );
    let (ok, out) = run(&["rotate", "alias/ledger"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&arn) && out.contains("2 material versions"),
        "{out}"
    );
    let (ok, out) = run(&["describe-key", &id]);
    assert!(ok, "{out}");
    assert!(
        out.contains("Material versions") && out.contains("Policy:"),
        "{out}"
    );
    let (ok, out) = run(&["schedule-deletion", &id, "--days", "3"]);
    assert!(!ok, "the waiting period is 7 to 30 days: {out}");
    let (ok, out) = run(&["schedule-deletion", &id, "--days", "7"]);
    assert!(ok, "{out}");
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        d.key_metadata().unwrap().key_state(),
        Some(&aws_sdk_kms::types::KeyState::PendingDeletion)
    );

    // And on the idle data directory.
    server.kill9();
    let (ok, out) = run(&["list-keys", "--json"]);
    assert!(ok, "{out}");
    assert!(out.contains("PendingDeletion"), "{out}");
}

#[tokio::test]
async fn update_object_encryption_reseals_without_rewriting() {
    let server = Server::start_configured(
        "block_sse_c_on_new_buckets = false",
        &["--allow-sse-c-over-http"],
        None,
    );
    let (c, kms) = (server.alice(), kms_client(&server, ALICE));
    c.create_bucket().bucket("upd").send().await.unwrap();
    let (_, arn) = new_key(&kms).await;
    let (_, arn2) = new_key(&kms).await;
    let data = pattern(200_000, 81);
    let put = c
        .put_object()
        .bucket("upd")
        .key("obj")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let blobs_before: Vec<Vec<u8>> = blob_files_settled(&server, 1)
        .await
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let update = |key: &str, arn: &str, bucket_key: Option<bool>| {
        let mut sse = aws_sdk_s3::types::SsekmsEncryption::builder().kms_key_arn(arn);
        if let Some(b) = bucket_key {
            sse = sse.bucket_key_enabled(b);
        }
        c.update_object_encryption()
            .bucket("upd")
            .key(key)
            .object_encryption(aws_sdk_s3::types::ObjectEncryption::Ssekms(
                sse.build().unwrap(),
            ))
            .send()
    };

    // SSE-S3 -> SSE-KMS: only the data key is re-sealed; data and ETag stay.
    update("obj", &arn, None).await.unwrap();
    let head = c
        .head_object()
        .bucket("upd")
        .key("obj")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(arn.as_str()));
    assert_eq!(head.e_tag(), put.e_tag(), "the ETag is kept");
    let blobs_after: Vec<Vec<u8>> = blob_files_settled(&server, 1)
        .await
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    if !shared_backends() {
        assert_eq!(blobs_before, blobs_after, "no data rewritten");
    }
    assert_eq!(get(&c, "upd", "obj").await.unwrap(), data);

    // SSE-KMS -> another key, with a bucket key.
    update("obj", &arn2, Some(true)).await.unwrap();
    let got = c
        .get_object()
        .bucket("upd")
        .key("obj")
        .send()
        .await
        .unwrap();
    assert_eq!(got.ssekms_key_id(), Some(arn2.as_str()));
    assert_eq!(got.bucket_key_enabled(), Some(true));
    assert_eq!(body_bytes(got).await, data);

    // Refusals: not a key ARN; an SSE-C source; a missing object.
    let e = update("obj", "alias/aws/s3", None).await.unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let raw = [3u8; 32];
    let md5 = {
        use md5::Digest as _;
        B64.encode(md5::Md5::digest(raw))
    };
    c.put_object()
        .bucket("upd")
        .key("customer")
        .body(ByteStream::from_static(b"c"))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(B64.encode(raw))
        .sse_customer_key_md5(md5)
        .send()
        .await
        .unwrap();
    let e = update("customer", &arn, None).await.unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let e = update("missing", &arn, None).await.unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchKey".into()), 404));
}
