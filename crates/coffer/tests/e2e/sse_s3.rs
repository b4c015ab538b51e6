//! SSE-S3: every object is encrypted at rest, says so, and tampering never yields altered
//! bytes.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};

use crate::common::*;
use crate::disk::{WindowIndex, unsealed_data_keys};

#[tokio::test]
async fn no_plaintext_window_reaches_the_disk_on_any_write_path() {
    if embedded_only("reads and alters blob files on disk") {
        return;
    }
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("sse").send().await.unwrap();
    let put_data = pattern(700_000, 1);
    let part_data = pattern(300_000, 2);

    let put = c
        .put_object()
        .bucket("sse")
        .key("put")
        .body(ByteStream::from(put_data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    c.put_object()
        .bucket("sse")
        .key("explicit")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(put_data.clone()))
        .send()
        .await
        .unwrap();

    let created = c
        .create_multipart_upload()
        .bucket("sse")
        .key("mpu")
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let id = created.upload_id().unwrap();
    let p1 = c
        .upload_part()
        .bucket("sse")
        .key("mpu")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(part_data.clone()))
        .send()
        .await
        .unwrap();
    let p2 = c
        .upload_part_copy()
        .bucket("sse")
        .key("mpu")
        .upload_id(id)
        .part_number(2)
        .copy_source("sse/put")
        .copy_source_range("bytes=1000-99999")
        .send()
        .await
        .unwrap();
    assert_eq!(
        p2.copy_part_result().and_then(|r| r.e_tag()),
        Some(format!("\"{}\"", md5_hex(&put_data[1000..100_000])).as_str())
    );
    // Both parts were written sealed; the upload completes with the (small) part 1 alone.
    let listed = c
        .list_parts()
        .bucket("sse")
        .key("mpu")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 2);
    let done = c
        .complete_multipart_upload()
        .bucket("sse")
        .key("mpu")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(p1.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );

    let copied = c
        .copy_object()
        .bucket("sse")
        .key("copy")
        .copy_source("sse/put")
        .send()
        .await
        .unwrap();
    assert_eq!(
        copied.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );

    // Reads return the plaintext and report the mode.
    for (key, want) in [
        ("put", &put_data[..]),
        ("explicit", &put_data[..]),
        ("mpu", &part_data[..]),
        ("copy", &put_data[..]),
    ] {
        let got = c.get_object().bucket("sse").key(key).send().await.unwrap();
        assert_eq!(
            got.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256),
            "{key}"
        );
        assert_eq!(body_bytes(got).await, want, "{key}");
        let head = c.head_object().bucket("sse").key(key).send().await.unwrap();
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256),
            "{key}"
        );
    }

    // Nothing under the data directory holds any 32-byte window of what was written.
    let plaintext: Vec<u8> = [&put_data[..], &part_data[..]].concat();
    let index = WindowIndex::new(&plaintext);
    let files = files_under(&server.data_dir());
    assert!(files.len() > 3, "{files:?}");
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !index.found_in(&bytes),
            "plaintext found in {}",
            f.display()
        );
    }
    // The scan would see plaintext if it were there.
    assert!(index.found_in(&put_data[5000..6000]));

    // Nor any object's data key in the clear (opened here the way an attacker holding the
    // root key would; the server is stopped so its database can be opened).
    let mut server = server;
    server.kill9();
    let keys = unsealed_data_keys(&server.data_dir());
    assert_eq!(keys.len(), 4, "one data key per object written above");
    let holds_a_key = |bytes: &[u8]| bytes.windows(32).any(|w| keys.iter().any(|k| w == k));
    for f in files_under(&server.data_dir()) {
        assert!(
            !holds_a_key(&std::fs::read(&f).unwrap()),
            "an unsealed data key is in {}",
            f.display()
        );
    }
    assert!(
        holds_a_key(&[&b"xyz"[..], &keys[3]].concat()),
        "the key scan would see a key"
    );
}

#[tokio::test]
async fn unsupported_modes_are_refused_not_downgraded() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("sse").send().await.unwrap();
    let e = c
        .put_object()
        .bucket("sse")
        .key("k")
        .server_side_encryption(ServerSideEncryption::AwsKmsDsse)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NotImplemented".into()), 501));
    let (status, text) = signed_raw(
        &server,
        "PUT",
        "/sse/k",
        &[("x-amz-server-side-encryption", "ROT13")],
        b"x",
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("<Code>InvalidArgument</Code>"), "{text}");
    let e = c
        .head_object()
        .bucket("sse")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 404, "nothing was stored");
}

