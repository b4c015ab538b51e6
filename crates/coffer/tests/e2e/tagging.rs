//! Object and bucket tagging through `aws-sdk-s3`: tags set by PutObject, CopyObject (COPY and
//! REPLACE), multipart uploads and browser POST; the tagging APIs; `x-amz-tagging-count`;
//! S3's limits and their errors; bucket policies on `s3:ExistingObjectTag` and
//! `s3:RequestObjectTag`; and tags across a restart.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Tag, Tagging};
use base64::Engine as _;

use crate::common::*;

const BOB_ARN: &str = "arn:aws:iam::000000000000:user/bob";

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    let mut t = Tagging::builder().set_tag_set(Some(Vec::new()));
    for (k, v) in pairs {
        t = t.tag_set(Tag::builder().key(*k).value(*v).build().unwrap());
    }
    t.build().unwrap()
}

async fn tags_of(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<(String, String)> {
    c.get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn put_tagged(c: &aws_sdk_s3::Client, bucket: &str, key: &str, header: Option<&str>) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"tagged data"))
        .set_tagging(header.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
}

#[tokio::test]
async fn tags_round_trip_on_put_copy_and_multipart() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("tags").send().await.unwrap();

    // A key without `=` holds the empty value; the set comes back in key order
    // (ceph s3-tests test_put_obj_with_tags); the header is form-encoded.
    put_tagged(&c, "tags", "obj", Some("b=2&a=1&empty&k%20sp=v%2Fs+x")).await;
    let expected = pairs(&[("a", "1"), ("b", "2"), ("empty", ""), ("k sp", "v/s x")]);
    assert_eq!(tags_of(&c, "tags", "obj").await, expected);
    let got = c
        .get_object()
        .bucket("tags")
        .key("obj")
        .send()
        .await
        .unwrap();
    assert_eq!(got.tag_count(), Some(4));
    assert_eq!(body_bytes(got).await, b"tagged data");
    let head = c
        .head_object()
        .bucket("tags")
        .key("obj")
        .send()
        .await
        .unwrap();
    assert_eq!(head.tag_count(), Some(4));

    // No tags: no count, an empty set.
    put_tagged(&c, "tags", "plain", None).await;
    let head = c
        .head_object()
        .bucket("tags")
        .key("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(head.tag_count(), None);
    let got = c
        .get_object()
        .bucket("tags")
        .key("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(got.tag_count(), None);
    assert!(tags_of(&c, "tags", "plain").await.is_empty());

    // CopyObject: COPY is the default and ignores the request's tags; REPLACE takes them.
    let copy = |dst: &'static str| {
        c.copy_object()
            .bucket("tags")
            .key(dst)
            .copy_source("tags/obj")
    };
    copy("copied").tagging("x=y").send().await.unwrap();
    assert_eq!(tags_of(&c, "tags", "copied").await, expected);
    copy("copied-explicit")
        .tagging_directive(aws_sdk_s3::types::TaggingDirective::Copy)
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&c, "tags", "copied-explicit").await, expected);
    copy("replaced")
        .tagging_directive(aws_sdk_s3::types::TaggingDirective::Replace)
        .tagging("x=y")
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&c, "tags", "replaced").await, pairs(&[("x", "y")]));
    copy("replaced-empty")
        .tagging_directive(aws_sdk_s3::types::TaggingDirective::Replace)
        .send()
        .await
        .unwrap();
    assert!(tags_of(&c, "tags", "replaced-empty").await.is_empty());
    let head = c
        .head_object()
        .bucket("tags")
        .key("replaced")
        .send()
        .await
        .unwrap();
    assert_eq!(head.tag_count(), Some(1));

    // CreateMultipartUpload's tags land on the completed object.
    let up = c
        .create_multipart_upload()
        .bucket("tags")
        .key("mp")
        .tagging("stage=upload&team=blue")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = c
        .upload_part()
        .bucket("tags")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"one part"))
        .send()
        .await
        .unwrap();
    c.complete_multipart_upload()
        .bucket("tags")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(&c, "tags", "mp").await,
        pairs(&[("stage", "upload"), ("team", "blue")])
    );
    let head = c
        .head_object()
        .bucket("tags")
        .key("mp")
        .send()
        .await
        .unwrap();
    assert_eq!(head.tag_count(), Some(2));

    // Overwriting an object replaces its tags with the new write's.
    put_tagged(&c, "tags", "obj", None).await;
    assert!(tags_of(&c, "tags", "obj").await.is_empty());
}

