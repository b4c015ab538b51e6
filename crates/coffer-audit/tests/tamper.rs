//! The trail proves itself: an untouched trail verifies; each kind of tampering is named.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use coffer_audit::{
    AuditEvent, AuditLog, Cadence, ChainKey, Filter, Identity, Layout, MemoryAnchorStore, Origin,
    SigningKey,
};
use serde_json::json;

fn event(i: usize) -> AuditEvent {
    AuditEvent {
        event_source: coffer_audit::KMS_SOURCE,
        event_name: if i.is_multiple_of(2) {
            "Decrypt"
        } else {
            "GenerateDataKey"
        }
        .into(),
        identity: Some(Identity {
            arn: format!("arn:aws:iam::000000000000:user/u{}", i % 3),
            user_name: format!("u{}", i % 3),
            access_key_id: None,
        }),
        origin: Origin::Service("s3.amazonaws.com".into()),
        request_parameters: json!({"encryptionContext": {"aws:s3:arn": format!("arn:aws:s3:::b/k{i}")}}),
        response_elements: serde_json::Value::Null,
        error: None,
        read_only: true,
        resources: vec![
            "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        ],
        request_id: format!("req-{i}"),
        data_event: false,
        service_event_details: None,
        additional_event_data: None,
    }
}

fn chain_key() -> ChainKey {
    ChainKey::new(&zeroize::Zeroizing::new([42u8; 32]))
}

/// An open, empty trail whose timers never fire.
fn empty_trail(dir: &Path) -> (Layout, AuditLog) {
    let layout = Layout::new(dir, "000000000000", "us-east-1");
    let key = SigningKey::from_pkcs8(&SigningKey::generate().unwrap()).unwrap();
    let cadence = Cadence {
        log_file_every: Duration::from_secs(3600),
        digest_every: Duration::from_secs(3600),
    };
    let log = AuditLog::open(
        layout.clone(),
        key,
        chain_key(),
        Arc::new(MemoryAnchorStore::default()),
        None,
        cadence,
    )
    .unwrap();
    (layout, log)
}

/// A trail of three digests over several log files.
fn trail(dir: &Path) -> (Layout, AuditLog) {
    let (layout, log) = empty_trail(dir);
    let mut i = 0;
    for _ in 0..3 {
        for _ in 0..2 {
            for _ in 0..5 {
                log.record(&event(i)).unwrap();
                i += 1;
            }
            log.cut().unwrap();
        }
        log.digest().unwrap();
    }
    (layout, log)
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn problems(log: &AuditLog) -> Vec<String> {
    log.verify(None, None).problems
}

#[test]
fn an_untouched_trail_verifies_and_finds_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = trail(dir.path());
    let report = log.verify(None, None);
    assert!(report.passed(), "{:?}", report.problems);
    assert_eq!(report.digests_checked, 3);
    assert_eq!(report.log_files_checked, 6);
    assert_eq!(report.records_checked, 30);
    // Records still in the journal are found too.
    log.record(&event(99)).unwrap();
    let all = coffer_audit::lookup(&layout, &Filter::default());
    assert_eq!(all.len(), 31);
    let by_user = coffer_audit::lookup(
        &layout,
        &Filter {
            user: Some("u1".into()),
            event_name: Some("GenerateDataKey".into()),
            ..Default::default()
        },
    );
    assert!(
        by_user
            .iter()
            .all(|r| r["userIdentity"]["userName"] == "u1")
    );
    assert_eq!(
        coffer_audit::lookup(
            &layout,
            &Filter {
                object: Some("b/k7".into()),
                ..Default::default()
            }
        )
        .len(),
        1
    );
}

#[test]
fn each_kind_of_tampering_is_named() {
    // An edited record.
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = trail(dir.path());
    let logs = files(&layout.root, ".json.gz")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail/"))
        .collect::<Vec<_>>();
    let victim = &logs[1];
    let text = {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(victim).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    let edited = text.replacen("\"u0\"", "\"mallory\"", 1);
    assert_ne!(edited, text);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, edited.as_bytes()).unwrap();
    std::fs::write(victim, enc.finish().unwrap()).unwrap();
    let p = problems(&log);
    // The digest's hash of the file, and the record's own MAC.
    assert_eq!(p.len(), 2, "{p:?}");
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    assert!(p.iter().all(|l| l.contains(&name)), "{p:?}");
    assert!(
        p.iter()
            .any(|l| l.contains(" record #") && l.contains("was changed")),
        "{p:?}"
    );

    // A removed log file, and two swapped.
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = trail(dir.path());
    let logs: Vec<PathBuf> = files(&layout.root, ".json.gz")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail/"))
        .collect();
    std::fs::remove_file(&logs[0]).unwrap();
    let (a, b) = (
        std::fs::read(&logs[2]).unwrap(),
        std::fs::read(&logs[3]).unwrap(),
    );
    std::fs::write(&logs[2], &b).unwrap();
    std::fs::write(&logs[3], &a).unwrap();
    let p = problems(&log);
    assert!(p.iter().any(|l| l.contains("removed")), "{p:?}");
    assert_eq!(
        p.iter().filter(|l| l.contains("changed")).count(),
        2,
        "{p:?}"
    );

    // A truncated digest, and a removed one.
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = trail(dir.path());
    let digests: Vec<PathBuf> = files(&layout.root, ".json.gz")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("CloudTrail-Digest"))
        .collect();
    let bytes = std::fs::read(&digests[1]).unwrap();
    std::fs::write(&digests[1], &bytes[..bytes.len() / 2]).unwrap();
    let p = problems(&log);
    assert!(p.iter().any(|l| l.contains("truncated")), "{p:?}");
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = trail(dir.path());
    let digests: Vec<PathBuf> = files(&layout.root, ".json.gz")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("CloudTrail-Digest"))
        .collect();
    std::fs::remove_file(&digests[1]).unwrap();
    let p = problems(&log);
    assert!(p.iter().any(|l| l.contains("removed")), "{p:?}");

    // The newest digest removed, with the log files only it listed.
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = trail(dir.path());
    let digests: Vec<PathBuf> = files(&layout.root, ".json.gz")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("CloudTrail-Digest"))
        .collect();
    let newest = digests.last().unwrap();
    let listed: serde_json::Value = {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(newest).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        serde_json::from_str(&s).unwrap()
    };
    for f in listed["logFiles"].as_array().unwrap() {
        std::fs::remove_file(layout.root.join(f["s3Object"].as_str().unwrap())).unwrap();
    }
    std::fs::remove_file(newest).unwrap();
    let mut sig = newest.as_os_str().to_owned();
    sig.push(".sig");
    std::fs::remove_file(&sig).unwrap();
    let p = problems(&log);
    assert!(p.iter().any(|l| l.contains("not the chain's end")), "{p:?}");

    // A digest re-signed with another key.
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = trail(dir.path());
    let digests: Vec<PathBuf> = files(&layout.root, ".json.gz")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("CloudTrail-Digest"))
        .collect();
    let other = SigningKey::from_pkcs8(&SigningKey::generate().unwrap()).unwrap();
    let sig = hex::encode(other.sign(b"anything").unwrap());
    let mut sig_path = digests[2].as_os_str().to_owned();
    sig_path.push(".sig");
    std::fs::write(&sig_path, sig).unwrap();
    let p = problems(&log);
    assert!(
        p.iter().any(|l| l.contains("signature does not verify")),
        "{p:?}"
    );

    // The whole trail re-signed with another key, its public half published in place of
    // the server's: only a verifier that knows the server's key catches it.
    let dir = tempfile::tempdir().unwrap();
    let (layout, _log) = trail(dir.path());
    let genuine = hex::decode(
        std::fs::read_to_string(layout.root.join(coffer_audit::PUBLIC_KEY))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let forged = SigningKey::from_pkcs8(&SigningKey::generate().unwrap()).unwrap();
    std::fs::write(
        layout.root.join(coffer_audit::PUBLIC_KEY),
        hex::encode(forged.public_key()),
    )
    .unwrap();
    let report = coffer_audit::verify(
        &layout,
        &coffer_audit::Trust {
            signing_key: Some(&genuine),
            ..coffer_audit::Trust::files_only()
        },
        None,
        None,
    );
    assert!(
        report
            .problems
            .iter()
            .any(|l| l.contains("not the server's signing key")),
        "{:?}",
        report.problems
    );
}

