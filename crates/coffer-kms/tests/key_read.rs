//! A request that read its key's record together with its object (see
//! `MetaStore::get_object_for_read`) hands it to the KMS, which then decides on that record
//! instead of reading the store again: the key's state as of the request's start.

use std::sync::Arc;

use coffer_kms::{BuiltinKms, Caller, EncryptionContext, KmsIdentity, RootKey};
use coffer_store::{KeyStore, KmsRecordSnapshot, RedbMetaStore};

fn caller(key_read: Option<KmsRecordSnapshot>) -> Caller {
    Caller {
        arn: "arn:aws:iam::000000000000:user/admin".into(),
        user_name: "admin".into(),
        admin: true,
        via_service: Some("s3.us-east-1.amazonaws.com".into()),
        client: None,
        key_read: key_read.map(Arc::new),
    }
}

#[test]
fn the_key_record_read_with_the_object_decides_and_another_keys_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let meta = Arc::new(RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap());
    let root = Arc::new(RootKey::load(dir.path()).unwrap());
    let identity = KmsIdentity {
        account_id: "000000000000".into(),
        region: "us-east-1".into(),
    };
    let kms = BuiltinKms::new(meta.clone(), root, identity);
    let key = kms.create_key(&caller(None), Default::default()).unwrap();
    let other = kms.create_key(&caller(None), Default::default()).unwrap();
    let context = EncryptionContext::new();
    let (blob, _) = kms
        .encrypt(&caller(None), &key.key_id, b"data key", &context)
        .unwrap();
    let record_id = format!("key/{}", key.key_id);
    let snapshot = |id: &str| KmsRecordSnapshot {
        id: id.to_string(),
        found: meta.get_kms_record(id).unwrap(),
    };
    let enabled = snapshot(&record_id);
    let other_enabled = snapshot(&format!("key/{}", other.key_id));

    kms.disable_key(&caller(None), &key.key_id).unwrap();
    let disabled = snapshot(&record_id);
    let code = |read: Option<KmsRecordSnapshot>| {
        kms.decrypt(&caller(read), &blob, &context, None)
            .err()
            .map(|e| e.code)
    };
    // Read before the change committed: that request decrypts.
    assert_eq!(code(Some(enabled)), None);
    // Read after: refused on the record it read, without another read.
    assert_eq!(code(Some(disabled)), Some("DisabledException"));
    // A record of another key is no evidence about this one: the store is read.
    assert_eq!(code(Some(other_enabled)), Some("DisabledException"));
    assert_eq!(code(None), Some("DisabledException"));
    // A read that found no record for the key: the key does not exist.
    let gone = KmsRecordSnapshot {
        id: record_id,
        found: None,
    };
    assert_eq!(code(Some(gone)), Some("NotFoundException"));
    // check_access (what S3 Bucket Keys use) decides on the same record.
    let arn = format!("arn:aws:kms:us-east-1:000000000000:key/{}", key.key_id);
    let access = |read| {
        kms.check_access(&caller(read), &arn, "kms:Decrypt", &context)
            .err()
            .map(|e| e.code)
    };
    assert_eq!(
        access(Some(snapshot(&format!("key/{}", key.key_id)))),
        Some("DisabledException")
    );
    kms.enable_key(&caller(None), &key.key_id).unwrap();
    assert_eq!(access(Some(snapshot(&format!("key/{}", key.key_id)))), None);
}
