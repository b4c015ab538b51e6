//! LookupEvents on a large trail: one matching event among a million, through the index in
//! the metadata store, against reading every file (what lookups did before the index).
//!
//! `cargo bench -p coffer-audit --bench lookup` (COFFER_LOOKUP_RECORDS overrides the
//! million). The trail is filled through the writer as a server fills it: records appended
//! by many threads (group commit), cut into log files as they come, indexed behind.

use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_audit::{
    AuditEvent, AuditLog, Cadence, ChainKey, Filter, Identity, KMS_SOURCE, Layout,
    MemoryAnchorStore, Origin, SigningKey, lookup, lookup_events,
};
use coffer_store::RedbMetaStore;
use serde_json::json;
use zeroize::Zeroizing;

fn event(user: &str, name: &str, i: u64) -> AuditEvent {
    AuditEvent {
        event_source: KMS_SOURCE,
        event_name: name.into(),
        identity: Some(Identity {
            arn: format!("arn:aws:iam::000000000000:user/{user}"),
            user_name: user.into(),
            access_key_id: Some("AKIAALICE00000000001".into()),
        }),
        origin: Origin::Service("s3.amazonaws.com".into()),
        request_parameters: json!({
            "keyId": format!("arn:aws:kms:us-east-1:000000000000:key/k-{}", i % 100),
            "encryptionContext": {"aws:s3:arn": format!("arn:aws:s3:::photos/{i}.jpg")},
            "keySpec": "AES_256",
        }),
        response_elements: serde_json::Value::Null,
        error: None,
        read_only: true,
        resources: vec![format!(
            "arn:aws:kms:us-east-1:000000000000:key/k-{}",
            i % 100
        )],
        request_id: uuid::Uuid::new_v4().to_string(),
        data_event: false,
        service_event_details: None,
        additional_event_data: None,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let total: u64 = std::env::var("COFFER_LOOKUP_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(std::env::var("COFFER_BENCH_DIR").unwrap_or("/var/tmp".into()))
        .expect("temp dir");
    let store = Arc::new(RedbMetaStore::open(&dir.path().join("meta.redb")).expect("store"));
    let trail = Arc::new(
        AuditLog::open(
            Layout::new(dir.path(), "000000000000", "us-east-1"),
            SigningKey::from_pkcs8(&SigningKey::generate().unwrap()).unwrap(),
            ChainKey::new(&Zeroizing::new([7u8; 32])),
            Arc::new(MemoryAnchorStore::default()),
            Some(store),
            Cadence {
                log_file_every: Duration::from_secs(20),
                digest_every: Duration::from_secs(3600),
            },
        )
        .expect("trail"),
    );
    let started = Instant::now();
    let threads = 64;
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let trail = trail.clone();
            std::thread::spawn(move || {
                let mut i = t;
                while i < total {
                    let e = if i == total / 2 {
                        event("needle", "ScheduleKeyDeletion", i)
                    } else {
                        event(&format!("user-{}", i % 1000), "Decrypt", i)
                    };
                    trail.record(&e).expect("append");
                    i += threads;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    eprintln!(
        "filled {total} records in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let body = br#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"ScheduleKeyDeletion"}]}"#;
    // The first call waits for the index to catch up with the trail.
    let waited = Instant::now();
    let first = lookup_events(&trail, body).expect("lookup");
    eprintln!(
        "index caught up after {:.1} s",
        waited.elapsed().as_secs_f64()
    );
    assert_eq!(first["Events"].as_array().map(Vec::len), Some(1));
    let by_user =
        br#"{"LookupAttributes":[{"AttributeKey":"Username","AttributeValue":"needle"}]}"#;
    for (what, body) in [("EventName", &body[..]), ("Username", &by_user[..])] {
        let times: Vec<Duration> = (0..21)
            .map(|_| {
                let t = Instant::now();
                let out = lookup_events(&trail, body).expect("lookup");
                assert_eq!(out["Events"].as_array().map(Vec::len), Some(1));
                t.elapsed()
            })
            .collect();
        println!(
            "LookupEvents by {what}, 1 result of {total}: median {:.2} ms, max {:.2} ms (index)",
            median(times.clone()).as_secs_f64() * 1e3,
            times.iter().max().unwrap().as_secs_f64() * 1e3
        );
    }
    let t = Instant::now();
    let scanned = lookup(
        trail.layout(),
        &Filter {
            event_name: Some("ScheduleKeyDeletion".into()),
            ..Default::default()
        },
    );
    assert_eq!(scanned.len(), 1);
    println!(
        "the same lookup reading every file: {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
}
