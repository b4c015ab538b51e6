//! Concurrent writers and readers of one key: conditions are atomic, reads are whole.

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

#[tokio::test]
async fn only_one_create_only_put_wins() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("race").send().await.unwrap();
    let attempts: Vec<_> = (0..12)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                c.put_object()
                    .bucket("race")
                    .key("lock")
                    .if_none_match("*")
                    .body(ByteStream::from(pattern(200_000, i)))
                    .send()
                    .await
                    .map_err(|e| err_code(&e))
            })
        })
        .collect();
    let mut won = 0;
    for a in attempts {
        match a.await.unwrap() {
            Ok(_) => won += 1,
            Err(code) => assert_eq!(code, (Some("PreconditionFailed".into()), 412)),
        }
    }
    assert_eq!(won, 1, "exactly one create-only PUT succeeds");
}

#[tokio::test]
async fn reads_during_overwrites_return_one_whole_version() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("race").send().await.unwrap();
    let versions: Vec<Vec<u8>> = (0..4).map(|i| pattern(1_500_000, 50 + i)).collect();
    c.put_object()
        .bucket("race")
        .key("hot")
        .body(ByteStream::from(versions[0].clone()))
        .send()
        .await
        .unwrap();
    let writer = {
        let (c, versions) = (c.clone(), versions.clone());
        tokio::spawn(async move {
            for round in 0..40 {
                let v = versions[round % versions.len()].clone();
                c.put_object()
                    .bucket("race")
                    .key("hot")
                    .body(ByteStream::from(v))
                    .send()
                    .await
                    .unwrap();
            }
        })
    };
    for _ in 0..40 {
        let got = c
            .get_object()
            .bucket("race")
            .key("hot")
            .send()
            .await
            .unwrap();
        let bytes = body_bytes(got).await;
        assert!(
            versions.contains(&bytes),
            "a GET returned bytes of no single version"
        );
    }
    writer.await.unwrap();
}

#[tokio::test]
async fn edge_ranges_and_part_numbers() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("race").send().await.unwrap();
    c.put_object()
        .bucket("race")
        .key("empty")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    let e = c
        .get_object()
        .bucket("race")
        .key("empty")
        .range("bytes=-5")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidRange".into()), 416));

    c.put_object()
        .bucket("race")
        .key("single")
        .body(ByteStream::from_static(b"0123456789"))
        .send()
        .await
        .unwrap();
    let p1 = c
        .get_object()
        .bucket("race")
        .key("single")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(p1.content_range(), Some("bytes 0-9/10"));
    assert_eq!(body_bytes(p1).await, b"0123456789");

    // A folder-marker object and its contents, one key per page.
    for k in ["dir/", "dir/a", "dir/b", "top"] {
        c.put_object()
            .bucket("race")
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket("race")
            .prefix("dir/")
            .delimiter("/")
            .max_keys(1)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        seen.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        if page.is_truncated() != Some(true) {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    assert_eq!(seen, ["dir/", "dir/a", "dir/b"]);
}
