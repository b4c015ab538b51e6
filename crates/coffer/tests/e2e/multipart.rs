use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
    ObjectAttributes,
};
use base64::Engine as _;

use crate::common::*;

const MIB: usize = 1024 * 1024;

fn completed(parts: &[(i32, String)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(e).build())
                .collect(),
        ))
        .build()
}

async fn upload_parts(
    c: &aws_sdk_s3::Client,
    key: &str,
    parts: &[Vec<u8>],
) -> (String, Vec<(i32, String)>) {
    let id = c
        .create_multipart_upload()
        .bucket("mpu")
        .key(key)
        .content_type("video/mp4")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let out = c
            .upload_part()
            .bucket("mpu")
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.e_tag(), Some(format!("\"{}\"", md5_hex(p)).as_str()));
        done.push((n, out.e_tag().unwrap().to_owned()));
    }
    (id, done)
}

fn multipart_etag(parts: &[Vec<u8>]) -> String {
    use md5::Digest;
    let mut h = md5::Md5::new();
    for p in parts {
        h.update(md5::Md5::digest(p));
    }
    format!("\"{}-{}\"", hex::encode(h.finalize()), parts.len())
}

#[tokio::test]
async fn multipart_round_trip_with_part_reads_and_listing() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("mpu").send().await.unwrap();
    let parts = vec![
        pattern(5 * MIB + 7, 1),
        pattern(5 * MIB + 3, 2),
        pattern(1234, 3),
    ];
    let (id, done) = upload_parts(&c, "big", &parts).await;

    let listed = c
        .list_parts()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let sizes: Vec<_> = listed.parts().iter().filter_map(|p| p.size()).collect();
    assert_eq!(sizes, vec![5 * MIB as i64 + 7, 5 * MIB as i64 + 3, 1234]);
    let uploads = c
        .list_multipart_uploads()
        .bucket("mpu")
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads().len(), 1);
    assert_eq!(uploads.uploads()[0].upload_id(), Some(id.as_str()));

    let out = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(completed(&done))
        .send()
        .await
        .unwrap();
    assert_eq!(out.e_tag(), Some(multipart_etag(&parts).as_str()));
    let whole: Vec<u8> = parts.concat();

    let got = c
        .get_object()
        .bucket("mpu")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("video/mp4"));
    assert_eq!(body_bytes(got).await, whole);

    let p2 = c
        .get_object()
        .bucket("mpu")
        .key("big")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(p2.parts_count(), Some(3));
    assert_eq!(p2.content_length(), Some(parts[1].len() as i64));
    assert_eq!(body_bytes(p2).await, parts[1]);
    let head = c
        .head_object()
        .bucket("mpu")
        .key("big")
        .part_number(3)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(1234));
    let e = c
        .get_object()
        .bucket("mpu")
        .key("big")
        .part_number(4)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 416);

    // A range across the first part boundary.
    let start = 5 * MIB;
    let got = c
        .get_object()
        .bucket("mpu")
        .key("big")
        .range(format!("bytes={}-{}", start, start + 100))
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, &whole[start..=start + 100]);

    let attrs = c
        .get_object_attributes()
        .bucket("mpu")
        .key("big")
        .object_attributes(ObjectAttributes::ObjectParts)
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attrs.object_parts().and_then(|p| p.total_parts_count()),
        Some(3)
    );
    assert_eq!(attrs.object_size(), Some(whole.len() as i64));

    // The upload is gone once completed: a repeat of the completion gets its answer
    // again (SDKs retry it after a timeout), another part list NoSuchUpload, as on S3.
    let again = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(completed(&done))
        .send()
        .await
        .unwrap();
    assert_eq!(again.e_tag(), Some(multipart_etag(&parts).as_str()));
    let e = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(&id)
        .multipart_upload(completed(&done[..1]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchUpload".into()), 404));
    let uploads = c
        .list_multipart_uploads()
        .bucket("mpu")
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty());
}

#[tokio::test]
async fn completion_errors_and_abort() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("mpu").send().await.unwrap();
    let parts = vec![pattern(1000, 1), pattern(1000, 2)];
    let (id, done) = upload_parts(&c, "small", &parts).await;

    let e = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&id)
        .multipart_upload(completed(&done))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("EntityTooSmall".into()), 400));

    let reversed: Vec<_> = done.iter().rev().cloned().collect();
    let e = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&id)
        .multipart_upload(completed(&reversed))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidPartOrder".into()), 400));

    let wrong = vec![(1, "\"00000000000000000000000000000000\"".to_owned())];
    let e = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&id)
        .multipart_upload(completed(&wrong))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidPart".into()), 400));

    let e = c
        .upload_part()
        .bucket("mpu")
        .key("small")
        .upload_id(&id)
        .part_number(10_001)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidArgument".into()), 400));

    // A single small part is a valid upload (the last part may be small).
    let single = vec![(1, done[0].1.clone())];
    c.complete_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(&id)
        .multipart_upload(completed(&single))
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket("mpu")
        .key("small")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, parts[0]);

    let (id2, _) = upload_parts(&c, "aborted", &parts).await;
    c.abort_multipart_upload()
        .bucket("mpu")
        .key("aborted")
        .upload_id(&id2)
        .send()
        .await
        .unwrap();
    let e = c
        .list_parts()
        .bucket("mpu")
        .key("aborted")
        .upload_id(&id2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchUpload".into()), 404));
    let e = c
        .abort_multipart_upload()
        .bucket("mpu")
        .key("aborted")
        .upload_id("not-an-upload")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchUpload".into()), 404));

    // Unused part 2 and the aborted upload's blobs are gone: only part 1 of "small" stays
    // (a shared store keeps released blobs a while, for reads already under way).
    if !shared_backends() {
        let blobs = blob_files_settled(&server, 1).await;
        assert_eq!(blobs.len(), 1, "{blobs:?}");
    }
}

