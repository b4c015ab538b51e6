//! The built-in KMS through `aws-sdk-kms`: keys, aliases, states, cryptographic operations,
//! rotation, key policies and request signing.

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState, Tag};

use crate::common::*;

pub fn kms_client(server: &Server, user: (&str, &str, &str)) -> Client {
    let config = aws_sdk_kms::Config::builder()
        .http_client(plain_http_client())
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            user.1, user.2, None, None, "test",
        ))
        .build();
    Client::from_conf(config)
}

/// The KMS error code and HTTP status of a failed call.
pub fn kms_err<E>(
    e: &aws_sdk_kms::error::SdkError<E, aws_sdk_kms::config::http::HttpResponse>,
) -> (Option<String>, u16)
where
    E: aws_sdk_kms::error::ProvideErrorMetadata,
{
    use aws_sdk_kms::error::ProvideErrorMetadata as _;
    let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    (e.code().map(str::to_owned), status)
}

fn code<E>(e: aws_sdk_kms::error::SdkError<E, aws_sdk_kms::config::http::HttpResponse>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata,
{
    kms_err(&e).0.unwrap_or_default()
}

#[tokio::test]
async fn keys_aliases_tags_and_states() {
    let server = Server::start();
    let kms = kms_client(&server, ALICE);
    let created = kms
        .create_key()
        .description("app data")
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("storage")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let meta = created.key_metadata().unwrap();
    let id = meta.key_id().to_owned();
    let arn = meta.arn().unwrap().to_owned();
    assert_eq!(arn, format!("arn:aws:kms:us-east-1:000000000000:key/{id}"));
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert!(meta.enabled());
    assert_eq!(meta.description(), Some("app data"));
    assert_eq!(
        meta.key_manager(),
        Some(&aws_sdk_kms::types::KeyManagerType::Customer)
    );
    assert_eq!(
        meta.key_spec(),
        Some(&aws_sdk_kms::types::KeySpec::SymmetricDefault)
    );

    // Every id form names it.
    kms.create_alias()
        .alias_name("alias/app")
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    for name in [
        id.clone(),
        arn.clone(),
        "alias/app".to_owned(),
        "arn:aws:kms:us-east-1:000000000000:alias/app".to_owned(),
    ] {
        let d = kms.describe_key().key_id(&name).send().await.unwrap();
        assert_eq!(d.key_metadata().unwrap().key_id(), id, "{name}");
    }
    let e = kms
        .describe_key()
        .key_id("fake-key-id")
        .send()
        .await
        .unwrap_err();
    assert_eq!(kms_err(&e), (Some("NotFoundException".into()), 400));
    assert!(format!("{:?}", e).contains("Invalid keyId 'fake-key-id'"));
    let e = kms
        .describe_key()
        .key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "NotFoundException");

    // Aliases: duplicates, AWS's prefix, update, list, delete.
    let e = kms
        .create_alias()
        .alias_name("alias/app")
        .target_key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "AlreadyExistsException");
    let e = kms
        .create_alias()
        .alias_name("alias/aws/mine")
        .target_key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidAliasNameException");
    let e = kms
        .create_alias()
        .alias_name("app2")
        .target_key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "ValidationException");
    let other = kms.create_key().send().await.unwrap();
    let other_id = other.key_metadata().unwrap().key_id().to_owned();
    kms.update_alias()
        .alias_name("alias/app")
        .target_key_id(&other_id)
        .send()
        .await
        .unwrap();
    let aliases = kms.list_aliases().key_id(&other_id).send().await.unwrap();
    assert_eq!(aliases.aliases().len(), 1);
    assert_eq!(aliases.aliases()[0].alias_name(), Some("alias/app"));
    assert_eq!(
        aliases.aliases()[0].target_key_id(),
        Some(other_id.as_str())
    );
    kms.delete_alias()
        .alias_name("alias/app")
        .send()
        .await
        .unwrap();
    let e = kms
        .describe_key()
        .key_id("alias/app")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "NotFoundException");

    // Listing pages.
    let page = kms.list_keys().limit(1).send().await.unwrap();
    assert_eq!(page.keys().len(), 1);
    assert!(page.truncated());
    let rest = kms
        .list_keys()
        .marker(page.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    let mut all: Vec<String> = page
        .keys()
        .iter()
        .chain(rest.keys())
        .map(|k| k.key_id().unwrap().to_owned())
        .collect();
    all.sort();
    let mut want = vec![id.clone(), other_id.clone()];
    want.sort();
    assert_eq!(all, want);

    // Description and tags.
    kms.update_key_description()
        .key_id(&id)
        .description("renamed")
        .send()
        .await
        .unwrap();
    kms.tag_resource()
        .key_id(&id)
        .tags(
            Tag::builder()
                .tag_key("env")
                .tag_value("prod")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    kms.untag_resource()
        .key_id(&id)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = kms.list_resource_tags().key_id(&id).send().await.unwrap();
    let tags: Vec<(&str, &str)> = tags
        .tags()
        .iter()
        .map(|t| (t.tag_key(), t.tag_value()))
        .collect();
    assert_eq!(tags, [("env", "prod")]);

    // States: disabled keys refuse cryptography; deletion waits 7-30 days; cancelling it
    // leaves the key disabled.
    let encrypt = |k: &str| {
        kms.encrypt()
            .key_id(k)
            .plaintext(Blob::new(b"secret".to_vec()))
            .send()
    };
    kms.disable_key().key_id(&id).send().await.unwrap();
    let e = encrypt(&id).await.unwrap_err();
    assert_eq!(code(e), "DisabledException");
    kms.enable_key().key_id(&id).send().await.unwrap();
    encrypt(&id).await.unwrap();
    let e = kms
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(6)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "ValidationException");
    let scheduled = kms
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(scheduled.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(scheduled.key_id(), Some(arn.as_str()));
    let e = encrypt(&id).await.unwrap_err();
    assert_eq!(code(e), "KMSInvalidStateException");
    let e = kms.disable_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(code(e), "KMSInvalidStateException");
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    assert!(d.key_metadata().unwrap().deletion_date().is_some());
    kms.cancel_key_deletion().key_id(&id).send().await.unwrap();
    let d = kms.describe_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        d.key_metadata().unwrap().key_state(),
        Some(&KeyState::Disabled)
    );
    let e = kms
        .cancel_key_deletion()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "KMSInvalidStateException");
}