#[tokio::test]
async fn object_and_bucket_tagging_apis() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("tapi").send().await.unwrap();
    put_tagged(&c, "tapi", "k", Some("old=1")).await;

    c.put_object_tagging()
        .bucket("tapi")
        .key("k")
        .tagging(tagging(&[("z", "last"), ("a", "first")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(&c, "tapi", "k").await,
        pairs(&[("a", "first"), ("z", "last")])
    );
    // The data and everything else stay as they were.
    let got = c.get_object().bucket("tapi").key("k").send().await.unwrap();
    assert_eq!(got.tag_count(), Some(2));
    assert_eq!(body_bytes(got).await, b"tagged data");

    // Unversioned: `null` is the one version; any other is refused.
    c.get_object_tagging()
        .bucket("tapi")
        .key("k")
        .version_id("null")
        .send()
        .await
        .unwrap();
    let e = c
        .get_object_tagging()
        .bucket("tapi")
        .key("k")
        .version_id("3HL4kqtJlcpXroDTDmJ")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidArgument".into()), 400));

    // DeleteObjectTagging answers 204 and leaves an empty set.
    let (status, body) = signed_raw(&server, "DELETE", "/tapi/k?tagging", &[], b"");
    assert_eq!(status, 204, "{body}");
    assert!(tags_of(&c, "tapi", "k").await.is_empty());
    let head = c
        .head_object()
        .bucket("tapi")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(head.tag_count(), None);

    // An empty tag set deletes the tags ("If you send this request with an empty tag set,
    // Amazon S3 deletes the existing tag set on the object").
    c.put_object_tagging()
        .bucket("tapi")
        .key("k")
        .tagging(tagging(&[("a", "1")]))
        .send()
        .await
        .unwrap();
    c.put_object_tagging()
        .bucket("tapi")
        .key("k")
        .tagging(tagging(&[]))
        .send()
        .await
        .unwrap();
    assert!(tags_of(&c, "tapi", "k").await.is_empty());

    for e in [
        err_code(
            &c.get_object_tagging()
                .bucket("tapi")
                .key("missing")
                .send()
                .await
                .unwrap_err(),
        ),
        err_code(
            &c.put_object_tagging()
                .bucket("tapi")
                .key("missing")
                .tagging(tagging(&[("a", "1")]))
                .send()
                .await
                .unwrap_err(),
        ),
        err_code(
            &c.delete_object_tagging()
                .bucket("tapi")
                .key("missing")
                .send()
                .await
                .unwrap_err(),
        ),
    ] {
        assert_eq!(e, (Some("NoSuchKey".into()), 404));
    }

    // Bucket tags: NoSuchTagSet until set, and again after DeleteBucketTagging.
    let no_set = (Some("NoSuchTagSet".to_owned()), 404);
    let e = c
        .get_bucket_tagging()
        .bucket("tapi")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), no_set);
    c.put_bucket_tagging()
        .bucket("tapi")
        .tagging(tagging(&[("project", "coffer"), ("cost-center", "42")]))
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_tagging().bucket("tapi").send().await.unwrap();
    let got: Vec<_> = got
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    assert_eq!(got, pairs(&[("cost-center", "42"), ("project", "coffer")]));
    let (status, body) = signed_raw(&server, "DELETE", "/tapi?tagging", &[], b"");
    assert_eq!(status, 204, "{body}");
    let e = c
        .get_bucket_tagging()
        .bucket("tapi")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), no_set);
    let e = c
        .get_bucket_tagging()
        .bucket("no-such-bucket")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchBucket".into()), 404));
}

