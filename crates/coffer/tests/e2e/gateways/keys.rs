//! Keys across gateways: KMS key states and deletion windows, the shared root key, and
//! master-key rotation with a rekey while the other gateway serves.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};

use super::two_gateways;
use crate::common::*;
use crate::kms::kms_client;

#[tokio::test]
async fn a_key_disabled_on_one_gateway_stops_reads_on_the_other_at_once() {
    let Some((a, b)) = two_gateways() else { return };
    let (ca, cb) = (a.alice(), b.alice());
    let kms_a = kms_client(&a, ALICE);
    let key = kms_a.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    ca.create_bucket().bucket("plain-kms").send().await.unwrap();
    ca.create_bucket()
        .bucket("bucket-key")
        .send()
        .await
        .unwrap();
    ca.put_bucket_encryption()
        .bucket("bucket-key")
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .kms_master_key_id(&key_id)
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
    ca.put_object()
        .bucket("plain-kms")
        .key("o")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key_id)
        .body(ByteStream::from(b"no bucket key".to_vec()))
        .send()
        .await
        .unwrap();
    let put = ca
        .put_object()
        .bucket("bucket-key")
        .key("o")
        .body(ByteStream::from(b"under a bucket key".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.bucket_key_enabled(), Some(true));
    // B reads both (and so caches the bucket key).
    for (bucket, body) in [
        ("plain-kms", &b"no bucket key"[..]),
        ("bucket-key", b"under a bucket key"),
    ] {
        let got = cb
            .get_object()
            .bucket(bucket)
            .key("o")
            .send()
            .await
            .unwrap();
        assert_eq!(body_bytes(got).await, body);
    }
    kms_a.disable_key().key_id(&key_id).send().await.unwrap();
    for bucket in ["plain-kms", "bucket-key"] {
        let e = cb
            .get_object()
            .bucket(bucket)
            .key("o")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            err_code(&e),
            (Some("KMS.DisabledException".into()), 400),
            "{bucket}"
        );
    }
    kms_client(&b, ALICE)
        .enable_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let got = ca
        .get_object()
        .bucket("bucket-key")
        .key("o")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, b"under a bucket key");
}

/// Every gateway gets the one root key from outside (here: a command that prints it, as a
/// secret manager's CLI would); a gateway given another key refuses to start, with one line
/// saying why, before it serves anything.
#[tokio::test]
async fn gateways_share_one_root_key_and_another_key_is_refused_at_start() {
    if !shared_backends() {
        eprintln!("SKIPPED: two gateways need the shared backends (COFFER_E2E_BACKENDS=shared)");
        return;
    }
    let a = Server::start();
    let ca = a.alice();
    ca.create_bucket().bucket("keyed").send().await.unwrap();
    ca.put_object()
        .bucket("keyed")
        .key("o")
        .body(ByteStream::from(
            b"sealed under the shared master key".to_vec(),
        ))
        .send()
        .await
        .unwrap();
    let key_file = a.data_dir().join("root.key");
    let mut b = a.prepared_gateway();
    b.start_prepared_after_shell(&format!(
        "export COFFER_ROOT_KEY_COMMAND='cat {}'",
        key_file.display()
    ));
    assert!(!b.data_dir().join("root.key").exists(), "no key of its own");
    let got = b
        .alice()
        .get_object()
        .bucket("keyed")
        .key("o")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, b"sealed under the shared master key");

    let stranger = a.prepared_gateway();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["serve", "--config"])
        .arg(stranger.config_path())
        .args(["--http", "127.0.0.1:0", "--https", ""])
        .env(
            "COFFER_ROOT_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .env("COFFER_LOG", "off")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("coffer ready"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("root key does not match"), "{stderr}");
}

/// A deletion window scheduled on A and ended by B's run of the KMS schedule (as the chore's
/// leader would): the key is gone on both, and so are exactly its objects, on both.
#[tokio::test]
async fn a_deletion_window_ending_on_one_gateway_ends_the_key_on_both() {
    let Some((a, b)) = two_gateways() else { return };
    let (ca, cb) = (a.alice(), b.alice());
    let kms_a = kms_client(&a, ALICE);
    let doomed = kms_a.create_key().send().await.unwrap();
    let doomed = doomed.key_metadata().unwrap().key_id().to_owned();
    let kept = kms_a.create_key().send().await.unwrap();
    let kept = kept.key_metadata().unwrap().key_id().to_owned();
    ca.create_bucket().bucket("window").send().await.unwrap();
    for (key, kms_key) in [("doomed", &doomed), ("kept", &kept)] {
        ca.put_object()
            .bucket("window")
            .key(key)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(kms_key)
            .body(ByteStream::from(key.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
    }
    kms_a
        .schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    crate::sse_kms::kms_run_due_in(&b, 8);
    for (gateway, client) in [("A", &ca), ("B", &cb)] {
        let e = client
            .get_object()
            .bucket("window")
            .key("doomed")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            err_code(&e),
            (Some("KMS.NotFoundException".into()), 400),
            "on {gateway}"
        );
        let got = client
            .get_object()
            .bucket("window")
            .key("kept")
            .send()
            .await
            .unwrap();
        assert_eq!(body_bytes(got).await, b"kept", "on {gateway}");
    }
    let e = kms_client(&a, ALICE)
        .describe_key()
        .key_id(&doomed)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::kms::kms_err(&e).0.as_deref(),
        Some("NotFoundException")
    );
}

