//! The built-in KMS through `aws-sdk-kms`: keys, aliases, states, cryptographic operations,
//! rotation, key policies and request signing.

use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState, Tag};

use crate::common::*;

mod access;
mod cryptography;

pub(crate) fn kms_client(server: &Server, user: (&str, &str, &str)) -> Client {
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
