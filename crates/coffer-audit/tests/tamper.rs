//! The trail proves itself: an untouched trail verifies; each kind of tampering is named.

use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer_audit::{AuditEvent, AuditLog, Cadence, Filter, Identity, Layout, Origin, SigningKey};
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

/// A trail of three digests over several log files.
fn trail(dir: &Path) -> (Layout, AuditLog) {
    let layout = Layout::new(dir, "000000000000", "us-east-1");
    let key = SigningKey::from_pkcs8(&SigningKey::generate().unwrap()).unwrap();
    let cadence = Cadence {
        log_file_every: Duration::from_secs(3600),
        digest_every: Duration::from_secs(3600),
    };
    let log = AuditLog::open(layout.clone(), key, cadence).unwrap();
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

fn problems(layout: &Layout) -> Vec<String> {
    coffer_audit::verify(layout, None, None, None).problems
}

#[test]
fn an_untouched_trail_verifies_and_finds_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = trail(dir.path());
    let report = coffer_audit::verify(&layout, None, None, None);
    assert!(report.passed(), "{:?}", report.problems);
    assert_eq!(report.digests_checked, 3);
    assert_eq!(report.log_files_checked, 6);
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
    let (layout, _log) = trail(dir.path());
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
    let p = problems(&layout);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("changed") && p[0].contains(&*victim.file_name().unwrap().to_string_lossy()),
        "{p:?}"
    );

    // A removed log file, and two swapped.
    let dir = tempfile::tempdir().unwrap();
    let (layout, _log) = trail(dir.path());
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
    let p = problems(&layout);
    assert!(p.iter().any(|l| l.contains("removed")), "{p:?}");
    assert_eq!(
        p.iter().filter(|l| l.contains("changed")).count(),
        2,
        "{p:?}"
    );

    // A truncated digest, and a removed one.
    let dir = tempfile::tempdir().unwrap();
    let (layout, _log) = trail(dir.path());
    let digests: Vec<PathBuf> = files(&layout.root, ".json.gz")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("CloudTrail-Digest"))
        .collect();
    let bytes = std::fs::read(&digests[1]).unwrap();
    std::fs::write(&digests[1], &bytes[..bytes.len() / 2]).unwrap();
    let p = problems(&layout);
    assert!(p.iter().any(|l| l.contains("truncated")), "{p:?}");
    let dir = tempfile::tempdir().unwrap();
    let (layout, _log) = trail(dir.path());
    let digests: Vec<PathBuf> = files(&layout.root, ".json.gz")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("CloudTrail-Digest"))
        .collect();
    std::fs::remove_file(&digests[1]).unwrap();
    let p = problems(&layout);
    assert!(p.iter().any(|l| l.contains("removed")), "{p:?}");

    // The newest digest removed, with the log files only it listed.
    let dir = tempfile::tempdir().unwrap();
    let (layout, _log) = trail(dir.path());
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
    let p = problems(&layout);
    assert!(p.iter().any(|l| l.contains("not the chain's end")), "{p:?}");

    // A digest re-signed with another key.
    let dir = tempfile::tempdir().unwrap();
    let (layout, _log) = trail(dir.path());
    let digests: Vec<PathBuf> = files(&layout.root, ".json.gz")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("CloudTrail-Digest"))
        .collect();
    let other = SigningKey::from_pkcs8(&SigningKey::generate().unwrap()).unwrap();
    let sig = hex::encode(other.sign(b"anything").unwrap());
    let mut sig_path = digests[2].as_os_str().to_owned();
    sig_path.push(".sig");
    std::fs::write(&sig_path, sig).unwrap();
    let p = problems(&layout);
    assert!(
        p.iter().any(|l| l.contains("signature does not verify")),
        "{p:?}"
    );

    // The whole trail re-signed with another key, its public half published in place of
    // the server's: only a verifier that knows the server's key catches it.
    let dir = tempfile::tempdir().unwrap();
    let (layout, log) = trail(dir.path());
    drop(log);
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
    let report = coffer_audit::verify(&layout, Some(&genuine), None, None);
    assert!(
        report
            .problems
            .iter()
            .any(|l| l.contains("not the server's signing key")),
        "{:?}",
        report.problems
    );
}