#[tokio::test]
async fn upload_part_copy_with_ranges() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("mpu").send().await.unwrap();
    let source = pattern(12 * MIB, 5);
    c.put_object()
        .bucket("mpu")
        .key("src")
        .body(ByteStream::from(source.clone()))
        .send()
        .await
        .unwrap();
    let id = c
        .create_multipart_upload()
        .bucket("mpu")
        .key("assembled")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let ranges = [(0, 6 * MIB - 1), (6 * MIB, 12 * MIB - 1)];
    let mut done = Vec::new();
    for (i, (a, b)) in ranges.iter().enumerate() {
        let out = c
            .upload_part_copy()
            .bucket("mpu")
            .key("assembled")
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .copy_source("mpu/src")
            .copy_source_range(format!("bytes={a}-{b}"))
            .send()
            .await
            .unwrap();
        let etag = out
            .copy_part_result()
            .and_then(|r| r.e_tag())
            .unwrap()
            .to_owned();
        assert_eq!(etag, format!("\"{}\"", md5_hex(&source[*a..=*b])));
        done.push((i as i32 + 1, etag));
    }
    let e = c
        .upload_part_copy()
        .bucket("mpu")
        .key("assembled")
        .upload_id(&id)
        .part_number(3)
        .copy_source("mpu/src")
        .copy_source_range(format!("bytes=0-{}", 12 * MIB))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidArgument".into()), 400));
    c.complete_multipart_upload()
        .bucket("mpu")
        .key("assembled")
        .upload_id(&id)
        .multipart_upload(completed(&done))
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket("mpu")
        .key("assembled")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, source);
}

#[tokio::test]
async fn multipart_checksums_composite_and_full_object() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("mpu").send().await.unwrap();
    let parts = [pattern(5 * MIB, 7), pattern(100, 8)];
    let b64 = |raw: &[u8]| base64::engine::general_purpose::STANDARD.encode(raw);
    for (alg, kind) in [
        (ChecksumAlgorithm::Sha256, ChecksumType::Composite),
        (ChecksumAlgorithm::Crc32, ChecksumType::FullObject),
    ] {
        let key = format!("sum-{}", alg.as_str());
        let id = c
            .create_multipart_upload()
            .bucket("mpu")
            .key(&key)
            .checksum_algorithm(alg.clone())
            .checksum_type(kind.clone())
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_owned();
        let mut done = Vec::new();
        let mut part_sums = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let out = c
                .upload_part()
                .bucket("mpu")
                .key(&key)
                .upload_id(&id)
                .part_number(i as i32 + 1)
                .checksum_algorithm(alg.clone())
                .body(ByteStream::from(p.clone()))
                .send()
                .await
                .unwrap();
            let sum = out
                .checksum_sha256()
                .or(out.checksum_crc32())
                .unwrap()
                .to_owned();
            let mut part = CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(out.e_tag().unwrap());
            part = if alg == ChecksumAlgorithm::Sha256 {
                part.checksum_sha256(&sum)
            } else {
                part.checksum_crc32(&sum)
            };
            done.push(part.build());
            part_sums.push(sum);
        }
        let out = c
            .complete_multipart_upload()
            .bucket("mpu")
            .key(&key)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let head = c
            .head_object()
            .bucket("mpu")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        if alg == ChecksumAlgorithm::Sha256 {
            let mut raw = Vec::new();
            for s in &part_sums {
                raw.extend(base64::engine::general_purpose::STANDARD.decode(s).unwrap());
            }
            let expected = format!(
                "{}-2",
                b64(ring::digest::digest(&ring::digest::SHA256, &raw).as_ref())
            );
            assert_eq!(out.checksum_sha256(), Some(expected.as_str()));
            assert_eq!(head.checksum_sha256(), Some(expected.as_str()));
            assert_eq!(head.checksum_type(), Some(&ChecksumType::Composite));
        } else {
            let whole = parts.concat();
            let expected = b64(&crc32(&whole).to_be_bytes());
            assert_eq!(head.checksum_crc32(), Some(expected.as_str()));
            assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
        }
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn list_multipart_uploads_pages_in_order() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("mpu").send().await.unwrap();
    let mut ids = Vec::new();
    for key in ["a", "a", "b/1", "b/2", "c"] {
        let out = c
            .create_multipart_upload()
            .bucket("mpu")
            .key(key)
            .send()
            .await
            .unwrap();
        ids.push((key.to_owned(), out.upload_id().unwrap().to_owned()));
    }
    let mut seen = Vec::new();
    let (mut key_marker, mut id_marker) = (None, None);
    loop {
        let page = c
            .list_multipart_uploads()
            .bucket("mpu")
            .delimiter("/")
            .max_uploads(1)
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .send()
            .await
            .unwrap();
        for u in page.uploads() {
            seen.push((
                u.key().unwrap().to_owned(),
                u.upload_id().unwrap().to_owned(),
            ));
        }
        for p in page.common_prefixes() {
            seen.push((p.prefix().unwrap().to_owned(), String::new()));
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        id_marker = page.next_upload_id_marker().map(str::to_owned);
    }
    let expected = vec![
        ids[0].clone(),
        ids[1].clone(),
        ("b/".to_owned(), String::new()),
        ids[4].clone(),
    ];
    assert_eq!(
        seen, expected,
        "every upload once, in initiation order within a key"
    );
}
