//! Copies and UploadPartCopy between modes, and key rotation by copy without rewriting data.

use super::*;

#[tokio::test]
async fn copies_move_between_modes_and_rotate_keys_without_rewriting_data() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("cpy").send().await.unwrap();
    let (a, b) = (ck(9), ck(10));
    let data = pattern(150_000, 31);
    c.put_object()
        .bucket("cpy")
        .key("s3")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();

    // SSE-S3 -> SSE-C.
    let out = c
        .copy_object()
        .bucket("cpy")
        .key("c")
        .copy_source("cpy/s3")
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(out.sse_customer_key_md5(), Some(a.md5.as_str()));
    assert_eq!(out.server_side_encryption(), None);
    let c_etag = out
        .copy_object_result()
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();
    assert_ne!(c_etag, format!("\"{}\"", md5_hex(&data)));
    assert_eq!(get_c(&c, "cpy", "c", &a).await.unwrap(), data);

    // SSE-C source without its key, with another key, and CS3 on a non-SSE-C source.
    let copy = |src: &str, dst: &str| c.copy_object().bucket("cpy").key(dst).copy_source(src);
    let e = copy("cpy/c", "x").send().await.unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let e = copy("cpy/c", "x")
        .source_customer_key(&b)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
    let e = copy("cpy/s3", "x")
        .source_customer_key(&a)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));

    // SSE-C -> SSE-S3: the target's ETag is the plaintext MD5 again.
    let out = copy("cpy/c", "back")
        .source_customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.copy_object_result().unwrap().e_tag(),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );
    assert_eq!(
        out.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let got = c
        .get_object()
        .bucket("cpy")
        .key("back")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, data);

    // SSE-C -> SSE-C under another key.
    copy("cpy/c", "other")
        .source_customer_key(&a)
        .customer_key(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(get_c(&c, "cpy", "other", &b).await.unwrap(), data);
    assert_eq!(get_c(&c, "cpy", "other", &a).await.unwrap_err().1, 403);

    // Key rotation in place: old key as source, new key as target. Only the data key is
    // re-sealed: every blob file is byte-for-byte what it was.
    // Every copy above shared the first object's one blob.
    let on_disk = !shared_backends();
    let blobs_before: Vec<(std::path::PathBuf, Vec<u8>)> = blob_files_settled(&server, 1)
        .await
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    copy("cpy/c", "c")
        .source_customer_key(&a)
        .customer_key(&b)
        .send()
        .await
        .unwrap();
    if on_disk {
        assert_eq!(blobs_before.len(), 1);
        let blobs_after = blob_files_settled(&server, 1).await;
        assert_eq!(blobs_after.len(), 1);
        for (path, bytes) in &blobs_before {
            assert_eq!(&std::fs::read(path).unwrap(), bytes, "{}", path.display());
        }
    }
    assert_eq!(get_c(&c, "cpy", "c", &b).await.unwrap(), data);
    assert_eq!(
        get_c(&c, "cpy", "c", &a).await.unwrap_err(),
        (Some("AccessDenied".into()), 403),
        "the old key no longer opens it"
    );
}

#[tokio::test]
async fn upload_part_copy_moves_parts_between_modes() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("upc").send().await.unwrap();
    let a = ck(11);
    let s3_data = pattern(70_000, 51);
    let c_data = pattern(80_000, 52);
    c.put_object()
        .bucket("upc")
        .key("s3-src")
        .body(ByteStream::from(s3_data.clone()))
        .send()
        .await
        .unwrap();
    put_c(&c, "upc", "c-src", &c_data, &a).await;

    // SSE-S3 source into an SSE-C upload, and SSE-C source into an SSE-S3 upload.
    let into_c = c
        .create_multipart_upload()
        .bucket("upc")
        .key("into-c")
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    let into_s3 = c
        .create_multipart_upload()
        .bucket("upc")
        .key("into-s3")
        .send()
        .await
        .unwrap();
    let p_c = c
        .upload_part_copy()
        .bucket("upc")
        .key("into-c")
        .upload_id(into_c.upload_id().unwrap())
        .part_number(1)
        .copy_source("upc/s3-src")
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(p_c.sse_customer_key_md5(), Some(a.md5.as_str()));
    let p_s3 = c
        .upload_part_copy()
        .bucket("upc")
        .key("into-s3")
        .upload_id(into_s3.upload_id().unwrap())
        .part_number(1)
        .copy_source("upc/c-src")
        .source_customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(
        p_s3.copy_part_result().unwrap().e_tag(),
        Some(format!("\"{}\"", md5_hex(&c_data)).as_str()),
        "an SSE-S3 part's ETag is its MD5"
    );
    for (key, upload, etag) in [
        (
            "into-c",
            &into_c,
            p_c.copy_part_result().unwrap().e_tag().unwrap(),
        ),
        (
            "into-s3",
            &into_s3,
            p_s3.copy_part_result().unwrap().e_tag().unwrap(),
        ),
    ] {
        c.complete_multipart_upload()
            .bucket("upc")
            .key(key)
            .upload_id(upload.upload_id().unwrap())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    assert_eq!(get_c(&c, "upc", "into-c", &a).await.unwrap(), s3_data);
    let got = c
        .get_object()
        .bucket("upc")
        .key("into-s3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(body_bytes(got).await, c_data);
}
