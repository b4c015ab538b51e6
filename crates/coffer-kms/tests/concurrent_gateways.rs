//! Two KMS instances over one metadata store, as two gateways sharing it: their changes to
//! one key race, and none is lost, with or without an audit trail.

use std::sync::Arc;

use coffer_kms::{BuiltinKms, Caller, KmsIdentity, RootKey};
use coffer_store::{AuditStore, RedbMetaStore};
use serde_json::json;

fn admin() -> Caller {
    Caller {
        arn: "arn:aws:iam::000000000000:user/admin".into(),
        user_name: "admin".into(),
        admin: true,
        via_service: None,
        client: None,
        key_read: None,
    }
}

/// Two gateways: the first records its calls in an audit trail (changes commit with their
/// record through the outbox), the second runs without one.
fn two_gateways(dir: &std::path::Path) -> (Arc<RedbMetaStore>, [Arc<BuiltinKms>; 2]) {
    let meta = Arc::new(RedbMetaStore::open(&dir.join("meta.redb")).unwrap());
    let root = Arc::new(RootKey::load(dir).unwrap());
    let identity = KmsIdentity {
        account_id: "000000000000".into(),
        region: "us-east-1".into(),
    };
    let audit = coffer_audit::AuditLog::open(
        coffer_audit::Layout::new(dir, "000000000000", "us-east-1"),
        coffer_audit::SigningKey::from_pkcs8(&coffer_audit::SigningKey::generate().unwrap())
            .unwrap(),
        coffer_audit::ChainKey::new(&root.derive_key("coffer audit chain")),
        Arc::new(coffer_audit::StoreAnchors(meta.clone(), String::new())),
        None,
        coffer_audit::Cadence::default(),
    )
    .unwrap();
    let audited =
        BuiltinKms::new(meta.clone(), root.clone(), identity.clone()).with_audit(Arc::new(audit));
    let plain = BuiltinKms::new(meta.clone(), root, identity);
    (meta, [Arc::new(audited), Arc::new(plain)])
}

fn call(kms: &BuiltinKms, op: &str, body: serde_json::Value) -> serde_json::Value {
    coffer_kms::api::handle(kms, &admin(), op, body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{op}: {e}"))
}

#[test]
fn racing_tags_from_two_gateways_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (meta, gateways) = two_gateways(dir.path());
    let key = gateways[1]
        .create_key(&admin(), Default::default())
        .unwrap();
    let key_id = key.key_id.clone();
    const THREADS: usize = 4;
    const TAGS: usize = 6;
    let mut handles = Vec::new();
    for (g, kms) in gateways.iter().enumerate() {
        for t in 0..THREADS {
            let (kms, key_id) = (kms.clone(), key_id.clone());
            handles.push(std::thread::spawn(move || {
                for n in 0..TAGS {
                    let tag = format!("g{g}-t{t}-n{n}");
                    call(
                        &kms,
                        "TagResource",
                        json!({"KeyId": key_id, "Tags": [{"TagKey": tag, "TagValue": "v"}]}),
                    );
                }
            }));
        }
    }
    for h in handles {
        h.join().unwrap();
    }
    for kms in &gateways {
        let tags = kms.list_resource_tags(&admin(), &key_id).unwrap();
        assert_eq!(tags.len(), 2 * THREADS * TAGS, "{tags:?}");
    }
    assert!(
        meta.audit_outbox().unwrap().is_empty(),
        "every committed change reached the trail"
    );
}

#[test]
fn racing_rotations_from_two_gateways_make_distinct_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (_meta, gateways) = two_gateways(dir.path());
    let key = gateways[0]
        .create_key(&admin(), Default::default())
        .unwrap();
    let key_id = key.key_id.clone();
    const THREADS: usize = 2;
    const ROTATIONS: usize = 5;
    let mut handles = Vec::new();
    for kms in &gateways {
        for _ in 0..THREADS {
            let (kms, key_id) = (kms.clone(), key_id.clone());
            handles.push(std::thread::spawn(move || {
                for _ in 0..ROTATIONS {
                    call(&kms, "RotateKeyOnDemand", json!({"KeyId": key_id}));
                }
            }));
        }
    }
    for h in handles {
        h.join().unwrap();
    }
    let versions: Vec<u32> = gateways[1]
        .list_key_rotations(&admin(), &key_id)
        .unwrap()
        .versions
        .iter()
        .map(|v| v.version)
        .collect();
    let expected: Vec<u32> = (1..=(1 + 2 * THREADS * ROTATIONS) as u32).collect();
    assert_eq!(versions, expected);
}

#[test]
fn two_gateways_creating_one_alias_at_once_make_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_meta, gateways) = two_gateways(dir.path());
    let key = gateways[0]
        .create_key(&admin(), Default::default())
        .unwrap();
    let handles: Vec<_> = gateways
        .iter()
        .map(|kms| {
            let (kms, key_id) = (kms.clone(), key.key_id.clone());
            std::thread::spawn(move || kms.create_alias(&admin(), "alias/shared", &key_id))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(e.code, "AlreadyExistsException");
    }
    // Both gateways agree on the AWS managed key, whoever created it.
    let a = gateways[0].s3_managed_key().unwrap();
    let b = gateways[1].s3_managed_key().unwrap();
    assert_eq!(a.key_id, b.key_id);
}
