//! The audit trail on disk, as `coffer audit verify` and LookupEvents read it back: a real
//! trail (two signed digests over two log files, one record still in the journal) with one of
//! its files altered by the input. Reading must never panic, and a log file or digest whose
//! records changed (or that no longer decompresses) must fail verification: tampering is
//! never silent.
#![no_main]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use coffer_audit::{
    AuditEvent, AuditLog, Cadence, Filter, Identity, KMS_SOURCE, Layout, Origin, SigningKey,
    lookup, lookup_events,
};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    layout: Layout,
    /// Every file of the pristine trail, sorted, with its bytes.
    files: Vec<(PathBuf, Vec<u8>)>,
    log: AuditLog,
    _dir: tempfile::TempDir,
}

fn event(n: usize) -> AuditEvent {
    AuditEvent {
        event_source: KMS_SOURCE,
        event_name: ["Encrypt", "Decrypt", "GenerateDataKey"][n % 3].into(),
        identity: Some(Identity {
            arn: "arn:aws:iam::000000000000:user/alice".into(),
            user_name: "alice".into(),
            access_key_id: Some("AKIAFUZZ000000000001".into()),
        }),
        origin: Origin::Client {
            source_ip: "127.0.0.1".into(),
            user_agent: "fuzz".into(),
        },
        request_parameters: serde_json::json!({
            "keyId": "alias/fuzz",
            "encryptionContext": {"aws:s3:arn": format!("arn:aws:s3:::bucket/object-{n}")},
        }),
        response_elements: serde_json::Value::Null,
        error: None,
        read_only: true,
        resources: vec![
            "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000001".into(),
        ],
        request_id: format!("request-{n}"),
        data_event: false,
        service_event_details: None,
        additional_event_data: None,
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn fixture() -> &'static Mutex<Fixture> {
    static FIXTURE: OnceLock<Mutex<Fixture>> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "000000000000", "us-east-1");
        let pkcs8 = SigningKey::generate().unwrap();
        let key = SigningKey::from_pkcs8(&pkcs8).unwrap();
        // Nothing happens on a timer while the fuzzer runs.
        let never = std::time::Duration::from_secs(365 * 24 * 3600);
        let cadence = Cadence {
            log_file_every: never,
            digest_every: never,
        };
        // The chain's key would derive from the root key; any fixed key serves here.
        let chain = coffer_audit::ChainKey::new(&zeroize::Zeroizing::new([5u8; 32]));
        let anchors = std::sync::Arc::new(coffer_audit::MemoryAnchorStore::default());
        let log = AuditLog::open(layout.clone(), key, chain, anchors, None, cadence).unwrap();
        for n in 0..3 {
            log.record(&event(n)).unwrap();
        }
        log.digest().unwrap();
        for n in 3..5 {
            log.record(&event(n)).unwrap();
        }
        log.digest().unwrap();
        log.record(&event(5)).unwrap();
        let report = log.verify(None, None);
        assert!(
            report.passed(),
            "the pristine trail fails: {:?}",
            report.problems
        );
        assert!(report.digests_checked >= 2 && report.log_files_checked >= 2);

        let mut paths = Vec::new();
        files_under(&layout.root, &mut paths);
        paths.sort();
        let files = paths
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                (p, bytes)
            })
            .collect();
        Mutex::new(Fixture {
            layout,
            files,
            log,
            _dir: dir,
        })
    })
}

fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, edits)) = data.split_first() else {
        return;
    };
    let f = fixture().lock().unwrap();
    let (path, original) = &f.files[usize::from(control >> 1) % f.files.len()];

    // Either replace the file with the input, or apply 3-byte edits as the segment tamper
    // target does: position (u16 BE, modulo the length) and a value to XOR in; a last one or
    // two bytes truncate the file by that much.
    let altered = if control & 1 == 1 {
        edits.to_vec()
    } else {
        let mut bytes = original.clone();
        let mut chunks = edits.chunks_exact(3);
        for edit in &mut chunks {
            if !bytes.is_empty() {
                let at = usize::from(u16::from_be_bytes([edit[0], edit[1]])) % bytes.len();
                bytes[at] ^= edit[2];
            }
        }
        let cut = chunks.remainder().len().min(bytes.len());
        bytes.truncate(bytes.len() - cut);
        bytes
    };
    std::fs::write(path, &altered).unwrap();

    // With the server's keys, its anchor and its live head, as `coffer audit verify` runs.
    let report = f.log.verify(None, None);
    lookup(&f.layout, &Filter::default());
    let _ = lookup_events(&f.log, br#"{"MaxResults": 50}"#);

    let name = path.to_string_lossy();
    if name.ends_with(".json.gz") && gunzip(&altered) != gunzip(original) {
        assert!(
            !report.passed(),
            "{name}: changed records passed verification"
        );
    }
    std::fs::write(path, original).unwrap();
});
