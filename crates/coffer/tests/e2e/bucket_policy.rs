//! Bucket policies through `aws-sdk-s3`: the API, the three classic encryption rules of the
//! README, deny over allow, access for other users (presigned URLs too), each condition
//! operator family, and the policy checked before SSE header validation.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use base64::Engine as _;

use crate::common::*;
use crate::kms::kms_client;

const BOB_ARN: &str = "arn:aws:iam::000000000000:user/bob";

async fn put_policy(c: &aws_sdk_s3::Client, bucket: &str, policy: &str) {
    c.put_bucket_policy()
        .bucket(bucket)
        .policy(policy)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
}

async fn put(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    sse: Option<ServerSideEncryption>,
) -> Result<(), (Option<String>, u16)> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"data"))
        .set_server_side_encryption(sse)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| err_code(&e))
}

async fn get(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, (Option<String>, u16)> {
    match c.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => Ok(body_bytes(o).await),
        Err(e) => Err(err_code(&e)),
    }
}

const DENIED: (Option<&str>, u16) = (Some("AccessDenied"), 403);

fn denied(r: Result<impl std::fmt::Debug, (Option<String>, u16)>) {
    let e = r.expect_err("expected AccessDenied");
    assert_eq!((e.0.as_deref(), e.1), DENIED);
}

#[tokio::test]
async fn the_policy_api() {
    let server = Server::start();
    let (alice, bob) = (server.alice(), server.client(BOB));
    alice.create_bucket().bucket("pol").send().await.unwrap();
    let e = alice
        .get_bucket_policy()
        .bucket("pol")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchBucketPolicy".into()), 404));
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"read","Effect":"Allow","Principal":{{"AWS":"{BOB_ARN}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}}]}}"#
    );
    put_policy(&alice, "pol", &policy).await;
    let got = alice
        .get_bucket_policy()
        .bucket("pol")
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), Some(policy.as_str()));
    let status = alice
        .get_bucket_policy_status()
        .bucket("pol")
        .send()
        .await
        .unwrap();
    assert_eq!(status.policy_status().unwrap().is_public(), Some(false));
    put_policy(
        &alice,
        "pol",
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}"#,
    )
    .await;
    let status = alice
        .get_bucket_policy_status()
        .bucket("pol")
        .send()
        .await
        .unwrap();
    assert_eq!(status.policy_status().unwrap().is_public(), Some(true));

    // Malformed: bad JSON, a bad Effect, another bucket's resource. Each says why.
    for (bad, hint) in [
        ("{not json", ""),
        (
            r#"{"Statement":[{"Effect":"Perhaps","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}"#,
            "Effect",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#,
            "invalid resource",
        ),
    ] {
        let e = alice
            .put_bucket_policy()
            .bucket("pol")
            .policy(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e), (Some("MalformedPolicy".into()), 400), "{bad}");
        let raw = format!("{:?}", e);
        assert!(raw.contains(hint), "{raw}");
    }
    // Only the owner manages the policy.
    let e = bob
        .put_bucket_policy()
        .bucket("pol")
        .policy(&policy)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
    alice
        .delete_bucket_policy()
        .bucket("pol")
        .send()
        .await
        .unwrap();
    let e = alice
        .get_bucket_policy()
        .bucket("pol")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 404);
}

