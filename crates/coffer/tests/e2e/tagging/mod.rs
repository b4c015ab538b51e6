//! Object and bucket tagging through `aws-sdk-s3`: tags set by PutObject, CopyObject (COPY and
//! REPLACE), multipart uploads and browser POST; the tagging APIs; `x-amz-tagging-count`;
//! S3's limits and their errors; bucket policies on `s3:ExistingObjectTag` and
//! `s3:RequestObjectTag`; and tags across a restart.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Tag, Tagging};
use base64::Engine as _;

use crate::common::*;

mod limits;
mod persistence;
mod policies;

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
