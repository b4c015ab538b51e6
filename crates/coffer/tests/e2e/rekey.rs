//! Master-key rotation and rekeying through `coffer admin`, online and offline, across a
//! server crash in the middle of a rekey.

use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

/// A config for `coffer admin` pointing at the server's actual listener.
pub fn admin_config(server: &Server) -> std::path::PathBuf {
    let path = server.dir.path().join("admin.toml");
    let text = format!(
        "data_dir = \"{}\"\nhttp_listen = \"{}\"\n[[users]]\nname = \"{}\"\naccess_key = \"{}\"\nsecret_key = \"{}\"\nadmin = true\n{}",
        server.data_dir().display(),
        server.http,
        ALICE.0,
        ALICE.1,
        ALICE.2,
        server.backend_sections,
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn admin(config: &std::path::Path, args: &[&str]) -> (bool, String) {
    coffer_command(config, "admin", args)
}

/// Runs `coffer <group> <args> --config <config>`; returns success and all output.
pub fn coffer_command(config: &std::path::Path, group: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg(group)
        .args(args)
        .arg("--config")
        .arg(config)
        .env("COFFER_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn rotate_and_rekey_survive_a_crash_and_keep_every_object_readable() {
    let mut server = Server::start();
    let c = server.alice();
    c.create_bucket().bucket("keys").send().await.unwrap();
    let n = 2000usize;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let c = c.clone();
            tokio::spawn(async move {
                for i in (w..n).step_by(8) {
                    c.put_object()
                        .bucket("keys")
                        .key(format!("o/{i:05}"))
                        .body(ByteStream::from(pattern(100 + i % 300, i as u64)))
                        .send()
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let upload = c
        .create_multipart_upload()
        .bucket("keys")
        .key("pending")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap().to_owned();

    // Online rotation, through the running server's admin API.
    let (ok, out) = admin(&admin_config(&server), &["rotate-master-key"]);
    assert!(ok, "{out}");
    assert!(out.contains("version 2"), "{out}");
    // New writes use version 2; old objects still read under version 1.
    c.put_object()
        .bucket("keys")
        .key("new")
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket("keys")
        .key("o/00007")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, pattern(107, 7));

    // A throttled rekey, with the server killed under it.
    let mut rekey = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args([
            "admin", "rekey", "--batch", "100", "--rate", "800", "--config",
        ])
        .arg(admin_config(&server))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Reads keep working while it runs.
    let got = c
        .get_object()
        .bucket("keys")
        .key("o/01234")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, pattern(100 + 1234 % 300, 1234));
    server.kill9();
    assert!(
        !rekey.wait().unwrap().success(),
        "the rekey saw its server die"
    );

    server.restart();
    let (ok, out) = admin(
        &admin_config(&server),
        &["rekey", "--batch", "300", "--keep-old-versions"],
    );
    assert!(ok, "{out}");
    assert!(out.contains("rekey complete"), "{out}");
    assert!(!out.contains("retired"), "{out}");
    assert!(
        !out.contains(&format!("{n} of")),
        "the first run made progress before the crash: {out}"
    );
    let (ok, out) = admin(&admin_config(&server), &["rekey"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(" 0 of "),
        "nothing left under version 1: {out}"
    );
    assert!(
        out.contains("retired master-key versions 1\n"),
        "version 1 is destroyed once nothing needs it: {out}"
    );

    let c = server.alice();
    for i in (0..n).step_by(97) {
        let got = c
            .get_object()
            .bucket("keys")
            .key(format!("o/{i:05}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            body_bytes(got).await,
            pattern(100 + i % 300, i as u64),
            "o/{i:05}"
        );
    }
    // The upload in progress was re-sealed too and still completes.
    let part = c
        .upload_part()
        .bucket("keys")
        .key("pending")
        .upload_id(&upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"tail"))
        .send()
        .await
        .unwrap();
    c.complete_multipart_upload()
        .bucket("keys")
        .key("pending")
        .upload_id(&upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket("keys")
        .key("pending")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, b"tail");

    // Offline: with the server stopped, the CLI opens the data directory itself.
    server.kill9();
    let (ok, out) = admin(&admin_config(&server), &["rotate-master-key"]);
    assert!(ok, "{out}");
    assert!(out.contains("version 3"), "{out}");
    let (ok, out) = admin(&admin_config(&server), &["rekey"]);
    assert!(ok, "{out}");
    assert!(out.contains("retired master-key versions 2\n"), "{out}");
    server.restart();
    let got = server
        .alice()
        .get_object()
        .bucket("keys")
        .key("new")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, b"v2");

    // Only admin users may use the admin API.
    let bob_config = server.dir.path().join("bob.toml");
    std::fs::write(
        &bob_config,
        format!(
            "data_dir = \"{}\"\nhttp_listen = \"{}\"\n[[users]]\nname = \"bob\"\naccess_key = \"{}\"\nsecret_key = \"{}\"\nadmin = true\n{}",
            server.data_dir().display(),
            server.http,
            BOB.1,
            BOB.2,
            server.backend_sections,
        ),
    )
    .unwrap();
    let (ok, out) = admin(&bob_config, &["rotate-master-key"]);
    assert!(!ok);
    assert!(out.contains("AccessDenied"), "{out}");
}
