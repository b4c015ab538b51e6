//! SSE-KMS through `aws-sdk-s3` and `aws-sdk-kms`: data keys from the built-in KMS as the
//! requesting user, the `aws/s3` managed key, key states and policies reaching S3, rotation,
//! deletion, bucket defaults, copies between modes, multipart, and S3 Bucket Keys.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use base64::Engine as _;

use crate::common::*;
use crate::kms::kms_client;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

async fn new_key(kms: &aws_sdk_kms::Client) -> (String, String) {
    let k = kms.create_key().send().await.unwrap();
    let m = k.key_metadata().unwrap();
    (m.key_id().to_owned(), m.arn().unwrap().to_owned())
}

async fn put_kms(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    data: &[u8],
    kms_key: Option<&str>,
) -> Result<aws_sdk_s3::operation::put_object::PutObjectOutput, (Option<String>, u16)> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .set_ssekms_key_id(kms_key.map(str::to_owned))
        .send()
        .await
        .map_err(|e| err_code(&e))
}

async fn get(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, (Option<String>, u16)> {
    match c.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => Ok(body_bytes(out).await),
        Err(e) => Err(err_code(&e)),
    }
}

/// Prometheus's count of KMS requests S3 made for `operation`.
fn s3_kms_calls(server: &Server, operation: &str) -> u64 {
    let (_, text) = http_get(&format!("{}/metrics", server.endpoint()));
    text.lines()
        .filter(|l| {
            l.starts_with("coffer_kms_requests_total")
                && l.contains(&format!("operation=\"{operation}\""))
                && l.contains("via=\"s3\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Runs the KMS's scheduled work as of `days` from now, through the admin API.
fn kms_run_due_in(server: &Server, days: i64) {
    let at = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64)
        + days * 86_400_000;
    let body = format!("{{\"at_ms\":{at}}}");
    let (status, out) = signed_raw(
        server,
        "POST",
        "/",
        &[("x-coffer-admin", "kms-run-due")],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{out}");
}

#[tokio::test]
async fn objects_under_kms_keys_echo_the_key_and_read_back() {
    let server = Server::start();
    let (c, kms) = (server.alice(), kms_client(&server, ALICE));
    c.create_bucket().bucket("kmsb").send().await.unwrap();
    let (id, arn) = new_key(&kms).await;
    kms.create_alias()
        .alias_name("alias/photos")
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    let data = pattern(150_000, 61);

    // Any id form; the response names the full ARN and no bucket key.
    for (n, given) in [id.as_str(), arn.as_str(), "alias/photos"]
        .iter()
        .enumerate()
    {
        let out = put_kms(&c, "kmsb", &format!("o{n}"), &data, Some(given))
            .await
            .unwrap();
        assert_eq!(
            out.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms)
        );
        assert_eq!(out.ssekms_key_id(), Some(arn.as_str()), "{given}");
        assert_eq!(out.bucket_key_enabled(), None);
        assert_ne!(
            out.e_tag(),
            Some(format!("\"{}\"", md5_hex(&data)).as_str())
        );
    }
    let got = c
        .get_object()
        .bucket("kmsb")
        .key("o0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(got.ssekms_key_id(), Some(arn.as_str()));
    assert_eq!(body_bytes(got).await, data);
    let head = c
        .head_object()
        .bucket("kmsb")
        .key("o2")
        .send()
        .await
        .unwrap();
    assert_eq!(head.ssekms_key_id(), Some(arn.as_str()));
    let range = c
        .get_object()
        .bucket("kmsb")
        .key("o1")
        .range("bytes=70000-70009")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(range).await, &data[70000..70010]);

    // Without a key id: the aws/s3 managed key, created on first use.
    let out = put_kms(&c, "kmsb", "managed", b"managed", None)
        .await
        .unwrap();
    let managed = kms
        .describe_key()
        .key_id("alias/aws/s3")
        .send()
        .await
        .unwrap();
    let m = managed.key_metadata().unwrap();
    assert_eq!(out.ssekms_key_id(), m.arn());
    assert_eq!(
        m.key_manager(),
        Some(&aws_sdk_kms::types::KeyManagerType::Aws)
    );
    assert_eq!(
        m.description(),
        Some("Default key that protects my S3 objects when no other key is defined")
    );
    assert_eq!(get(&c, "kmsb", "managed").await.unwrap(), b"managed");
    let e = kms
        .disable_key()
        .key_id("alias/aws/s3")
        .send()
        .await
        .unwrap_err();
    assert!(
        crate::kms::kms_err(&e).0.is_some(),
        "nobody changes the AWS managed key"
    );

    // The caller's encryption context is kept and given back to the KMS on reads.
    let ctx = B64.encode(r#"{"department":"finance"}"#);
    c.put_object()
        .bucket("kmsb")
        .key("ctx")
        .body(ByteStream::from_static(b"ledger"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&id)
        .ssekms_encryption_context(&ctx)
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "kmsb", "ctx").await.unwrap(), b"ledger");

    // Request errors, as S3 reports them.
    assert_eq!(
        put_kms(&c, "kmsb", "x", b"x", Some("fake-key-id"))
            .await
            .unwrap_err(),
        (Some("KMS.NotFoundException".into()), 400)
    );
    assert_eq!(
        put_kms(
            &c,
            "kmsb",
            "x",
            b"x",
            Some("1234abcd-12ab-34cd-56ef-1234567890ab")
        )
        .await
        .unwrap_err(),
        (Some("KMS.NotFoundException".into()), 400)
    );
    let e = c
        .put_object()
        .bucket("kmsb")
        .key("x")
        .body(ByteStream::from_static(b"x"))
        .ssekms_key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidArgument".into()), 400));
    let e = c
        .put_object()
        .bucket("kmsb")
        .key("x")
        .body(ByteStream::from_static(b"x"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_encryption_context("not base64 json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidArgument".into()), 400));
}

#[tokio::test]
async fn key_states_rotation_and_deletion_reach_the_objects() {
    let server = Server::start();
    let (c, kms) = (server.alice(), kms_client(&server, ALICE));
    c.create_bucket().bucket("states").send().await.unwrap();
    let (doomed, _) = new_key(&kms).await;
    let (kept, _) = new_key(&kms).await;
    put_kms(&c, "states", "a", b"under doomed", Some(&doomed))
        .await
        .unwrap();
    put_kms(&c, "states", "b", b"under kept", Some(&kept))
        .await
        .unwrap();

    // Disabling blocks reads and writes at once; enabling restores them.
    kms.disable_key().key_id(&doomed).send().await.unwrap();
    assert_eq!(
        get(&c, "states", "a").await.unwrap_err(),
        (Some("KMS.DisabledException".into()), 400)
    );
    assert_eq!(
        put_kms(&c, "states", "c", b"x", Some(&doomed))
            .await
            .unwrap_err(),
        (Some("KMS.DisabledException".into()), 400)
    );
    kms.enable_key().key_id(&doomed).send().await.unwrap();
    assert_eq!(get(&c, "states", "a").await.unwrap(), b"under doomed");

    // Rotation: old objects still read, new ones use the new material.
    kms.rotate_key_on_demand()
        .key_id(&doomed)
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "states", "a").await.unwrap(), b"under doomed");
    put_kms(&c, "states", "c", b"after rotation", Some(&doomed))
        .await
        .unwrap();
    assert_eq!(get(&c, "states", "c").await.unwrap(), b"after rotation");

    // Pending deletion refuses; when the window ends the material is destroyed and exactly
    // the objects under that key become unreadable.
    kms.schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(
        get(&c, "states", "a").await.unwrap_err(),
        (Some("KMS.KMSInvalidStateException".into()), 400)
    );
    kms_run_due_in(&server, 6);
    kms.describe_key().key_id(&doomed).send().await.unwrap();
    kms_run_due_in(&server, 8);
    let e = kms.describe_key().key_id(&doomed).send().await.unwrap_err();
    assert_eq!(
        crate::kms::kms_err(&e).0.as_deref(),
        Some("NotFoundException")
    );
    for key in ["a", "c"] {
        assert_eq!(
            get(&c, "states", key).await.unwrap_err(),
            (Some("KMS.NotFoundException".into()), 400),
            "{key}"
        );
    }
    assert_eq!(get(&c, "states", "b").await.unwrap(), b"under kept");
}

#[tokio::test]
async fn the_key_policy_decides_who_may_read_through_s3() {
    let server = Server::start();
    let (admin_kms, bob) = (kms_client(&server, ALICE), server.client(BOB));
    bob.create_bucket().bucket("bobs").send().await.unwrap();
    let (id, arn) = new_key(&admin_kms).await;
    // Bob may make data keys through S3, but not decrypt them.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:user/bob"}},"Action":"kms:GenerateDataKey","Resource":"{arn}",
              "Condition":{{"StringEquals":{{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}}}}
        ]}}"#
    );
    admin_kms
        .put_key_policy()
        .key_id(&id)
        .policy(&policy)
        .send()
        .await
        .unwrap();
    put_kms(&bob, "bobs", "secret", b"bob's", Some(&id))
        .await
        .unwrap();
    assert_eq!(
        get(&bob, "bobs", "secret").await.unwrap_err(),
        (Some("AccessDenied".into()), 403)
    );
    // Directly (not via S3) bob may not even make data keys.
    let e = kms_client(&server, BOB)
        .generate_data_key()
        .key_id(&id)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::kms::kms_err(&e).0.as_deref(),
        Some("AccessDeniedException")
    );
    // Granting Decrypt lets him read.
    let policy = policy.replace(
        r#""Action":"kms:GenerateDataKey""#,
        r#""Action":["kms:GenerateDataKey","kms:Decrypt"]"#,
    );
    admin_kms
        .put_key_policy()
        .key_id(&id)
        .policy(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(get(&bob, "bobs", "secret").await.unwrap(), b"bob's");
}

