//! Multipart uploads under customer keys: parts need the upload's key and read back in any range.

use super::*;

#[tokio::test]
async fn multipart_parts_need_the_upload_key_and_read_back_in_any_range() {
    let server = open_server();
    let c = server.alice();
    c.create_bucket().bucket("mpu").send().await.unwrap();
    let (a, b) = (ck(7), ck(8));
    let create = c
        .create_multipart_upload()
        .bucket("mpu")
        .key("big")
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(create.sse_customer_key_md5(), Some(a.md5.as_str()));
    assert_eq!(create.server_side_encryption(), None);
    let id = create.upload_id().unwrap().to_owned();
    // Unaligned part sizes: 5 MiB + 1, then 65 537, as Ceph's suite does.
    let part1 = pattern(5 * 1024 * 1024 + 1, 21);
    let source = pattern(65_537 + 300, 22);

    let part = |n: i32, data: Vec<u8>| {
        c.upload_part()
            .bucket("mpu")
            .key("big")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data))
    };
    let e = part(1, part1.clone()).send().await.unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let e = part(1, part1.clone())
        .customer_key(&b)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
    let p1 = part(1, part1.clone())
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(p1.sse_customer_key_md5(), Some(a.md5.as_str()));
    assert_ne!(p1.e_tag().unwrap(), format!("\"{}\"", md5_hex(&part1)));

    // Part 2 copied from an SSE-C object under another key (source key + upload key).
    put_c(&c, "mpu", "src", &source, &b).await;
    let e = c
        .upload_part_copy()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .part_number(2)
        .copy_source("mpu/src")
        .copy_source_range("bytes=300-65836")
        .customer_key(&a)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_code(&e),
        (Some("InvalidRequest".into()), 400),
        "an SSE-C source needs its key"
    );
    let p2 = c
        .upload_part_copy()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .part_number(2)
        .copy_source("mpu/src")
        .copy_source_range("bytes=300-65836")
        .source_customer_key(&b)
        .customer_key(&a)
        .send()
        .await
        .unwrap();
    let done = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(p1.e_tag().unwrap())
                        .build(),
                )
                .parts(
                    CompletedPart::builder()
                        .part_number(2)
                        .e_tag(p2.copy_part_result().unwrap().e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(done.e_tag().unwrap().ends_with("-2\""));
    assert_eq!(
        done.server_side_encryption(),
        None,
        "no SSE echo on completion"
    );

    let whole: Vec<u8> = [&part1[..], &source[300..]].concat();
    assert_eq!(get_c(&c, "mpu", "big", &a).await.unwrap(), whole);
    for (from, to) in [
        (0u64, 10u64),
        (5 * 1024 * 1024 - 3, 5 * 1024 * 1024 + 70),
        (5 * 1024 * 1024 + 1, 5 * 1024 * 1024 + 1),
        (whole.len() as u64 - 5, whole.len() as u64 - 1),
    ] {
        let got = c
            .get_object()
            .bucket("mpu")
            .key("big")
            .range(format!("bytes={from}-{to}"))
            .customer_key(&a)
            .send()
            .await
            .unwrap();
        assert_eq!(
            body_bytes(got).await,
            &whole[from as usize..=to as usize],
            "{from}-{to}"
        );
    }
    for (n, want) in [(1, &part1[..]), (2, &source[300..])] {
        let got = c
            .get_object()
            .bucket("mpu")
            .key("big")
            .part_number(n)
            .customer_key(&a)
            .send()
            .await
            .unwrap();
        assert_eq!(got.parts_count(), Some(2));
        assert_eq!(got.e_tag(), done.e_tag());
        assert_eq!(body_bytes(got).await, want, "part {n}");
    }
    let e = c
        .get_object()
        .bucket("mpu")
        .key("big")
        .part_number(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));

    // An SSE-S3 upload refuses SSE-C parts.
    let plain = c
        .create_multipart_upload()
        .bucket("mpu")
        .key("plain")
        .send()
        .await
        .unwrap();
    let e = c
        .upload_part()
        .bucket("mpu")
        .key("plain")
        .upload_id(plain.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .customer_key(&a)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRequest".into()), 400));
}
