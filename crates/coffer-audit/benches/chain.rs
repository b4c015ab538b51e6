//! What the chain costs a record that arrives as a value (replayed from the KMS's outbox):
//! its canonical form and HMAC, before its fsync (which takes ~74 µs on this machine's disk).
//! Records of calls are written canonically from their events instead (`rendered.rs`); the
//! writer only computes their HMAC.

use std::hint::black_box;

use coffer_audit::{AuditEvent, ChainKey, Identity, KMS_SOURCE, Link, Origin};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn record() -> serde_json::Value {
    AuditEvent {
        event_source: KMS_SOURCE,
        event_name: "GenerateDataKey".into(),
        identity: Some(Identity {
            arn: "arn:aws:iam::000000000000:user/alice".into(),
            user_name: "alice".into(),
            access_key_id: Some("AKIAALICE00000000001".into()),
        }),
        origin: Origin::Service("s3.amazonaws.com".into()),
        request_parameters: json!({
            "keyId": "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "encryptionContext": {"aws:s3:arn": "arn:aws:s3:::photos/2026/11/cat.jpg"},
            "keySpec": "AES_256",
        }),
        response_elements: serde_json::Value::Null,
        error: None,
        read_only: true,
        resources: vec![
            "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        ],
        request_id: "6f1a2b3c-0000-4000-8000-000000000000".into(),
        data_event: false,
        service_event_details: None,
        additional_event_data: None,
    }
    .to_record("000000000000", "us-east-1", "2026-11-28T12:00:00Z")
}

fn bench(c: &mut Criterion) {
    let key = ChainKey::new(&zeroize::Zeroizing::new([7u8; 32]));
    let r = record();
    let prev = key.link(&Link::GENESIS, 1, &r);
    c.bench_function("audit chain: link one KMS record", |b| {
        b.iter(|| black_box(key.link(&prev, 2, black_box(&r))))
    });
    c.bench_function("audit record: serialise (before the chain, too)", |b| {
        b.iter(|| black_box(serde_json::to_vec(black_box(&r)).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