#[tokio::test]
async fn bucket_defaults_copies_and_multipart_under_kms() {
    let server = Server::start_configured(
        "block_sse_c_on_new_buckets = false",
        &["--allow-sse-c-over-http"],
        None,
    );
    let (c, kms) = (server.alice(), kms_client(&server, ALICE));
    c.create_bucket().bucket("defaults").send().await.unwrap();
    let (id, arn) = new_key(&kms).await;
    let (_, other_arn) = new_key(&kms).await;
    c.put_bucket_encryption()
        .bucket("defaults")
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .kms_master_key_id(&id)
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
    let got = c
        .get_bucket_encryption()
        .bucket("defaults")
        .send()
        .await
        .unwrap();
    let rule = &got.server_side_encryption_configuration().unwrap().rules()[0];
    let by_default = rule.apply_server_side_encryption_by_default().unwrap();
    assert_eq!(
        by_default.kms_master_key_id(),
        Some(id.as_str()),
        "echoed as given"
    );

    // No headers: the bucket default.
    let data = pattern(90_000, 71);
    let out = c
        .put_object()
        .bucket("defaults")
        .key("plain-request")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(out.ssekms_key_id(), Some(arn.as_str()));

    // Copies: KMS -> SSE-S3 (MD5 ETag again), SSE-S3 -> KMS, KMS key A -> key B in place,
    // KMS -> SSE-C and back.
    let out = c
        .copy_object()
        .bucket("defaults")
        .key("as-s3")
        .copy_source("defaults/plain-request")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(
        out.copy_object_result().unwrap().e_tag(),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );
    let out = c
        .copy_object()
        .bucket("defaults")
        .key("plain-request")
        .copy_source("defaults/plain-request")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&other_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(out.ssekms_key_id(), Some(other_arn.as_str()));
    assert_eq!(get(&c, "defaults", "plain-request").await.unwrap(), data);
    let raw: [u8; 32] = pattern(32, 9).try_into().unwrap();
    let (k64, md5) = (B64.encode(raw), {
        use md5::Digest as _;
        B64.encode(md5::Md5::digest(raw))
    });
    c.copy_object()
        .bucket("defaults")
        .key("as-c")
        .copy_source("defaults/plain-request")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k64)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    let out = c
        .copy_object()
        .bucket("defaults")
        .key("back-to-kms")
        .copy_source("defaults/as-c")
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&k64)
        .copy_source_sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.ssekms_key_id(),
        Some(arn.as_str()),
        "the bucket default applies"
    );
    assert_eq!(get(&c, "defaults", "back-to-kms").await.unwrap(), data);

    // Multipart under a KMS key: every step echoes it.
    let up = c
        .create_multipart_upload()
        .bucket("defaults")
        .key("mp")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&other_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(up.ssekms_key_id(), Some(other_arn.as_str()));
    let p1 = pattern(5 * 1024 * 1024, 72);
    let part = c
        .upload_part()
        .bucket("defaults")
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from(p1.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(part.ssekms_key_id(), Some(other_arn.as_str()));
    let part2 = c
        .upload_part()
        .bucket("defaults")
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .part_number(2)
        .body(ByteStream::from_static(b"tail"))
        .send()
        .await
        .unwrap();
    let done = c
        .complete_multipart_upload()
        .bucket("defaults")
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .parts(
                    CompletedPart::builder()
                        .part_number(2)
                        .e_tag(part2.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(done.ssekms_key_id(), Some(other_arn.as_str()));
    let whole: Vec<u8> = [&p1[..], b"tail"].concat();
    assert_eq!(get(&c, "defaults", "mp").await.unwrap(), whole);
}

#[tokio::test]
async fn bucket_keys_cut_kms_calls_and_still_enforce_the_key() {
    let server = Server::start();
    let (c, kms) = (server.alice(), kms_client(&server, ALICE));
    c.create_bucket().bucket("bkeys").send().await.unwrap();
    let (id, arn) = new_key(&kms).await;
    let n = 40u64;

    let before = s3_kms_calls(&server, "GenerateDataKey");
    for i in 0..n {
        put_kms(&c, "bkeys", &format!("plain/{i}"), b"x", Some(&id))
            .await
            .unwrap();
    }
    assert_eq!(
        s3_kms_calls(&server, "GenerateDataKey") - before,
        n,
        "one call per PUT"
    );

    let before = s3_kms_calls(&server, "GenerateDataKey");
    for i in 0..n {
        let out = c
            .put_object()
            .bucket("bkeys")
            .key(format!("bucket-key/{i}"))
            .body(ByteStream::from(format!("object {i}").into_bytes()))
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&id)
            .bucket_key_enabled(true)
            .send()
            .await
            .unwrap();
        assert_eq!(out.bucket_key_enabled(), Some(true));
        assert_eq!(out.ssekms_key_id(), Some(arn.as_str()));
    }
    assert_eq!(
        s3_kms_calls(&server, "GenerateDataKey") - before,
        1,
        "one bucket key for all of them"
    );
    let before = s3_kms_calls(&server, "Decrypt");
    for i in 0..n {
        let got = c
            .get_object()
            .bucket("bkeys")
            .key(format!("bucket-key/{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(got.bucket_key_enabled(), Some(true));
        assert_eq!(body_bytes(got).await, format!("object {i}").into_bytes());
    }
    assert_eq!(
        s3_kms_calls(&server, "Decrypt") - before,
        0,
        "the bucket key is cached"
    );

    // A restart empties the cache: one Decrypt opens the bucket key again.
    let mut server = server;
    server.restart();
    let c = server.alice();
    for i in 0..n {
        assert_eq!(
            get(&c, "bkeys", &format!("bucket-key/{i}")).await.unwrap(),
            format!("object {i}").into_bytes()
        );
    }
    assert_eq!(s3_kms_calls(&server, "Decrypt"), 1);

    // The cache does not outlive the key's state: disabling it blocks at once.
    let kms = kms_client(&server, ALICE);
    kms.disable_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        get(&c, "bkeys", "bucket-key/0").await.unwrap_err(),
        (Some("KMS.DisabledException".into()), 400)
    );

    // A bucket default with BucketKeyEnabled applies to header-less writes.
    let (id2, _) = new_key(&kms).await;
    c.put_bucket_encryption()
        .bucket("bkeys")
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .kms_master_key_id(&id2)
                                .build()
                                .unwrap(),
                        )
                        .bucket_key_enabled(true)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let out = c
        .put_object()
        .bucket("bkeys")
        .key("by-default")
        .body(ByteStream::from_static(b"d"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.bucket_key_enabled(), Some(true));
    assert_eq!(get(&c, "bkeys", "by-default").await.unwrap(), b"d");
}

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
    assert_eq!(blobs_before, blobs_after, "no data rewritten");
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