#[tokio::test]
async fn other_users_get_what_the_policy_grants_and_deny_wins() {
    let server = Server::start();
    let (alice, bob) = (server.alice(), server.client(BOB));
    alice.create_bucket().bucket("shared").send().await.unwrap();
    for key in ["public/a", "public/secret-1", "private/x"] {
        put(&alice, "shared", key, None).await.unwrap();
    }
    // Without a policy bob is a stranger.
    denied(get(&bob, "shared", "public/a").await);
    put_policy(
        &alice,
        "shared",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[
              {{"Effect":"Allow","Principal":{{"AWS":"{BOB_ARN}"}},"Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::shared/public/*"}},
              {{"Effect":"Allow","Principal":{{"AWS":"{BOB_ARN}"}},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared",
                "Condition":{{"StringLike":{{"s3:prefix":"public/*"}}}}}},
              {{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/public/secret*"}}
            ]}}"#
        ),
    )
    .await;
    assert_eq!(get(&bob, "shared", "public/a").await.unwrap(), b"data");
    denied(get(&bob, "shared", "public/secret-1").await);
    denied(get(&alice, "shared", "public/secret-1").await); // deny binds the owner too
    denied(get(&bob, "shared", "private/x").await);
    put(&bob, "shared", "public/from-bob", None).await.unwrap();
    denied(put(&bob, "shared", "private/from-bob", None).await);
    // s3:prefix: bob may list public/ only.
    let listed = bob
        .list_objects_v2()
        .bucket("shared")
        .prefix("public/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(3));
    let e = bob
        .list_objects_v2()
        .bucket("shared")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
    // DeleteObjects reports the keys bob may not delete.
    let out = bob
        .delete_objects()
        .bucket("shared")
        .delete(
            aws_sdk_s3::types::Delete::builder()
                .objects(
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key("public/from-bob")
                        .build()
                        .unwrap(),
                )
                .objects(
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key("private/x")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.errors().len(), 2, "{out:?}"); // bob has no s3:DeleteObject at all
    assert!(
        out.errors()
            .iter()
            .all(|e| e.code() == Some("AccessDenied"))
    );

    // A presigned URL carries its signer's rights.
    let presign = |c: &aws_sdk_s3::Client, key: &'static str| {
        let c = c.clone();
        async move {
            c.get_object()
                .bucket("shared")
                .key(key)
                .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
                .await
                .unwrap()
                .uri()
                .to_owned()
        }
    };
    let (status, _) = http_get(&presign(&bob, "public/a").await);
    assert_eq!(status, 200);
    let (status, _) = http_get(&presign(&bob, "private/x").await);
    assert_eq!(status, 403);
    let (status, _) = http_get(&presign(&alice, "private/x").await);
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_three_readme_policies() {
    let server = Server::start();
    let (alice, kms) = (server.alice(), kms_client(&server, ALICE));
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    // Each policy is taken from the README itself, with its bucket and key filled in.
    let policy_after = |marker: &str| -> String {
        let start = readme
            .find(marker)
            .unwrap_or_else(|| panic!("{marker} in README"));
        let json_start = start + readme[start..].find("```json\n").unwrap() + 8;
        let json_end = json_start + readme[json_start..].find("```").unwrap();
        readme[json_start..json_end].to_owned()
    };

    // 1. Deny unencrypted uploads: the request must ask for encryption.
    alice
        .create_bucket()
        .bucket("enc-required")
        .send()
        .await
        .unwrap();
    put_policy(
        &alice,
        "enc-required",
        &policy_after("Deny uploads that do not ask for encryption")
            .replace("BUCKET", "enc-required"),
    )
    .await;
    denied(put(&alice, "enc-required", "plain", None).await);
    put(
        &alice,
        "enc-required",
        "s3",
        Some(ServerSideEncryption::Aes256),
    )
    .await
    .unwrap();
    put(
        &alice,
        "enc-required",
        "kms",
        Some(ServerSideEncryption::AwsKms),
    )
    .await
    .unwrap();

    // 2. Require one KMS key (named by ARN, id or alias: the key S3 will use counts).
    alice
        .create_bucket()
        .bucket("one-key")
        .send()
        .await
        .unwrap();
    let k = kms.create_key().send().await.unwrap();
    let (id, arn) = (
        k.key_metadata().unwrap().key_id().to_owned(),
        k.key_metadata().unwrap().arn().unwrap().to_owned(),
    );
    kms.create_alias()
        .alias_name("alias/the-key")
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    let other = kms.create_key().send().await.unwrap();
    let other_id = other.key_metadata().unwrap().key_id().to_owned();
    put_policy(
        &alice,
        "one-key",
        &policy_after("Require one KMS key")
            .replace("BUCKET", "one-key")
            .replace("KEY_ARN", &arn),
    )
    .await;
    let put_key = |key_id: &str, name: &str| {
        alice
            .put_object()
            .bucket("one-key")
            .key(name)
            .body(ByteStream::from_static(b"x"))
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(key_id)
            .send()
    };
    put_key(&arn, "by-arn").await.unwrap();
    put_key(&id, "by-id").await.unwrap();
    put_key("alias/the-key", "by-alias").await.unwrap();
    let e = put_key(&other_id, "other").await.unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
    denied(put(&alice, "one-key", "s3", Some(ServerSideEncryption::Aes256)).await);
    denied(
        put(
            &alice,
            "one-key",
            "managed",
            Some(ServerSideEncryption::AwsKms),
        )
        .await,
    );

    // 3. Deny requests that do not use TLS.
    alice
        .create_bucket()
        .bucket("tls-only")
        .send()
        .await
        .unwrap();
    put(&alice, "tls-only", "k", None).await.unwrap();
    put_policy(
        &alice,
        "tls-only",
        &policy_after("Deny requests that do not use TLS").replace("BUCKET", "tls-only"),
    )
    .await;
    denied(get(&alice, "tls-only", "k").await);
    let ca = std::fs::read(server.data_dir().join("tls/cert.pem")).unwrap();
    let tls = server.https_client(ALICE, &ca);
    assert_eq!(get(&tls, "tls-only", "k").await.unwrap(), b"data");
    // Even the policy itself is now out of reach over plain HTTP.
    let e = alice
        .delete_bucket_policy()
        .bucket("tls-only")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 403);
    tls.delete_bucket_policy()
        .bucket("tls-only")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_policy_is_checked_before_sse_headers_are_validated() {
    let server = Server::start_configured(
        "block_sse_c_on_new_buckets = false",
        &["--allow-sse-c-over-http"],
        None,
    );
    let alice = server.alice();
    alice
        .create_bucket()
        .bucket("no-sse-c")
        .send()
        .await
        .unwrap();
    put_policy(
        &alice,
        "no-sse-c",
        r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::no-sse-c/*",
            "Condition":{"Null":{"s3:x-amz-server-side-encryption-customer-algorithm":"false"}}}]}"#,
    )
    .await;
    // SSE-C headers whose MD5 is wrong: without the policy a 400; with it, 403 first.
    let key = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
    let wrong_md5 = base64::engine::general_purpose::STANDARD.encode([0u8; 16]);
    let e = alice
        .put_object()
        .bucket("no-sse-c")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&wrong_md5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
    alice
        .create_bucket()
        .bucket("open-sse-c")
        .send()
        .await
        .unwrap();
    let e = alice
        .put_object()
        .bucket("open-sse-c")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&wrong_md5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidArgument".into()), 400));
}

#[tokio::test]
async fn condition_operators_over_request_keys() {
    let server = Server::start();
    let (alice, bob) = (server.alice(), server.client(BOB));
    alice.create_bucket().bucket("ops").send().await.unwrap();
    put(&alice, "ops", "k", None).await.unwrap();
    let grant = |condition: &str| {
        format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::ops/*","Condition":{condition}}}]}}"#
        )
    };
    let future = "2999-01-01T00:00:00Z";
    let past = "2001-01-01T00:00:00Z";
    // (condition, whether bob may read)
    let cases = [
        (
            r#"{"StringEquals":{"aws:username":"bob"}}"#.to_owned(),
            true,
        ),
        (
            r#"{"StringNotEquals":{"aws:username":"bob"}}"#.to_owned(),
            false,
        ),
        (r#"{"StringLike":{"aws:username":"b*"}}"#.to_owned(), true),
        (
            r#"{"StringNotLike":{"aws:username":"b*"}}"#.to_owned(),
            false,
        ),
        (
            r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/bo?"}}"#.to_owned(),
            true,
        ),
        (
            r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/bob"}}"#.to_owned(),
            false,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}"#.to_owned(),
            true,
        ),
        (
            r#"{"NotIpAddress":{"aws:SourceIp":"127.0.0.0/8"}}"#.to_owned(),
            false,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#.to_owned(),
            false,
        ),
        (
            format!(r#"{{"DateLessThan":{{"aws:CurrentTime":"{future}"}}}}"#),
            true,
        ),
        (
            format!(r#"{{"DateGreaterThan":{{"aws:CurrentTime":"{future}"}}}}"#),
            false,
        ),
        (
            format!(r#"{{"DateGreaterThan":{{"aws:CurrentTime":"{past}"}}}}"#),
            true,
        ),
        (
            r#"{"NumericGreaterThan":{"aws:EpochTime":"1000000000"}}"#.to_owned(),
            true,
        ),
        (
            r#"{"NumericLessThan":{"aws:EpochTime":"1000000000"}}"#.to_owned(),
            false,
        ),
        (
            r#"{"Bool":{"aws:SecureTransport":"false"}}"#.to_owned(),
            true,
        ),
        (
            r#"{"Bool":{"aws:SecureTransport":"true"}}"#.to_owned(),
            false,
        ),
        (
            r#"{"Null":{"s3:x-amz-server-side-encryption":"true"}}"#.to_owned(),
            true,
        ),
        (
            r#"{"Null":{"s3:x-amz-server-side-encryption":"false"}}"#.to_owned(),
            false,
        ),
        (
            r#"{"StringEqualsIfExists":{"s3:x-amz-server-side-encryption":"aws:kms"}}"#.to_owned(),
            true,
        ),
    ];
    for (condition, allowed) in cases {
        put_policy(&alice, "ops", &grant(&condition)).await;
        let got = get(&bob, "ops", "k").await;
        assert_eq!(got.is_ok(), allowed, "{condition}: {got:?}");
    }
}

#[tokio::test]
async fn a_key_policy_still_binds_a_user_the_bucket_lets_in() {
    let server = Server::start();
    let (alice, bob, kms) = (
        server.alice(),
        server.client(BOB),
        kms_client(&server, ALICE),
    );
    alice
        .create_bucket()
        .bucket("kms-shared")
        .send()
        .await
        .unwrap();
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    alice
        .put_object()
        .bucket("kms-shared")
        .key("report")
        .body(ByteStream::from_static(b"q3"))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&arn)
        .send()
        .await
        .unwrap();
    put(&alice, "kms-shared", "plain", None).await.unwrap();
    // The bucket lets bob read everything...
    put_policy(
        &alice,
        "kms-shared",
        &format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{BOB_ARN}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::kms-shared/*"}}]}}"#
        ),
    )
    .await;
    assert_eq!(get(&bob, "kms-shared", "plain").await.unwrap(), b"data");
    // ...but the key's default policy grants only the account's admins: bob gets
    // AccessDenied on the SSE-KMS object while its owner reads it.
    denied(get(&bob, "kms-shared", "report").await);
    assert_eq!(get(&alice, "kms-shared", "report").await.unwrap(), b"q3");
}
