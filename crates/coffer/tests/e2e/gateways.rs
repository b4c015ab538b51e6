//! Two gateways over one store (PostgreSQL + the S3 store), as behind a load balancer: what
//! one writes or changes, the other serves at once, and a user cannot tell which answered.
//! Only under the shared backends: the embedded store belongs to one process.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};

use crate::common::*;
use crate::kms::kms_client;

fn two_gateways() -> Option<(Server, Server)> {
    if !shared_backends() {
        eprintln!("SKIPPED: two gateways need the shared backends (COFFER_E2E_BACKENDS=shared)");
        return None;
    }
    let a = Server::start();
    let b = a.another_gateway();
    Some((a, b))
}

/// A metric's value summed over its series whose line contains `labels`.
fn metric(server: &Server, name: &str, labels: &str) -> f64 {
    let (_, text) = http_get(&format!("{}/metrics", server.endpoint()));
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn what_one_gateway_writes_the_other_reads_lists_copies_and_deletes() {
    let Some((a, b)) = two_gateways() else { return };
    let (ca, cb) = (a.alice(), b.alice());
    ca.create_bucket().bucket("shared").send().await.unwrap();
    let data = pattern(3 << 20, 7);
    ca.put_object()
        .bucket("shared")
        .key("from-a")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let got = cb
        .get_object()
        .bucket("shared")
        .key("from-a")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, data);
    let listed = cb.list_objects_v2().bucket("shared").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["from-a"]);
    cb.copy_object()
        .bucket("shared")
        .key("copied-on-b")
        .copy_source("shared/from-a")
        .send()
        .await
        .unwrap();
    let got = ca
        .get_object()
        .bucket("shared")
        .key("copied-on-b")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(got).await, data);
    cb.delete_object()
        .bucket("shared")
        .key("from-a")
        .send()
        .await
        .unwrap();
    let gone = ca.head_object().bucket("shared").key("from-a").send().await;
    assert_eq!(err_code(&gone.unwrap_err()).1, 404);

    // A multipart upload begun on A completes on B.
    let up = ca
        .create_multipart_upload()
        .bucket("shared")
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, client) in [(1, &ca), (2, &cb)] {
        let body = pattern(5 << 20, n as u64);
        let p = client
            .upload_part()
            .bucket("shared")
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag().unwrap())
                .build(),
        );
    }
    cb.complete_multipart_upload()
        .bucket("shared")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = ca
        .get_object()
        .bucket("shared")
        .key("mp")
        .send()
        .await
        .unwrap();
    let mut expected = pattern(5 << 20, 1);
    expected.extend(pattern(5 << 20, 2));
    assert_eq!(body_bytes(got).await, expected);
}

#[tokio::test]
async fn if_none_match_races_across_gateways_have_one_winner() {
    let Some((a, b)) = two_gateways() else { return };
    let (ca, cb) = (a.alice(), b.alice());
    ca.create_bucket().bucket("race").send().await.unwrap();
    for round in 0..8 {
        let key = format!("k{round}");
        let put = |c: aws_sdk_s3::Client, who: u8| {
            let key = key.clone();
            async move {
                c.put_object()
                    .bucket("race")
                    .key(&key)
                    .if_none_match("*")
                    .body(ByteStream::from(vec![who; 1024]))
                    .send()
                    .await
                    .map_err(|e| err_code(&e))
            }
        };
        let (ra, rb) = tokio::join!(put(ca.clone(), 1), put(cb.clone(), 2));
        let won: Vec<u8> = [(1u8, &ra), (2u8, &rb)]
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(w, _)| *w)
            .collect();
        assert_eq!(won.len(), 1, "round {round}: {ra:?} {rb:?}");
        for r in [&ra, &rb] {
            if let Err((code, status)) = r {
                assert_eq!(
                    (code.as_deref(), *status),
                    (Some("PreconditionFailed"), 412)
                );
            }
        }
        let got = cb
            .get_object()
            .bucket("race")
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            body_bytes(got).await,
            vec![won[0]; 1024],
            "the winner's bytes"
        );
    }
}

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