#[tokio::test]
async fn s3_limits_and_their_errors() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("lim").send().await.unwrap();
    put_tagged(&c, "lim", "k", Some("keep=me")).await;
    let keep = pairs(&[("keep", "me")]);

    let put_tags = |set: Vec<(String, String)>| {
        let refs: Vec<(&str, &str)> = set.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        c.put_object_tagging()
            .bucket("lim")
            .key("k")
            .tagging(tagging(&refs))
            .send()
    };
    let numbered = |n: usize| -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), format!("{i}"))).collect()
    };
    let invalid_tag = (Some("InvalidTag".to_owned()), 400);

    // Ten tags of 128 and 256 characters are the most an object holds.
    let max: Vec<_> = (0..10)
        .map(|i| (format!("{i}{}", "k".repeat(127)), "v".repeat(256)))
        .collect();
    put_tags(max.clone()).await.unwrap();
    assert_eq!(tags_of(&c, "lim", "k").await.len(), 10);
    put_tags(keep.clone()).await.unwrap();

    // Eleven: S3 answers "BadRequest: Object tags cannot be greater than 10".
    let e = put_tags(numbered(11)).await.unwrap_err();
    assert_eq!(err_code(&e), (Some("BadRequest".into()), 400));
    assert!(format!("{e:?}").contains("Object tags cannot be greater than 10"));
    for (set, message) in [
        (
            vec![("k".repeat(129), "v".to_owned())],
            "The TagKey you have provided is too long, max 128",
        ),
        (
            vec![("k".to_owned(), "v".repeat(257))],
            "The TagValue you have provided is too long, max 256",
        ),
        (
            vec![("aws:system".to_owned(), "v".to_owned())],
            "Your TagKey cannot be prefixed with aws:",
        ),
        (
            vec![
                ("dup".to_owned(), "1".to_owned()),
                ("dup".to_owned(), "2".to_owned()),
            ],
            "Cannot provide multiple Tags with the same key",
        ),
        (
            vec![("bad{key}".to_owned(), "v".to_owned())],
            "The TagKey you have provided is invalid",
        ),
        (
            vec![("k".to_owned(), "bad,value".to_owned())],
            "The TagValue you have provided is invalid",
        ),
    ] {
        let e = put_tags(set).await.unwrap_err();
        assert_eq!(err_code(&e), invalid_tag, "{message}");
        assert!(format!("{e:?}").contains(message), "{message}: {e:?}");
    }
    // A refused request changes nothing.
    assert_eq!(tags_of(&c, "lim", "k").await, keep);

    // The same limits on a write's header; a header that is not a query string of unique
    // keys is InvalidArgument.
    let header_put = |h: String| {
        c.put_object()
            .bucket("lim")
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .tagging(h)
            .send()
    };
    let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
    let e = header_put(eleven.join("&")).await.unwrap_err();
    assert_eq!(err_code(&e), (Some("BadRequest".into()), 400));
    let e = header_put(format!("{}=v", "k".repeat(129)))
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), invalid_tag);
    let e = header_put("aws:x=1".into()).await.unwrap_err();
    assert_eq!(err_code(&e), invalid_tag);
    let e = header_put("a=1&a=2".into()).await.unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidArgument".into()), 400));
    let e = c
        .create_multipart_upload()
        .bucket("lim")
        .key("mp")
        .tagging(format!("k={}", "v".repeat(257)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), invalid_tag);
    let e = c
        .copy_object()
        .bucket("lim")
        .key("copy")
        .copy_source("lim/k")
        .tagging_directive(aws_sdk_s3::types::TaggingDirective::Replace)
        .tagging(eleven.join("&"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("BadRequest".into()), 400));
    // None of them wrote anything.
    assert_eq!(tags_of(&c, "lim", "k").await, keep);
    let e = c
        .head_object()
        .bucket("lim")
        .key("copy")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 404);

    // A document that does not match the schema is MalformedXML.
    let body = b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>";
    let md5 = base64::engine::general_purpose::STANDARD.encode(hex::decode(md5_hex(body)).unwrap());
    let (status, text) = signed_raw(
        &server,
        "PUT",
        "/lim/k?tagging",
        &[("content-md5", md5.as_str())],
        body,
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("<Code>MalformedXML</Code>"), "{text}");

    // Buckets hold up to 50 tags: "Bucket tag count cannot be greater than 50".
    let fifty = numbered(50);
    let refs: Vec<(&str, &str)> = fifty
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    c.put_bucket_tagging()
        .bucket("lim")
        .tagging(tagging(&refs))
        .send()
        .await
        .unwrap();
    let fifty_one = numbered(51);
    let refs: Vec<(&str, &str)> = fifty_one
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let e = c
        .put_bucket_tagging()
        .bucket("lim")
        .tagging(tagging(&refs))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("BadRequest".into()), 400));
    let e = c
        .put_bucket_tagging()
        .bucket("lim")
        .tagging(tagging(&[("aws:cloudformation:stack-name", "x")]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), invalid_tag);
    let got = c.get_bucket_tagging().bucket("lim").send().await.unwrap();
    assert_eq!(got.tag_set().len(), 50);
}

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

