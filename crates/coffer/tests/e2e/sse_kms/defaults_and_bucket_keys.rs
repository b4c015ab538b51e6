//! Bucket defaults, copies and multipart under KMS keys, and S3 Bucket Keys.

use super::*;

#[tokio::test]
async fn bucket_defaults_copies_and_multipart_under_kms() {
    let server = Server::start_configured(
        "block_sse_c_on_new_buckets = false",
        &["--allow-sse-c-over-http"],
        None,
    );
    let (c, kms) = (server.alice(), kms_client(&server, ALICE));
    c.create_bucket().bucket("defaults").send().await.unwrap();
    let (id, arn) = new_key(&kms).await;
    let (_, other_arn) = new_key(&kms).await;
    c.put_bucket_encryption()
        .bucket("defaults")
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .kms_master_key_id(&id)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let got = c
        .get_bucket_encryption()
        .bucket("defaults")
        .send()
        .await
        .unwrap();
    let rule = &got.server_side_encryption_configuration().unwrap().rules()[0];
    let by_default = rule.apply_server_side_encryption_by_default().unwrap();
    assert_eq!(
        by_default.kms_master_key_id(),
        Some(id.as_str()),
        "echoed as given"
    );

    // No headers: the bucket default.
    let data = pattern(90_000, 71);
    let out = c
        .put_object()
        .bucket("defaults")
        .key("plain-request")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(out.ssekms_key_id(), Some(arn.as_str()));

    // Copies: KMS -> SSE-S3 (MD5 ETag again), SSE-S3 -> KMS, KMS key A -> key B in place,
    // KMS -> SSE-C and back.
    let out = c
        .copy_object()
        .bucket("defaults")
        .key("as-s3")
        .copy_source("defaults/plain-request")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(
        out.copy_object_result().unwrap().e_tag(),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );
    let out = c
        .copy_object()
        .bucket("defaults")
        .key("plain-request")
        .copy_source("defaults/plain-request")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&other_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(out.ssekms_key_id(), Some(other_arn.as_str()));
    assert_eq!(get(&c, "defaults", "plain-request").await.unwrap(), data);
    let raw: [u8; 32] = pattern(32, 9).try_into().unwrap();
    let (k64, md5) = (B64.encode(raw), {
        use md5::Digest as _;
        B64.encode(md5::Md5::digest(raw))
    });
    c.copy_object()
        .bucket("defaults")
        .key("as-c")
        .copy_source("defaults/plain-request")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k64)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    let out = c
        .copy_object()
        .bucket("defaults")
        .key("back-to-kms")
        .copy_source("defaults/as-c")
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&k64)
        .copy_source_sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.ssekms_key_id(),
        Some(arn.as_str()),
        "the bucket default applies"
    );
    assert_eq!(get(&c, "defaults", "back-to-kms").await.unwrap(), data);

    // Multipart under a KMS key: every step echoes it.
    let up = c
        .create_multipart_upload()
        .bucket("defaults")
        .key("mp")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&other_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(up.ssekms_key_id(), Some(other_arn.as_str()));
    let p1 = pattern(5 * 1024 * 1024, 72);
    let part = c
        .upload_part()
        .bucket("defaults")
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from(p1.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(part.ssekms_key_id(), Some(other_arn.as_str()));
    let part2 = c
        .upload_part()
        .bucket("defaults")
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .part_number(2)
        .body(ByteStream::from_static(b"tail"))
        .send()
        .await
        .unwrap();
    let done = c
        .complete_multipart_upload()
        .bucket("defaults")
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .parts(
                    CompletedPart::builder()
                        .part_number(2)
                        .e_tag(part2.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(done.ssekms_key_id(), Some(other_arn.as_str()));
    let whole: Vec<u8> = [&p1[..], b"tail"].concat();
    assert_eq!(get(&c, "defaults", "mp").await.unwrap(), whole);
}

#[tokio::test]
async fn bucket_keys_cut_kms_calls_and_still_enforce_the_key() {
    let server = Server::start();
    let (c, kms) = (server.alice(), kms_client(&server, ALICE));
    c.create_bucket().bucket("bkeys").send().await.unwrap();
    let (id, arn) = new_key(&kms).await;
    let n = 40u64;

    let before = s3_kms_calls(&server, "GenerateDataKey");
    for i in 0..n {
        put_kms(&c, "bkeys", &format!("plain/{i}"), b"x", Some(&id))
            .await
            .unwrap();
    }
    assert_eq!(
        s3_kms_calls(&server, "GenerateDataKey") - before,
        n,
        "one call per PUT"
    );

    let before = s3_kms_calls(&server, "GenerateDataKey");
    for i in 0..n {
        let out = c
            .put_object()
            .bucket("bkeys")
            .key(format!("bucket-key/{i}"))
            .body(ByteStream::from(format!("object {i}").into_bytes()))
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&id)
            .bucket_key_enabled(true)
            .send()
            .await
            .unwrap();
        assert_eq!(out.bucket_key_enabled(), Some(true));
        assert_eq!(out.ssekms_key_id(), Some(arn.as_str()));
    }
    assert_eq!(
        s3_kms_calls(&server, "GenerateDataKey") - before,
        1,
        "one bucket key for all of them"
    );
    let before = s3_kms_calls(&server, "Decrypt");
    for i in 0..n {
        let got = c
            .get_object()
            .bucket("bkeys")
            .key(format!("bucket-key/{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(got.bucket_key_enabled(), Some(true));
        assert_eq!(body_bytes(got).await, format!("object {i}").into_bytes());
    }
    assert_eq!(
        s3_kms_calls(&server, "Decrypt") - before,
        0,
        "the bucket key is cached"
    );

    // A restart empties the cache: one Decrypt opens the bucket key again.
    let mut server = server;
    server.restart();
    let c = server.alice();
    for i in 0..n {
        assert_eq!(
            get(&c, "bkeys", &format!("bucket-key/{i}")).await.unwrap(),
            format!("object {i}").into_bytes()
        );
    }
    assert_eq!(s3_kms_calls(&server, "Decrypt"), 1);

    // The cache does not outlive the key's state: disabling it blocks at once.
    let kms = kms_client(&server, ALICE);
    kms.disable_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        get(&c, "bkeys", "bucket-key/0").await.unwrap_err(),
        (Some("KMS.DisabledException".into()), 400)
    );

    // A bucket default with BucketKeyEnabled applies to header-less writes.
    let (id2, _) = new_key(&kms).await;
    c.put_bucket_encryption()
        .bucket("bkeys")
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .kms_master_key_id(&id2)
                                .build()
                                .unwrap(),
                        )
                        .bucket_key_enabled(true)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let out = c
        .put_object()
        .bucket("bkeys")
        .key("by-default")
        .body(ByteStream::from_static(b"d"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.bucket_key_enabled(), Some(true));
    assert_eq!(get(&c, "bkeys", "by-default").await.unwrap(), b"d");
}