#[tokio::test]
async fn each_gateway_has_its_own_id_and_each_chore_one_leader() {
    let Some((a, b)) = two_gateways() else { return };
    let id = |s: &Server| {
        std::fs::read_to_string(s.data_dir().join("gateway-id"))
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_ne!(id(&a), id(&b));
    for s in [&a, &b] {
        assert!(
            s.stdout_lines
                .iter()
                .any(|l| l == &format!("coffer gateway {}", id(s))),
            "{:?}",
            s.stdout_lines
        );
    }
    for chore in ["master-key-rotation", "kms-schedule", "garbage-collection"] {
        let label = format!("chore=\"{chore}\"");
        let leaders =
            metric(&a, "coffer_chore_leader", &label) + metric(&b, "coffer_chore_leader", &label);
        assert_eq!(leaders, 1.0, "{chore}");
    }
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

/// kill -9 of the gateway that leads every chore: the other takes the leases over once they
/// run out (a 3 s lease here, renewed each second), and the failover time is printed.
#[tokio::test]
async fn a_killed_leaders_chores_pass_to_the_other_gateway() {
    if !shared_backends() {
        eprintln!("SKIPPED: two gateways need the shared backends (COFFER_E2E_BACKENDS=shared)");
        return;
    }
    let prelude = "export COFFER_CHORE_LEASE_SECONDS=3";
    let mut a = Server::start_after_shell(Some(prelude), "", &[], None);
    let mut b = a.prepared_gateway();
    std::fs::copy(a.data_dir().join("root.key"), b.data_dir().join("root.key")).unwrap();
    b.start_prepared_after_shell(prelude);
    let chores = ["master-key-rotation", "kms-schedule", "garbage-collection"];
    let leads = |s: &Server| {
        chores
            .iter()
            .map(|c| metric(s, "coffer_chore_leader", &format!("chore=\"{c}\"")))
            .sum::<f64>()
    };
    // A started first and took every lease; B waits.
    assert_eq!((leads(&a), leads(&b)), (3.0, 0.0));
    a.kill9();
    let killed = std::time::Instant::now();
    while leads(&b) < 3.0 {
        assert!(
            killed.elapsed() < std::time::Duration::from_secs(10),
            "B did not take the chores over"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let failover = killed.elapsed();
    eprintln!(
        "chore failover after kill -9: {:.2} s (lease 3 s)",
        failover.as_secs_f64()
    );
    // Within a lease and one renewal (and a little for the polling).
    assert!(failover.as_secs_f64() <= 3.0 + 1.0 + 0.5, "{failover:?}");
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

/// Garbage collection on A with no grace at all, again and again, while B writes a burst:
/// only write intents keep B's blobs (committed, but not yet named by a record) alive, and
/// every object B acknowledged reads back whole on both gateways afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_on_one_gateway_during_a_burst_on_the_other_takes_nothing_in_use() {
    let Some((a, b)) = two_gateways() else { return };
    let cb = b.alice();
    cb.create_bucket().bucket("burst").send().await.unwrap();
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let cb = cb.clone();
            tokio::spawn(async move {
                for i in 0..40u64 {
                    cb.put_object()
                        .bucket("burst")
                        .key(format!("w{w}/{i:02}"))
                        .body(ByteStream::from(pattern(70_000, w * 100 + i)))
                        .send()
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let mut collections = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        let (status, out) = tokio::task::block_in_place(|| {
            signed_raw(
                &a,
                "POST",
                "/",
                &[("x-coffer-admin", "collect-garbage")],
                br#"{"grace_seconds":0}"#,
            )
        });
        assert_eq!(status, 200, "{out}");
        collections += 1;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(
        collections >= 2,
        "only {collections} collections ran during the burst"
    );
    for client in [&a.alice(), &cb] {
        for w in 0..4u64 {
            for i in 0..40u64 {
                let got = client
                    .get_object()
                    .bucket("burst")
                    .key(format!("w{w}/{i:02}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(body_bytes(got).await, pattern(70_000, w * 100 + i));
            }
        }
    }
    // Overwrites and deletes free blobs: a collection afterwards finds nothing it may not take.
    let (status, out) = signed_raw(
        &a,
        "POST",
        "/",
        &[("x-coffer-admin", "collect-garbage")],
        br#"{"grace_seconds":0}"#,
    );
    assert_eq!(status, 200, "{out}");
}