#[tokio::test]
async fn cryptography_contexts_and_rotation() {
    let server = Server::start();
    let kms = kms_client(&server, ALICE);
    let id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let other = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();

    let enc = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"attack at dawn".to_vec()))
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert!(enc.key_id().unwrap().ends_with(&id));
    let blob = enc.ciphertext_blob().unwrap().clone();
    let dec = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"attack at dawn");
    assert_eq!(dec.key_material_id().map(str::len), Some(64));
    // The context is part of the ciphertext: another, or none, does not open it.
    for ctx in [Some(("purpose", "Test")), Some(("other", "test")), None] {
        let mut req = kms.decrypt().ciphertext_blob(blob.clone());
        if let Some((k, v)) = ctx {
            req = req.encryption_context(k, v);
        }
        let e = req.send().await.unwrap_err();
        assert_eq!(code(e), "InvalidCiphertextException", "{ctx:?}");
    }
    let e = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "test")
        .key_id(&other)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "IncorrectKeyException");
    let mut tampered = blob.as_ref().to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let e = kms
        .decrypt()
        .ciphertext_blob(Blob::new(tampered))
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidCiphertextException");
    let e = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(vec![0u8; 4097]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "ValidationException");

    // Data keys.
    let dk = kms
        .generate_data_key()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(dk.plaintext().unwrap().as_ref().len(), 32);
    let opened = kms
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext(), dk.plaintext());
    let wp = kms
        .generate_data_key_without_plaintext()
        .key_id(&id)
        .number_of_bytes(16)
        .send()
        .await
        .unwrap();
    let opened = kms
        .decrypt()
        .ciphertext_blob(wp.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref().len(), 16);
    let e = kms
        .generate_data_key()
        .key_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "ValidationException");
    let random = kms
        .generate_random()
        .number_of_bytes(48)
        .send()
        .await
        .unwrap();
    assert_eq!(random.plaintext().unwrap().as_ref().len(), 48);

    // ReEncrypt moves a ciphertext to another key without revealing it.
    let moved = kms
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .source_encryption_context("purpose", "test")
        .destination_key_id(&other)
        .destination_encryption_context("purpose", "moved")
        .send()
        .await
        .unwrap();
    assert!(moved.key_id().unwrap().ends_with(&other));
    assert!(moved.source_key_id().unwrap().ends_with(&id));
    let dec = kms
        .decrypt()
        .ciphertext_blob(moved.ciphertext_blob().unwrap().clone())
        .encryption_context("purpose", "moved")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"attack at dawn");

    // Rotation keeps old material: the old ciphertext still opens, new ones use new material.
    let status = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(!status.key_rotation_enabled());
    let e = kms
        .enable_key_rotation()
        .key_id(&id)
        .rotation_period_in_days(30)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "ValidationException");
    kms.enable_key_rotation()
        .key_id(&id)
        .rotation_period_in_days(90)
        .send()
        .await
        .unwrap();
    let status = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(90));
    assert!(status.next_rotation_date().is_some());
    let before = kms.describe_key().key_id(&id).send().await.unwrap();
    kms.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    let after = kms.describe_key().key_id(&id).send().await.unwrap();
    assert_ne!(
        before.key_metadata().unwrap().current_key_material_id(),
        after.key_metadata().unwrap().current_key_material_id()
    );
    let dec = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"attack at dawn");
    let fresh = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap();
    let fresh_dec = kms
        .decrypt()
        .ciphertext_blob(fresh.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_ne!(fresh_dec.key_material_id(), dec.key_material_id());
    let rotations = kms.list_key_rotations().key_id(&id).send().await.unwrap();
    assert_eq!(rotations.rotations().len(), 1);
    assert_eq!(
        rotations.rotations()[0].rotation_type(),
        Some(&aws_sdk_kms::types::RotationType::OnDemand)
    );
    kms.disable_key_rotation().key_id(&id).send().await.unwrap();
    let status = kms
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(!status.key_rotation_enabled());
}

