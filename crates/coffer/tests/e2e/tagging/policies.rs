//! Bucket policies on s3:ExistingObjectTag and s3:RequestObjectTag.

use super::*;

async fn put_policy(c: &aws_sdk_s3::Client, bucket: &str, policy: &str) {
    c.put_bucket_policy()
        .bucket(bucket)
        .policy(policy)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
}

#[tokio::test]
async fn a_policy_on_existing_object_tags() {
    let server = Server::start();
    let (alice, bob) = (server.alice(), server.client(BOB));
    alice.create_bucket().bucket("shelf").send().await.unwrap();
    put_tagged(&alice, "shelf", "public", Some("class=public")).await;
    put_tagged(&alice, "shelf", "private", Some("class=private")).await;
    put_tagged(&alice, "shelf", "untagged", None).await;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{BOB_ARN}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::shelf/*","Condition":{{"StringEquals":{{"s3:ExistingObjectTag/class":"public"}}}}}}]}}"#
    );
    put_policy(&alice, "shelf", &policy).await;

    let got = bob
        .get_object()
        .bucket("shelf")
        .key("public")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, b"tagged data");
    bob.head_object()
        .bucket("shelf")
        .key("public")
        .send()
        .await
        .unwrap();
    let denied = (Some("AccessDenied".to_owned()), 403);
    for key in ["private", "untagged"] {
        let e = bob
            .get_object()
            .bucket("shelf")
            .key(key)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e), denied, "{key}");
    }
    // A key that does not exist has no tags: denied, not NoSuchKey, so bob learns nothing.
    let e = bob
        .get_object()
        .bucket("shelf")
        .key("absent")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), denied);
    // The statement allows reading data, not tags.
    let e = bob
        .get_object_tagging()
        .bucket("shelf")
        .key("public")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), denied);
    // Nor copying a private object out through a bucket bob may write.
    bob.create_bucket().bucket("bobs").send().await.unwrap();
    let e = bob
        .copy_object()
        .bucket("bobs")
        .key("stolen")
        .copy_source("shelf/private")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), denied);
    bob.copy_object()
        .bucket("bobs")
        .key("shared")
        .copy_source("shelf/public")
        .send()
        .await
        .unwrap();

    // The condition reads the tags as they are now.
    alice
        .put_object_tagging()
        .bucket("shelf")
        .key("private")
        .tagging(tagging(&[("class", "public")]))
        .send()
        .await
        .unwrap();
    bob.get_object()
        .bucket("shelf")
        .key("private")
        .send()
        .await
        .unwrap();
    alice
        .delete_object_tagging()
        .bucket("shelf")
        .key("public")
        .send()
        .await
        .unwrap();
    let e = bob
        .get_object()
        .bucket("shelf")
        .key("public")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), denied);
}

#[tokio::test]
async fn a_policy_on_request_object_tags() {
    let server = Server::start();
    let (alice, bob) = (server.alice(), server.client(BOB));
    alice.create_bucket().bucket("inbox").send().await.unwrap();
    // Bob may write objects tagged security=public, and tag them so; nobody, the owner
    // included, may write an object without a `security` tag.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"{BOB_ARN}"}},"Action":["s3:PutObject","s3:PutObjectTagging"],"Resource":"arn:aws:s3:::inbox/*","Condition":{{"StringEquals":{{"s3:RequestObjectTag/security":"public"}}}}}},
            {{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::inbox/*","Condition":{{"Null":{{"s3:RequestObjectTag/security":"true"}}}}}},
            {{"Effect":"Deny","Principal":"*","Action":"s3:PutObjectTagging","Resource":"arn:aws:s3:::inbox/*","Condition":{{"ForAnyValue:StringNotEquals":{{"s3:RequestObjectTagKeys":["security","team"]}}}}}}
        ]}}"#
    );
    put_policy(&alice, "inbox", &policy).await;
    let denied = (Some("AccessDenied".to_owned()), 403);
    let put = |c: &aws_sdk_s3::Client, key: &str, header: Option<&str>| {
        c.put_object()
            .bucket("inbox")
            .key(key)
            .body(ByteStream::from_static(b"x"))
            .set_tagging(header.map(str::to_owned))
            .send()
    };

    for c in [&alice, &bob] {
        let e = put(c, "untagged", None).await.unwrap_err();
        assert_eq!(err_code(&e), denied);
        let e = put(c, "other-tag", Some("team=blue")).await.unwrap_err();
        assert_eq!(err_code(&e), denied);
    }
    let e = put(&bob, "secret", Some("security=secret"))
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), denied);
    put(&bob, "ok", Some("security=public&team=blue"))
        .await
        .unwrap();
    put(&alice, "alices", Some("security=internal"))
        .await
        .unwrap();
    assert_eq!(
        tags_of(&alice, "inbox", "ok").await,
        pairs(&[("security", "public"), ("team", "blue")])
    );
    // The policy is checked before the tags are validated: a denied request learns nothing
    // about its input.
    let e = put(&bob, "bad", Some("security=secret&aws:x=1"))
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), denied);

    // CreateMultipartUpload is a PutObject too.
    let e = alice
        .create_multipart_upload()
        .bucket("inbox")
        .key("mp")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), denied);
    alice
        .create_multipart_upload()
        .bucket("inbox")
        .key("mp")
        .tagging("security=public")
        .send()
        .await
        .unwrap();

    // PutObjectTagging: the keys the body names (s3:RequestObjectTagKeys).
    bob.put_object_tagging()
        .bucket("inbox")
        .key("ok")
        .tagging(tagging(&[("security", "public")]))
        .send()
        .await
        .unwrap();
    let e = alice
        .put_object_tagging()
        .bucket("inbox")
        .key("ok")
        .tagging(tagging(&[("security", "public"), ("owner", "alice")]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), denied);
    assert_eq!(
        tags_of(&alice, "inbox", "ok").await,
        pairs(&[("security", "public")])
    );
}