/// A master-key rotation and a whole rekey (which retires the old version) run through A
/// while B keeps writing and reading: every write on B succeeds, and every object, old or
/// new, reads back on both gateways afterwards.
#[tokio::test]
async fn a_rekey_on_one_gateway_while_the_other_serves_loses_nothing() {
    let Some((a, b)) = two_gateways() else { return };
    let (ca, cb) = (a.alice(), b.alice());
    ca.create_bucket().bucket("rekeyed").send().await.unwrap();
    for i in 0..150u64 {
        ca.put_object()
            .bucket("rekeyed")
            .key(format!("old/{i:03}"))
            .body(ByteStream::from(pattern(200, i)))
            .send()
            .await
            .unwrap();
    }
    let config = crate::rekey::admin_config(&a);
    let (ok, out) = crate::rekey::coffer_command(&config, "admin", &["rotate-master-key"]);
    assert!(ok, "{out}");
    let writer = {
        let cb = cb.clone();
        tokio::spawn(async move {
            for i in 0..150u64 {
                cb.put_object()
                    .bucket("rekeyed")
                    .key(format!("new/{i:03}"))
                    .body(ByteStream::from(pattern(300, 1000 + i)))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("PUT new/{i:03} on B during the rekey: {e:?}"));
                let got = cb
                    .get_object()
                    .bucket("rekeyed")
                    .key(format!("old/{:03}", i % 150))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(body_bytes(got).await, pattern(200, i % 150));
            }
        })
    };
    let rekey = tokio::task::spawn_blocking(move || {
        crate::rekey::coffer_command(&config, "admin", &["rekey", "--batch", "50"])
    });
    let (ok, out) = rekey.await.unwrap();
    writer.await.unwrap();
    assert!(ok && out.contains("rekey complete"), "{out}");
    // B learned of the rotation and stopped sealing under version 1, so it could go.
    assert!(out.contains("retired master-key versions 1"), "{out}");
    for client in [&ca, &cb] {
        for i in 0..150u64 {
            let got = client
                .get_object()
                .bucket("rekeyed")
                .key(format!("old/{i:03}"))
                .send()
                .await
                .unwrap();
            assert_eq!(body_bytes(got).await, pattern(200, i));
            let got = client
                .get_object()
                .bucket("rekeyed")
                .key(format!("new/{i:03}"))
                .send()
                .await
                .unwrap();
            assert_eq!(body_bytes(got).await, pattern(300, 1000 + i));
        }
    }
}

/// `coffer admin rotate-master-key` on both gateways at once: one new version, which both
/// name; a rotation after that makes the next.
#[tokio::test]
async fn rotations_asked_of_both_gateways_at_once_make_one_version() {
    let Some((a, b)) = two_gateways() else { return };
    let version = |out: &str| -> u64 {
        out.split("is now version ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no version in {out:?}"))
    };
    let rotate = |s: &Server| {
        let config = crate::rekey::admin_config(s);
        std::thread::spawn(move || {
            crate::rekey::coffer_command(&config, "admin", &["rotate-master-key"])
        })
    };
    let (on_a, on_b) = (rotate(&a), rotate(&b));
    let ((ok_a, out_a), (ok_b, out_b)) = (on_a.join().unwrap(), on_b.join().unwrap());
    assert!(ok_a && ok_b, "{out_a}\n{out_b}");
    assert_eq!(version(&out_a), version(&out_b), "{out_a}\n{out_b}");
    assert_eq!(version(&out_a), 2, "the first rotation makes version 2");
    let (ok, out) = crate::rekey::coffer_command(
        &crate::rekey::admin_config(&b),
        "admin",
        &["rotate-master-key"],
    );
    assert!(ok, "{out}");
    assert_eq!(version(&out), 3);
}