#[tokio::test]
async fn key_policies_decide_who_may_use_a_key() {
    let server = Server::start();
    let admin = kms_client(&server, ALICE);
    let bob = kms_client(&server, BOB);
    let key = admin.create_key().send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id().to_owned();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();

    // The default policy grants the account's admins (alice), not bob.
    let policy = admin.get_key_policy().key_id(&id).send().await.unwrap();
    assert!(
        policy
            .policy()
            .unwrap()
            .contains("arn:aws:iam::000000000000:root")
    );
    let names = admin.list_key_policies().key_id(&id).send().await.unwrap();
    assert_eq!(names.policy_names(), ["default"]);
    let e = bob.describe_key().key_id(&id).send().await.unwrap_err();
    assert_eq!(kms_err(&e), (Some("AccessDeniedException".into()), 400));
    let e = bob
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "AccessDeniedException");

    // Bob may encrypt and decrypt, but only with his app's context; decrypting is denied
    // outright for the "locked" context.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:user/bob"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"{arn}",
              "Condition":{{"StringEquals":{{"kms:EncryptionContext:app":["billing","locked"]}}}}}},
            {{"Effect":"Deny","Principal":{{"AWS":"*"}},"Action":"kms:Decrypt","Resource":"*",
              "Condition":{{"StringEquals":{{"kms:EncryptionContext:app":"locked"}}}}}}
        ]}}"#
    );
    admin
        .put_key_policy()
        .key_id(&id)
        .policy(&policy)
        .send()
        .await
        .unwrap();
    let enc = bob
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"invoice".to_vec()))
        .encryption_context("app", "billing")
        .send()
        .await
        .unwrap();
    let dec = bob
        .decrypt()
        .ciphertext_blob(enc.ciphertext_blob().unwrap().clone())
        .encryption_context("app", "billing")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"invoice");
    let e = bob
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "AccessDeniedException", "no context, no grant");
    let locked = bob
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(b"x".to_vec()))
        .encryption_context("app", "locked")
        .send()
        .await
        .unwrap();
    for who in [&bob, &admin] {
        let e = who
            .decrypt()
            .ciphertext_blob(locked.ciphertext_blob().unwrap().clone())
            .encryption_context("app", "locked")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(e), "AccessDeniedException", "deny wins over allow");
    }
    let e = bob
        .put_key_policy()
        .key_id(&id)
        .policy(&policy)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "AccessDeniedException");
    let e = admin
        .put_key_policy()
        .key_id(&id)
        .policy(r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*"}]}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e), "MalformedPolicyDocumentException");
}