/// The journal's lines (without the zeros it is written ahead with).
fn journal(layout: &Layout) -> Vec<String> {
    std::fs::read_to_string(layout.root.join("journal.jsonl"))
        .unwrap_or_default()
        .trim_end_matches('\0')
        .lines()
        .map(str::to_owned)
        .collect()
}

fn set_journal(layout: &Layout, lines: &[String]) {
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    std::fs::write(layout.root.join("journal.jsonl"), text).unwrap();
}

/// Five records cut into a log file no digest covers yet, five more in the journal.
fn live_trail(dir: &Path) -> (Layout, AuditLog) {
    let (layout, log) = empty_trail(dir);
    for i in 0..5 {
        log.record(&event(i)).unwrap();
    }
    log.cut().unwrap();
    for i in 5..10 {
        log.record(&event(i)).unwrap();
    }
    (layout, log)
}

fn fails_with(log: &AuditLog, needles: &[&str]) {
    let p = problems(log);
    for n in needles {
        assert!(p.iter().any(|l| l.contains(n)), "{n:?} not in {p:?}");
    }
}

#[test]
fn the_newest_records_are_as_tamper_evident_as_digested_ones() {
    // Untouched: every record checked, in the journal and in the undigested log file.
    let dir = tempfile::tempdir().unwrap();
    let (_, log) = live_trail(dir.path());
    let r = log.verify(None, None);
    assert!(r.passed(), "{:?}", r.problems);
    assert_eq!(
        (r.records_checked, r.journal_records, r.not_yet_digested),
        (10, 5, 1)
    );

    // One byte of one journal record changed (the operator's test in the issue).
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = live_trail(dir.path());
    let mut lines = journal(&layout);
    lines[2] = lines[2].replacen("req-7", "req-8", 1);
    set_journal(&layout, &lines);
    fails_with(&log, &["journal.jsonl line 3", "record 8 was changed"]);

    // A record deleted; two swapped; a forged one inserted (with and without a link).
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = live_trail(dir.path());
    let mut lines = journal(&layout);
    lines.remove(1);
    set_journal(&layout, &lines);
    fails_with(&log, &["journal.jsonl line 2", "records 7..7 were removed"]);
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = live_trail(dir.path());
    let mut lines = journal(&layout);
    lines.swap(1, 2);
    set_journal(&layout, &lines);
    fails_with(&log, &["journal.jsonl line 2", "reordered"]);
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = live_trail(dir.path());
    let mut lines = journal(&layout);
    let mut forged: serde_json::Value = serde_json::from_str(&lines[4]).unwrap();
    forged["userIdentity"]["userName"] = json!("mallory");
    let unlinked = {
        let mut f = forged.clone();
        f.as_object_mut().unwrap().remove("cofferChain");
        f
    };
    forged["cofferChain"]["seq"] = json!(11);
    lines.push(forged.to_string());
    lines.insert(2, unlinked.to_string());
    set_journal(&layout, &lines);
    fails_with(
        &log,
        &[
            "journal.jsonl line 3: not chained",
            "journal.jsonl line 7",
            "record 11 was changed, or forged",
        ],
    );

    // The tail cut off, or the journal emptied: the live head names what is missing.
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = live_trail(dir.path());
    let lines = journal(&layout);
    set_journal(&layout, &lines[..3]);
    fails_with(
        &log,
        &["names record 10, but the trail ends at record 8: the newest records were removed"],
    );
    set_journal(&layout, &[]);
    fails_with(&log, &["the trail ends at record 5"]);

    // The undigested log file: edited, or removed with or without its state entry; a forged
    // log file listed in the state.
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = live_trail(dir.path());
    let cut = files(&layout.root, ".json.gz").remove(0);
    let name = cut.file_name().unwrap().to_string_lossy().into_owned();
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&cut).unwrap()),
        &mut text,
    )
    .unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, text.replacen("req-3", "req-9", 1).as_bytes()).unwrap();
    std::fs::write(&cut, enc.finish().unwrap()).unwrap();
    fails_with(
        &log,
        &[
            &format!("{name}: changed since it was cut"),
            "record 4 was changed",
        ],
    );
    std::fs::remove_file(&cut).unwrap();
    fails_with(
        &log,
        &[&format!("{name}: removed"), "records 1..5 were removed"],
    );
    let state_path = layout.root.join("digest-state.json");
    let state = std::fs::read_to_string(&state_path).unwrap();
    let emptied = state.replace(&name, "AWSLogs/forged.json.gz");
    std::fs::write(&state_path, emptied).unwrap();
    fails_with(&log, &["digest-state.json: its MAC does not verify"]);
    std::fs::remove_file(&state_path).unwrap();
    fails_with(&log, &["records 1..5 were removed"]);

    // Everything deleted: the metadata store's anchor still names the newest record.
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = live_trail(dir.path());
    for f in walk(&layout.root) {
        if f.file_name().unwrap() != "signing-key.pub" {
            std::fs::remove_file(f).unwrap();
        }
    }
    fails_with(
        &log,
        &["chain-anchor.json: missing", "no record could be checked"],
    );
}

