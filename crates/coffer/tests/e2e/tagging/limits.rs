//! S3's tagging limits and the errors it answers them with.

use super::*;

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