#[tokio::test]
async fn requests_must_be_signed_by_a_known_user_for_kms() {
    let server = Server::start();
    let wrong_secret = kms_client(&server, (ALICE.0, ALICE.1, "not-the-secret"));
    let e = wrong_secret.list_keys().send().await.unwrap_err();
    assert_eq!(kms_err(&e), (Some("InvalidSignatureException".into()), 400));
    let stranger = kms_client(&server, ("eve", "AKIAUNKNOWN000000000", "x"));
    let e = stranger.list_keys().send().await.unwrap_err();
    assert_eq!(code(e), "UnrecognizedClientException");
    let (status, body) = http_post_json(&server, "TrentService.ListKeys", "{}");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("MissingAuthenticationTokenException"),
        "{body}"
    );
    kms_client(&server, ALICE).list_keys().send().await.unwrap();
}

/// An unsigned JSON request.
fn http_post_json(server: &Server, target: &str, body: &str) -> (u16, String) {
    let req = format!(
        "POST / HTTP/1.1\r\nhost: {}\r\nx-amz-target: {target}\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        server.http,
        body.len()
    );
    raw_exchange(server.http, req.as_bytes())
}

/// A user lists only the keys (and their aliases) they may describe; admins list every key.
/// Listing used to reveal every key id and alias name of the account to any user.
#[tokio::test]
async fn listings_show_only_what_the_caller_may_describe() {
    let server = Server::start();
    let admin = kms_client(&server, ALICE);
    let bob = kms_client(&server, BOB);
    let hidden = admin.create_key().send().await.unwrap();
    let hidden = hidden.key_metadata().unwrap().key_id().to_owned();
    let shared = admin.create_key().send().await.unwrap();
    let shared_arn = shared.key_metadata().unwrap().arn().unwrap().to_owned();
    let shared = shared.key_metadata().unwrap().key_id().to_owned();
    for (alias, key) in [("alias/customer-acme", &hidden), ("alias/shared", &shared)] {
        admin
            .create_alias()
            .alias_name(alias)
            .target_key_id(key)
            .send()
            .await
            .unwrap();
    }
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:user/bob"}},"Action":"kms:DescribeKey","Resource":"{shared_arn}"}}
        ]}}"#
    );
    admin
        .put_key_policy()
        .key_id(&shared)
        .policy(&policy)
        .send()
        .await
        .unwrap();

    let ids = |out: aws_sdk_kms::operation::list_keys::ListKeysOutput| -> Vec<String> {
        out.keys()
            .iter()
            .filter_map(|k| k.key_id().map(str::to_owned))
            .collect()
    };
    let bobs = ids(bob.list_keys().send().await.unwrap());
    assert_eq!(bobs, vec![shared.clone()]);
    let all = ids(admin.list_keys().send().await.unwrap());
    assert!(all.contains(&hidden) && all.contains(&shared), "{all:?}");

    let aliases: Vec<String> = bob
        .list_aliases()
        .send()
        .await
        .unwrap()
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name().map(str::to_owned))
        .collect();
    assert_eq!(aliases, vec!["alias/shared".to_owned()]);
    let aliases = admin.list_aliases().send().await.unwrap();
    assert!(
        aliases
            .aliases()
            .iter()
            .any(|a| a.alias_name() == Some("alias/customer-acme"))
    );
    // Naming a key bob may not describe is the same denial as DescribeKey's.
    let e = bob.list_aliases().key_id(&hidden).send().await.unwrap_err();
    assert_eq!(code(e), "AccessDeniedException");
}
