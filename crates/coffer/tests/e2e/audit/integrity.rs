//! The trail verifies until it is touched, keeps every acknowledged record across a crash, and holds only what an operation defines.

use super::*;

#[tokio::test]
async fn the_trail_verifies_until_it_is_touched() {
    if embedded_only(
        "edits the trail's files in the data directory (gateways/audit.rs edits the shared one)",
    ) {
        return;
    }
    let server = audit_server();
    let kms = kms_client(&server, ALICE);
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    for _ in 0..3 {
        for _ in 0..5 {
            kms.generate_data_key()
                .key_id(&arn)
                .number_of_bytes(32)
                .send()
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let config = admin_config(&server);
    let (ok, out) = coffer_command(&config, "audit", &["verify"]);
    assert!(ok, "{out}");
    assert!(out.contains("the trail is intact"), "{out}");
    let checked: usize = out
        .split(" log files checked")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(checked >= 2, "{out}");

    // Edit one record of a digested log file.
    let logs: Vec<_> = files_under(&server.data_dir().join("audit/AWSLogs"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail/"))
        .collect();
    let victim = &logs[0];
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(victim).unwrap()),
        &mut text,
    )
    .unwrap();
    let edited = text.replacen("GenerateDataKey", "GenerateRandom", 1);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, edited.as_bytes()).unwrap();
    std::fs::write(victim, enc.finish().unwrap()).unwrap();
    let (ok, out) = coffer_command(&config, "audit", &["verify"]);
    assert!(!ok, "{out}");
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL") && l.contains(&name) && l.contains("changed")),
        "{out}"
    );
}