fn blob_of(server: &Server, except: &[std::path::PathBuf]) -> std::path::PathBuf {
    files_under(&server.data_dir().join("objects/blobs"))
        .into_iter()
        .find(|p| !except.contains(p))
        .expect("a blob")
}

#[tokio::test]
async fn tampered_blobs_never_yield_altered_bytes() {
    if embedded_only("reads and alters blob files on disk") {
        return;
    }
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("sse").send().await.unwrap();
    let data = pattern(400_000, 7);
    c.put_object()
        .bucket("sse")
        .key("a")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let blob_a = blob_of(&server, &[]);

    // A flipped bit in the third segment: the first 64 KiB still read, a range over the
    // damaged segment is an error, and a whole GET never completes with wrong bytes.
    let original = std::fs::read(&blob_a).unwrap();
    let mut flipped = original.clone();
    let third_segment = 17 + 2 * (65536 + 16) + 100;
    flipped[third_segment] ^= 0x01;
    std::fs::write(&blob_a, &flipped).unwrap();
    let ok = c
        .get_object()
        .bucket("sse")
        .key("a")
        .range("bytes=0-1023")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(ok).await, &data[..1024]);
    let e = c
        .get_object()
        .bucket("sse")
        .key("a")
        .range("bytes=140000-140100")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 500);
    match c.get_object().bucket("sse").key("a").send().await {
        // 0: the connection was cut before the status line was flushed.
        Err(e) => assert!([0, 500].contains(&err_code(&e).1), "{e:?}"),
        Ok(out) => {
            let body = out.body.collect().await;
            assert!(body.is_err(), "a transfer over a damaged segment must fail");
        }
    }

    // Damage at the start is an error status before any byte.
    let mut head_flip = original.clone();
    head_flip[20] ^= 0x80;
    std::fs::write(&blob_a, &head_flip).unwrap();
    let e = c
        .get_object()
        .bucket("sse")
        .key("a")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 500);

    // Truncation (the last segment dropped) is detected.
    std::fs::write(&blob_a, &original[..original.len() - 1000]).unwrap();
    let e = c
        .get_object()
        .bucket("sse")
        .key("a")
        .range("bytes=0-10")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 500);

    // Another object's blob in this object's place does not open.
    std::fs::write(&blob_a, &original).unwrap();
    c.put_object()
        .bucket("sse")
        .key("b")
        .body(ByteStream::from(pattern(400_000, 8)))
        .send()
        .await
        .unwrap();
    let blob_b = blob_of(&server, std::slice::from_ref(&blob_a));
    std::fs::copy(&blob_b, &blob_a).unwrap();
    let e = c
        .get_object()
        .bucket("sse")
        .key("a")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 500);

    // Restored, it reads again.
    std::fs::write(&blob_a, &original).unwrap();
    let got = c.get_object().bucket("sse").key("a").send().await.unwrap();
    assert_eq!(body_bytes(got).await, data);
}

#[tokio::test]
async fn a_small_range_opens_at_most_two_segments() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("sse").send().await.unwrap();
    let data = pattern(3 * 1024 * 1024, 9);
    c.put_object()
        .bucket("sse")
        .key("big")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let before = segments_opened(&server);
    // 1 KiB straddling a segment boundary.
    let got = c
        .get_object()
        .bucket("sse")
        .key("big")
        .range("bytes=1048000-1049023")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, &data[1_048_000..1_049_024]);
    let opened = segments_opened(&server) - before;
    assert!((1..=2).contains(&opened), "opened {opened} segments");
}

fn segments_opened(server: &Server) -> u64 {
    let (_, text) = http_get(&format!("http://{}/metrics", server.http));
    series_value(&text, "coffer_segments_opened_total") as u64
}

