use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::MetadataDirective;

use crate::common::*;

#[tokio::test]
async fn copy_with_metadata_directives_and_preconditions() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("src").send().await.unwrap();
    c.create_bucket().bucket("dst").send().await.unwrap();
    let data = pattern(150_000, 9);
    c.put_object()
        .bucket("src")
        .key("o")
        .content_type("image/png")
        .metadata("k", "v")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let etag = format!("\"{}\"", md5_hex(&data));

    let copied = c
        .copy_object()
        .bucket("dst")
        .key("same")
        .copy_source("src/o")
        .send()
        .await
        .unwrap();
    assert_eq!(
        copied.copy_object_result().and_then(|r| r.e_tag()),
        Some(etag.as_str())
    );
    let got = c
        .get_object()
        .bucket("dst")
        .key("same")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("image/png"));
    assert_eq!(
        got.metadata().unwrap().get("k").map(String::as_str),
        Some("v")
    );
    assert_eq!(body_bytes(got).await, data);

    c.copy_object()
        .bucket("dst")
        .key("replaced")
        .copy_source("src/o")
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/plain")
        .metadata("new", "1")
        .send()
        .await
        .unwrap();
    let got = c
        .head_object()
        .bucket("dst")
        .key("replaced")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(
        got.metadata().unwrap().get("new").map(String::as_str),
        Some("1")
    );
    assert!(!got.metadata().unwrap().contains_key("k"));

    // Copy shares the data: deleting the source leaves the copy readable.
    c.delete_object()
        .bucket("src")
        .key("o")
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket("dst")
        .key("same")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, data);

    let e = c
        .copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("src/o")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchKey".into()), 404));

    let e = c
        .copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("dst/same")
        .copy_source_if_match("\"other\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("PreconditionFailed".into()), 412));
    let e = c
        .copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("dst/same")
        .copy_source_if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 412);
    let e = c
        .copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("dst/same")
        .copy_source_if_modified_since(DateTime::from_secs(4_000_000_000))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 412);
    c.copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("dst/same")
        .copy_source_if_match(&etag)
        .copy_source_if_unmodified_since(DateTime::from_secs(4_000_000_000))
        .send()
        .await
        .unwrap();

    // In place without a change is illegal; with REPLACE it is how metadata is edited.
    let e = c
        .copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("dst/x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    c.copy_object()
        .bucket("dst")
        .key("x")
        .copy_source("dst/x")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("edited", "yes")
        .send()
        .await
        .unwrap();

    // Another user cannot copy out of alice's bucket.
    server
        .client(BOB)
        .create_bucket()
        .bucket("bobs")
        .send()
        .await
        .unwrap();
    let e = server
        .client(BOB)
        .copy_object()
        .bucket("bobs")
        .key("stolen")
        .copy_source("dst/x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
}
