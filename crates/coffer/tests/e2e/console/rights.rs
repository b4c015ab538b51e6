//! The console acts as the signed-in user: a user without rights gets the denial the API
//! gives them, and a bucket policy that lets them in lets them in through the console too.

use aws_sdk_s3::primitives::ByteStream;

use super::browser::{self, Browser};
use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_rights_gets_the_apis_denial_until_a_policy_lets_them_in() {
    if !browser::available("console::rights") {
        return;
    }
    let server = Server::start();
    let alice = server.alice();
    alice
        .create_bucket()
        .bucket("private")
        .send()
        .await
        .unwrap();
    alice
        .put_object()
        .bucket("private")
        .key("secret.txt")
        .body(ByteStream::from_static(b"s"))
        .send()
        .await
        .unwrap();
    let key = super::new_key(&server, None).await;
    let bob = server.client(BOB);
    let (list_code, list_status) = err_code(
        &bob.list_objects_v2()
            .bucket("private")
            .send()
            .await
            .unwrap_err(),
    );
    let (key_code, key_status) = crate::kms::kms_err(
        &crate::kms::kms_client(&server, BOB)
            .describe_key()
            .key_id(&key)
            .send()
            .await
            .unwrap_err(),
    );

    let b = Browser::open(&server).await;
    b.sign_in(BOB).await;
    b.goto("/buckets").await;
    assert!(
        !b.source().await.contains("private"),
        "bob's bucket list has no alice's bucket"
    );
    b.goto("/objects/private").await;
    assert_eq!(Some(b.text("#error-code").await), list_code);
    assert_eq!(b.text("#error-status").await, list_status.to_string());
    b.screenshot("denied").await;
    b.goto(&format!("/keys/{key}")).await;
    assert_eq!(Some(b.text("#error-code").await), key_code);
    assert_eq!(b.text("#error-status").await, key_status.to_string());
    // The trail and the health figures are an administrator's, as through the admin API.
    b.goto("/audit").await;
    assert_eq!(b.text("#error-code").await, "AccessDenied");
    assert_eq!(b.text("#error-status").await, "403");

    // Alice lets bob read the bucket: the console shows it to him.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/bob"},"Action":["s3:ListBucket","s3:GetObject"],"Resource":["arn:aws:s3:::private","arn:aws:s3:::private/*"]}]}"#;
    let a = Browser::open(&server).await;
    a.sign_in(ALICE).await;
    a.goto("/buckets/private").await;
    // A malformed policy is refused with the API's error and kept in the editor.
    let malformed = "{\"Version\": \"2012-10-17\", \"Statement\": 7}";
    let (code, status) = err_code(
        &alice
            .put_bucket_policy()
            .bucket("private")
            .policy(malformed)
            .send()
            .await
            .unwrap_err(),
    );
    a.fill("#policy-text", malformed).await;
    a.submit("#policy-save").await;
    let shown = a.text("#policy-error").await;
    assert!(
        shown.starts_with(&format!("{} {status}", code.unwrap())),
        "{shown}"
    );
    assert!(
        a.driver
            .find(thirtyfour::By::Id("policy-text"))
            .await
            .unwrap()
            .value()
            .await
            .unwrap()
            .unwrap_or_default()
            .contains("\"Statement\": 7")
    );
    a.fill("#policy-text", policy).await;
    a.submit("#policy-save").await;
    assert_eq!(a.text("#policy-saved").await, "Saved.");
    a.screenshot("bucket-policy").await;
    a.close().await;
    b.goto("/objects/private").await;
    assert_eq!(b.texts("td.key").await, vec!["secret.txt".to_owned()]);
    b.close().await;
}