#[tokio::test]
async fn the_server_refuses_another_root_key_or_an_exposed_key_file() {
    let mut server = Server::start();
    server
        .alice()
        .create_bucket()
        .bucket("sse")
        .send()
        .await
        .unwrap();
    server.kill9();
    let data = server.data_dir();
    let config = server.dir.path().join("coffer.toml");
    let run = |env: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
        cmd.args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--https",
            "",
        ]);
        if let Some(k) = env {
            cmd.env("COFFER_ROOT_KEY", k);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    assert!(!ok);
    assert!(err.contains("does not match"), "{err}");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        data.join("root.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    // A key file others could read is tightened at start, as every file of an older data
    // directory is (issue 11: refuse only where tightening fails), and the server starts.
    server.restart();
    let mode = std::fs::metadata(data.join("root.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn bucket_default_encryption_api() {
    use aws_sdk_s3::types::{
        ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    };
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("enc").send().await.unwrap();
    let rule_of =
        |out: &aws_sdk_s3::operation::get_bucket_encryption::GetBucketEncryptionOutput| {
            let rule = &out.server_side_encryption_configuration().unwrap().rules()[0];
            (
                rule.apply_server_side_encryption_by_default()
                    .map(|d| d.sse_algorithm().clone()),
                rule.bucket_key_enabled(),
            )
        };
    let fresh = c
        .get_bucket_encryption()
        .bucket("enc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        rule_of(&fresh),
        (Some(ServerSideEncryption::Aes256), Some(false))
    );

    let config = |alg: ServerSideEncryption, kms: Option<&str>, rules: usize| {
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(alg)
                    .set_kms_master_key_id(kms.map(str::to_owned))
                    .build()
                    .unwrap(),
            )
            .bucket_key_enabled(true)
            .build();
        let mut b = ServerSideEncryptionConfiguration::builder();
        for _ in 0..rules {
            b = b.rules(rule.clone());
        }
        b.build().unwrap()
    };
    c.put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(config(ServerSideEncryption::Aes256, None, 1))
        .send()
        .await
        .unwrap();
    let got = c
        .get_bucket_encryption()
        .bucket("enc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        rule_of(&got),
        (Some(ServerSideEncryption::Aes256), Some(true))
    );

    let e = c
        .put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(config(ServerSideEncryption::Aes256, Some("k"), 1))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("InvalidArgument".into()), 400));
    let e = c
        .put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(config(ServerSideEncryption::Aes256, None, 2))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("MalformedXML".into()), 400));
    let e = c
        .put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(config(ServerSideEncryption::AwsKmsDsse, None, 1))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).1, 501);

    c.delete_bucket_encryption()
        .bucket("enc")
        .send()
        .await
        .unwrap();
    c.delete_bucket_encryption()
        .bucket("enc")
        .send()
        .await
        .unwrap();
    let reset = c
        .get_bucket_encryption()
        .bucket("enc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        rule_of(&reset),
        (Some(ServerSideEncryption::Aes256), Some(false))
    );

    let e = c
        .get_bucket_encryption()
        .bucket("nowhere")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("NoSuchBucket".into()), 404));
    let e = server
        .client(BOB)
        .get_bucket_encryption()
        .bucket("enc")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), (Some("AccessDenied".into()), 403));
}

/// Concurrent large uploads share the MD5 engine's vector lanes (coffer-md5's `SharedMd5`):
/// each must still get the MD5 of its own body as its ETag, and a wrong Content-MD5 among
/// them must fail alone.
#[tokio::test]
async fn concurrent_large_puts_each_get_their_own_md5_etag() {
    let server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("lanes").send().await.unwrap();
    // Sizes off the 64 KiB piece and 64-byte block boundaries, so lanes end mid-piece.
    let bodies: Vec<Vec<u8>> = (0..8u64)
        .map(|i| pattern(2_500_000 + 70_001 * i as usize, 100 + i))
        .collect();
    let puts = bodies.iter().enumerate().map(|(i, body)| {
        let c = c.clone();
        let body = body.clone();
        async move {
            c.put_object()
                .bucket("lanes")
                .key(format!("k{i}"))
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap()
        }
    });
    let bad = c
        .put_object()
        .bucket("lanes")
        .key("bad")
        .content_md5(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            [0u8; 16],
        ))
        .body(ByteStream::from(pattern(3_000_000, 99)))
        .send();
    let (results, bad) = tokio::join!(futures::future::join_all(puts), bad);
    for (i, (put, body)) in results.iter().zip(&bodies).enumerate() {
        let want = format!("\"{}\"", md5_hex(body));
        assert_eq!(put.e_tag(), Some(want.as_str()), "object k{i}");
        let got = c
            .get_object()
            .bucket("lanes")
            .key(format!("k{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(got.e_tag(), Some(want.as_str()));
        assert_eq!(&body_bytes(got).await, body, "object k{i}");
    }
    let e = bad.unwrap_err();
    assert_eq!(err_code(&e), (Some("BadDigest".into()), 400));
}