#[tokio::test]
async fn every_acknowledged_read_is_on_record_after_a_crash() {
    let mut server = audit_server();
    let (c, kms) = (server.alice(), kms_client(&server, ALICE));
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    c.create_bucket().bucket("crashy").send().await.unwrap();
    let n = 60;
    for i in 0..n {
        c.put_object()
            .bucket("crashy")
            .key(format!("o{i}"))
            .body(ByteStream::from_static(b"x"))
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&arn)
            .send()
            .await
            .unwrap();
    }
    // A burst of GETs, each of its own object, killed in the middle.
    let readers: Vec<_> = (0..4)
        .map(|w| {
            let c = c.clone();
            tokio::spawn(async move {
                let mut ok = Vec::new();
                for round in 0..400 {
                    let i = (w * 13 + round * 7) % 60;
                    let Ok(out) = c
                        .get_object()
                        .bucket("crashy")
                        .key(format!("o{i}"))
                        .send()
                        .await
                    else {
                        break;
                    };
                    let Ok(bytes) = out.body.collect().await else {
                        break;
                    };
                    if bytes.into_bytes().as_ref() != b"x" {
                        break;
                    }
                    ok.push(i);
                }
                ok
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.kill9();
    let mut acknowledged: std::collections::HashMap<usize, usize> = Default::default();
    for r in readers {
        for i in r.await.unwrap() {
            *acknowledged.entry(i).or_default() += 1;
        }
    }
    assert!(
        !acknowledged.is_empty(),
        "some GETs finished before the kill"
    );
    server.restart();
    let all = records(&server);
    for (i, times) in acknowledged {
        let recorded = all
            .iter()
            .filter(|r| {
                r["eventName"] == "Decrypt"
                    && r["requestParameters"]["encryptionContext"]["aws:s3:arn"]
                        == format!("arn:aws:s3:::crashy/o{i}")
            })
            .count();
        assert!(
            recorded >= times,
            "o{i}: {times} acknowledged GETs, {recorded} records"
        );
    }
}

/// Records keep only the request members each operation defines, by their exact names:
/// a plaintext sent as `PlainText`, or junk, is named but never copied, and no record
/// outgrows its cap whatever a caller sends.
#[tokio::test]
async fn records_hold_only_the_members_an_operation_defines() {
    let server = audit_server();
    let kms = kms_client(&server, ALICE);
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let junk = "J".repeat(300_000);
    let body = format!(
        r#"{{"KeyId":"{arn}","PlainText":"c2VjcmV0LXBsYWludGV4dC12YWx1ZQ==","Plaintext":"c2VjcmV0LXBsYWludGV4dC12YWx1ZQ==","Junk":"{junk}","EncryptionContext":{{"app":"{junk}"}}}}"#
    );
    for user in [BOB, ALICE] {
        let (status, text) = signed_json(&server, user, "kms", "TrentService.Encrypt", &body);
        assert!(status == 400 || status == 200, "{status} {text}");
    }
    // A cut moves the journal into a log file: both are checked below.
    let journal = std::fs::read(server.data_dir().join("audit/journal.jsonl")).unwrap_or_default();
    let records = records(&server);
    let encrypts: Vec<&Value> = records
        .iter()
        .filter(|r| r["eventName"] == "Encrypt")
        .collect();
    assert_eq!(encrypts.len(), 2, "{encrypts:?}");
    for r in &encrypts {
        let text = serde_json::to_string(r).unwrap();
        assert!(text.len() <= 16 * 1024, "a record of {} bytes", text.len());
        assert!(!text.contains("c2VjcmV0LXBsYWludGV4dC12YWx1ZQ"), "{text}");
        assert!(!text.contains("JJJJJJJJ"), "junk was copied");
        let p = &r["requestParameters"];
        assert_eq!(p["keyId"], arn.as_str());
        let unknown: Vec<&str> = p["unrecognizedParameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            unknown.contains(&"PlainText") && unknown.contains(&"Junk"),
            "{p}"
        );
        assert!(p.get("plaintext").is_none() && p.get("plainText").is_none());
    }
    for needle in ["c2VjcmV0LXBsYWludGV4dC12YWx1ZQ", "JJJJJJJJJJJJJJJJ"] {
        assert!(!String::from_utf8_lossy(&journal).contains(needle));
        for f in files_under(&server.data_dir().join("audit")) {
            let bytes = std::fs::read(&f).unwrap();
            let text = match f.extension().and_then(|e| e.to_str()) {
                Some("gz") => {
                    let mut out = String::new();
                    std::io::Read::read_to_string(
                        &mut flate2::read::GzDecoder::new(bytes.as_slice()),
                        &mut out,
                    )
                    .unwrap();
                    out
                }
                _ => String::from_utf8_lossy(&bytes).into_owned(),
            };
            assert!(!text.contains(needle), "{needle} in {}", f.display());
        }
    }
}

/// The review's case, as an operator tries it: a dozen KMS calls, one digit of one record
/// edited in the live journal. Verify fails at once, naming the record; the server's own
/// self-check counts the failure.
#[tokio::test]
async fn an_edited_journal_record_fails_verification_at_once() {
    if embedded_only(
        "edits the trail's files in the data directory (gateways/audit.rs edits the shared one)",
    ) {
        return;
    }
    let server = Server::start_configured("audit_self_check_seconds = 1", &[], None);
    let kms = kms_client(&server, ALICE);
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    for i in 0..12 {
        kms.encrypt()
            .key_id(&arn)
            .plaintext(Blob::new(b"x".to_vec()))
            .encryption_context("order", format!("{}", 1000 + i))
            .send()
            .await
            .unwrap();
    }
    let config = admin_config(&server);
    let (ok, out) = coffer_command(&config, "audit", &["verify"]);
    assert!(ok, "{out}");
    assert!(out.contains("the trail is intact"), "{out}");
    let checked: usize = out
        .split(" records checked")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(checked >= 13, "{out}");

    let path = server.data_dir().join("audit/journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"1005\""));
    std::fs::write(&path, text.replacen("\"1005\"", "\"1006\"", 1)).unwrap();
    let (ok, out) = coffer_command(&config, "audit", &["verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL audit/journal.jsonl line") && l.contains("was changed")),
        "{out}"
    );

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, metrics) = http_get(&format!("{}/metrics", server.endpoint()));
    let failures: f64 = metrics
        .lines()
        .find(|l| l.starts_with("coffer_audit_integrity_failures_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    assert!(failures >= 1.0, "{metrics}");
}

/// The newest records of a burst, removed while the server is down right after a crash (with
/// the anchor file), are missed no more: the anchor in the metadata store moves with each
/// batch the lookup index takes, a few milliseconds behind the journal, not once a second.
#[tokio::test]
async fn records_removed_right_after_a_crash_are_caught() {
    if embedded_only(
        "edits the trail's files in the data directory (gateways/audit.rs edits the shared one)",
    ) {
        return;
    }
    let mut server = Server::start();
    let kms = kms_client(&server, ALICE);
    let key = kms.create_key().send().await.unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    // Past the writer's first anchoring, inside its one-second period.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..8 {
        kms.generate_random()
            .number_of_bytes(8)
            .send()
            .await
            .unwrap();
    }
    kms.describe_key().key_id(&arn).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.kill9();

    let audit = server.data_dir().join("audit");
    let journal = audit.join("journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    // The journal is written ahead with zeros (so that a record's fsync changes no file
    // size); its records end where they begin.
    assert!(text.ends_with('\0'), "the journal is not written ahead");
    let kept: Vec<&str> = text.trim_end_matches('\0').lines().collect();
    let last = kept.last().unwrap().to_owned();
    assert!(last.contains("DescribeKey"), "{last}");
    std::fs::write(&journal, format!("{}\n", kept[..kept.len() - 3].join("\n"))).unwrap();
    let _ = std::fs::remove_file(audit.join("chain-anchor.json"));

    server.restart();
    let (ok, out) = coffer_command(&admin_config(&server), "audit", &["verify"]);
    assert!(!ok, "three records removed at the end passed: {out}");
    assert!(out.contains("FAIL"), "{out}");
}