#[tokio::test]
async fn tags_survive_a_restart() {
    let mut server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("durable").send().await.unwrap();
    put_tagged(&c, "durable", "k", Some("color=teal&size=xl")).await;
    c.put_bucket_tagging()
        .bucket("durable")
        .tagging(tagging(&[("env", "prod")]))
        .send()
        .await
        .unwrap();
    server.restart();
    let c = server.alice();
    assert_eq!(
        tags_of(&c, "durable", "k").await,
        pairs(&[("color", "teal"), ("size", "xl")])
    );
    let head = c
        .head_object()
        .bucket("durable")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(head.tag_count(), Some(2));
    let got = c
        .get_bucket_tagging()
        .bucket("durable")
        .send()
        .await
        .unwrap();
    assert_eq!(got.tag_set()[0].key(), "env");
    assert_eq!(got.tag_set()[0].value(), "prod");
}

/// A browser POST's `tagging` field holds a `Tagging` document (ceph s3-tests
/// `test_post_object_tags_authenticated_request`).
#[tokio::test]
async fn a_browser_post_tags_its_object() {
    use ring::hmac;
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("forms").send().await.unwrap();
    let xml = "<Tagging><TagSet><Tag><Key>0</Key><Value>0</Value></Tag><Tag><Key>1</Key><Value>1</Value></Tag></TagSet></Tagging>";

    let t = time::OffsetDateTime::now_utc();
    let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let stamp = format!("{date}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    let exp = t + time::Duration::minutes(10);
    let expiration = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        exp.year(),
        u8::from(exp.month()),
        exp.day(),
        exp.hour(),
        exp.minute(),
        exp.second()
    );
    let credential = format!("{}/{date}/us-east-1/s3/aws4_request", ALICE.1);
    let policy = format!(
        r#"{{"expiration":"{expiration}","conditions":[{{"bucket":"forms"}},["starts-with","$key","up/"],{{"x-amz-algorithm":"AWS4-HMAC-SHA256"}},{{"x-amz-credential":"{credential}"}},{{"x-amz-date":"{stamp}"}},["starts-with","$tagging",""]]}}"#
    );
    let policy_b64 = base64::engine::general_purpose::STANDARD.encode(policy);
    let sign = |key: &[u8], msg: &[u8]| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
            .as_ref()
            .to_vec()
    };
    let mut key = sign(format!("AWS4{}", ALICE.2).as_bytes(), date.as_bytes());
    for part in ["us-east-1", "s3", "aws4_request"] {
        key = sign(&key, part.as_bytes());
    }
    let signature = hex::encode(sign(&key, policy_b64.as_bytes()));
    let fields = [
        ("key", "up/tagged.txt"),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
        ("x-amz-credential", credential.as_str()),
        ("x-amz-date", stamp.as_str()),
        ("tagging", xml),
        ("policy", policy_b64.as_str()),
        ("x-amz-signature", signature.as_str()),
    ];
    let boundary = "TagBoundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.txt\"\r\nContent-Type: text/plain\r\n\r\nbar\r\n--{boundary}--\r\n")
            .as_bytes(),
    );
    let mut req = format!(
        "POST /forms HTTP/1.1\r\nhost: {}\r\ncontent-type: multipart/form-data; boundary={boundary}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        server.http,
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let (status, text) = raw_exchange(server.http, &req);
    assert_eq!(status, 204, "{text}");
    assert_eq!(
        tags_of(&c, "forms", "up/tagged.txt").await,
        pairs(&[("0", "0"), ("1", "1")])
    );
    let got = c
        .get_object()
        .bucket("forms")
        .key("up/tagged.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.tag_count(), Some(2));
    assert_eq!(body_bytes(got).await, b"bar");
}
