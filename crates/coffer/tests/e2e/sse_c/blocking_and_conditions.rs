//! Buckets that block SSE-C, and conditional reads that check the customer key first.

use super::*;

#[tokio::test]
async fn buckets_that_block_sse_c_refuse_writes_and_still_serve_reads() {
    // The default: new buckets start blocked, as on AWS since April 2026.
    let server = Server::start_with(&["--allow-sse-c-over-http"]);
    let c = server.alice();
    c.create_bucket().bucket("bee").send().await.unwrap();
    let enc = c
        .get_bucket_encryption()
        .bucket("bee")
        .send()
        .await
        .unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.blocked_encryption_types()
            .map(|b| b.encryption_type().to_vec()),
        Some(vec![aws_sdk_s3::types::EncryptionType::SseC])
    );
    let a = ck(6);
    let blocked = |r: (Option<String>, u16)| assert_eq!(r, (Some("AccessDenied".into()), 403));
    let e = c
        .put_object()
        .bucket("bee")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .customer_key(&a)
        .send()
        .await
        .unwrap_err();
    blocked(err_code(&e));
    let e = c
        .create_multipart_upload()
        .bucket("bee")
        .key("m")
        .customer_key(&a)
        .send()
        .await
        .unwrap_err();
    blocked(err_code(&e));
    // SSE-S3 writes are unaffected.
    c.put_object()
        .bucket("bee")
        .key("s3")
        .body(ByteStream::from_static(b"fine"))
        .send()
        .await
        .unwrap();

    // Unblock (NONE), write SSE-C, block again: the object stays readable with its key.
    let set = |types: aws_sdk_s3::types::EncryptionType| {
        c.put_bucket_encryption()
            .bucket("bee")
            .server_side_encryption_configuration(
                aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder()
                    .rules(
                        aws_sdk_s3::types::ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(
                                aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
                                    .sse_algorithm(ServerSideEncryption::Aes256)
                                    .build()
                                    .unwrap(),
                            )
                            .blocked_encryption_types(
                                aws_sdk_s3::types::BlockedEncryptionTypes::builder()
                                    .encryption_type(types)
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
    };
    set(aws_sdk_s3::types::EncryptionType::None).await.unwrap();
    put_c(&c, "bee", "k", b"customer", &a).await;
    set(aws_sdk_s3::types::EncryptionType::SseC).await.unwrap();
    assert_eq!(get_c(&c, "bee", "k", &a).await.unwrap(), b"customer");
    // A copy into SSE-C is a write too.
    let e = c
        .copy_object()
        .bucket("bee")
        .key("k2")
        .copy_source("bee/s3")
        .customer_key(&a)
        .send()
        .await
        .unwrap_err();
    blocked(err_code(&e));
    // DeleteBucketEncryption resets the default but does not lift the block.
    c.delete_bucket_encryption()
        .bucket("bee")
        .send()
        .await
        .unwrap();
    let e = c
        .put_object()
        .bucket("bee")
        .key("k3")
        .body(ByteStream::from_static(b"x"))
        .customer_key(&a)
        .send()
        .await
        .unwrap_err();
    blocked(err_code(&e));

    // With the server set to AWS's older behaviour, new buckets accept SSE-C.
    let open = open_server();
    let c = open.alice();
    c.create_bucket().bucket("ooo").send().await.unwrap();
    put_c(&c, "ooo", "k", b"ok", &a).await;
}

/// A conditional GET of an SSE-C object without its key is refused for the missing key, not
/// answered 304 or 412: those would tell a caller without the key that the object exists
/// and what its ETag is.
#[tokio::test]
async fn conditional_reads_check_the_customer_key_first() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("cond").send().await.unwrap();
    let k = ck(60);
    let etag = put_c(&c, "cond", "obj", b"conditional", &k).await;

    let e = c
        .get_object()
        .bucket("cond")
        .key("obj")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let e = c
        .get_object()
        .bucket("cond")
        .key("obj")
        .if_match("\"00000000000000000000000000000000\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let e = c
        .get_object()
        .bucket("cond")
        .key("obj")
        .if_none_match(&etag)
        .customer_key(&ck(61))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 403);
    // With the key, the conditions apply as usual.
    let e = c
        .get_object()
        .bucket("cond")
        .key("obj")
        .if_none_match(&etag)
        .customer_key(&k)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 304);
}