#[test]
fn records_removed_while_no_server_ran_stay_evident_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path(), "000000000000", "us-east-1");
    let anchors = Arc::new(MemoryAnchorStore::default());
    let open = |anchors: Arc<MemoryAnchorStore>| {
        let key = SigningKey::from_pkcs8(&SigningKey::generate().unwrap()).unwrap();
        let cadence = Cadence {
            log_file_every: Duration::from_secs(3600),
            digest_every: Duration::from_secs(3600),
        };
        AuditLog::open(layout.clone(), key, chain_key(), anchors, None, cadence).unwrap()
    };
    let log = open(anchors.clone());
    for i in 0..6 {
        log.record(&event(i)).unwrap();
    }
    // The anchor follows the head at most once a second.
    std::thread::sleep(Duration::from_millis(1100));
    log.record(&event(6)).unwrap();
    // The timer anchors record 7 within a second even with no more records coming: this is
    // the window in which the newest records could go unnoticed while no server runs.
    std::thread::sleep(Duration::from_millis(1100));
    drop(log);
    let lines = journal(&layout);
    set_journal(&layout, &lines[..4]);
    let log = open(anchors);
    log.record(&event(7)).unwrap();
    let p = problems(&log);
    assert!(
        p.iter().any(|l| l.contains("records 5..7 were removed")),
        "{p:?}"
    );
}

#[test]
fn a_trail_from_before_the_chain_upgrades_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path(), "000000000000", "us-east-1");
    std::fs::create_dir_all(&layout.root).unwrap();
    // What an older version left: a state without a MAC, and an unchained journal record.
    std::fs::write(
        layout.root.join("digest-state.json"),
        r#"{"sequence":0,"pending":[],"last_end":null,"previous":null}"#,
    )
    .unwrap();
    let legacy = event(0).to_record("000000000000", "us-east-1", "2026-01-01T00:00:00Z");
    std::fs::write(
        layout.root.join("journal.jsonl"),
        format!("{}\n", serde_json::to_string(&legacy).unwrap()),
    )
    .unwrap();
    let (_, log) = empty_trail(dir.path());
    for i in 1..4 {
        log.record(&event(i)).unwrap();
    }
    log.cut().unwrap();
    log.record(&event(9)).unwrap();
    log.digest().unwrap();
    let r = log.verify(None, None);
    assert!(r.passed(), "{:?}", r.problems);
    assert_eq!((r.records_checked, r.unchained_records), (4, 1));
}
