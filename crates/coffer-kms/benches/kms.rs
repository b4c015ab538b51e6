//! In-process throughput of the built-in KMS's hot operations, as S3 calls them for SSE-KMS:
//! GenerateDataKey (one per PUT without a bucket key) and Decrypt (one per GET), each with
//! the key-policy evaluation and the metadata read it includes.
//!
//! The same operations with the audit trail on (each waits for its record's fsync, shared
//! with whatever else is waiting) show what auditing costs.
//!
//! `cargo bench -p coffer-kms --bench kms -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use coffer_kms::{BuiltinKms, Caller, EncryptionContext, Kms, KmsIdentity, RootKey};
use coffer_store::RedbMetaStore;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let meta = Arc::new(RedbMetaStore::open(&dir.path().join("meta.redb")).expect("store"));
    let root = Arc::new(RootKey::load(dir.path()).expect("root key"));
    let identity = KmsIdentity {
        account_id: "000000000000".into(),
        region: "us-east-1".into(),
    };
    let kms = BuiltinKms::new(meta.clone(), root.clone(), identity.clone());
    let audit = coffer_audit::AuditLog::open(
        coffer_audit::Layout::new(dir.path(), "000000000000", "us-east-1"),
        coffer_audit::SigningKey::from_pkcs8(&coffer_audit::SigningKey::generate().unwrap())
            .unwrap(),
        coffer_audit::ChainKey::new(&root.derive_key("coffer audit chain")),
        Arc::new(coffer_audit::StoreAnchors(meta.clone(), String::new())),
        None,
        coffer_audit::Cadence::default(),
    )
    .expect("audit trail");
    let audited = BuiltinKms::new(meta, root, identity).with_audit(Arc::new(audit));
    let caller = Caller {
        arn: "arn:aws:iam::000000000000:user/admin".into(),
        user_name: "admin".into(),
        admin: true,
        via_service: Some("s3.us-east-1.amazonaws.com".into()),
        client: None,
        key_read: None,
    };
    let key = kms
        .create_key(&caller, Default::default())
        .expect("create key");
    let arn = kms.key_arn(&key);
    let context: EncryptionContext = [(
        "aws:s3:arn".to_owned(),
        "arn:aws:s3:::bucket/some/object/key".to_owned(),
    )]
    .into();
    let blob = Kms::generate_data_key(&kms, &caller, &arn, &context)
        .wait()
        .expect("data key")
        .ciphertext;

    let mut g = c.benchmark_group("kms");
    g.bench_function("generate_data_key", |b| {
        b.iter(|| {
            black_box(
                Kms::generate_data_key(&kms, &caller, &arn, &context)
                    .wait()
                    .unwrap(),
            )
        })
    });
    g.bench_function("decrypt", |b| {
        b.iter(|| black_box(Kms::decrypt(&kms, &caller, &blob, &context).wait().unwrap()))
    });
    g.bench_function("generate_data_key, audited", |b| {
        b.iter(|| {
            black_box(
                Kms::generate_data_key(&audited, &caller, &arn, &context)
                    .wait()
                    .unwrap(),
            )
        })
    });
    g.bench_function("decrypt, audited", |b| {
        b.iter(|| {
            black_box(
                Kms::decrypt(&audited, &caller, &blob, &context)
                    .wait()
                    .unwrap(),
            )
        })
    });
    g.bench_function("check_access (bucket key hit)", |b| {
        b.iter(|| {
            Kms::check_access(&kms, &caller, &arn, "kms:Decrypt", &context).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
