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

mod defaults_and_bucket_keys;
mod operations;

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
pub(crate) fn kms_run_due_in(server: &Server, days: i64) {
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
    // Every GET above read its key's record together with the object (over PostgreSQL,
    // in one round trip), and the KMS decided on that record.
    let from_object_read = key_reads(&server, "request_read");
    assert!(from_object_read >= 6, "{from_object_read}");
}

/// A PUT under SSE-KMS that names its key by id or ARN, or uses `aws/s3` once its key is
/// known, reads the key's record with its bucket (over PostgreSQL, in one round trip), and
/// the KMS decides on that record without reading it again (so the call runs on the
/// runtime worker): a key disabled meanwhile is refused (see
/// `key_states_rotation_and_deletion_reach_the_objects`).
#[tokio::test]
async fn a_kms_put_reads_its_key_with_its_bucket() {
    let server = Server::start();
    let (c, kms) = (server.alice(), kms_client(&server, ALICE));
    c.create_bucket().bucket("onetrip").send().await.unwrap();
    let (id, arn) = new_key(&kms).await;
    // The first write under `aws/s3` learns its key (and creates it).
    put_kms(&c, "onetrip", "first", b"0", None).await.unwrap();
    let before = (
        key_reads(&server, "request_read"),
        key_reads(&server, "store"),
    );
    for (name, key) in [
        ("by-id", Some(&id)),
        ("by-arn", Some(&arn)),
        ("default", None),
    ] {
        let out = put_kms(
            &c,
            "onetrip",
            name,
            name.as_bytes(),
            key.map(|k| k.as_str()),
        )
        .await
        .unwrap();
        if key.is_some() {
            assert_eq!(out.ssekms_key_id(), Some(arn.as_str()), "{name}");
        }
        assert_eq!(get(&c, "onetrip", name).await.unwrap(), name.as_bytes());
    }
    let taken = key_reads(&server, "request_read") - before.0;
    let read_again = key_reads(&server, "store") - before.1;
    // Three PUTs and three GETs, each taking its key from its own first read, and the KMS
    // reading none itself.
    assert!(taken >= 6, "{taken}");
    assert_eq!(read_again, 0);
}

/// Prometheus's count of KMS key records the KMS used, by where they came from: `store`
/// (read by the KMS itself) or `request_read`.
fn key_reads(server: &Server, via: &str) -> u64 {
    let (_, text) = http_get(&format!("{}/metrics", server.endpoint()));
    text.lines()
        .filter(|l| {
            l.starts_with("coffer_kms_key_reads_total") && l.contains(&format!("via=\"{via}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
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
