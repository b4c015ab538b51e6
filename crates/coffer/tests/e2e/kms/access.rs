//! Who may use a key: key policies, request signing, and listings filtered by what the caller may describe.

use super::*;

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
