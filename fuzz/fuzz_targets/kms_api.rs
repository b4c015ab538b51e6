//! The AWS KMS JSON 1.1 API: `<Operation>\n<body>`, handled by the built-in KMS over a real
//! (temporary) key store that holds one key, `alias/fuzz`. Whatever the request, the answer
//! must be a JSON object or a well-formed AWS client error: an `...Exception` code, a 4xx
//! status and a message, serialised as `{"__type", "message"}`. Junk must never reach a
//! `KMSInternalException` (500), which would mean some input is not validated.
//!
//! A call that succeeds in disabling, deleting or re-aliasing a key, or in replacing its policy,
//! gets a fresh fixture, so later inputs still reach a usable key.
#![no_main]

use std::sync::{Arc, Mutex};

use coffer_kms::{BuiltinKms, Caller, KmsIdentity, RootKey, api};
use coffer_store::RedbMetaStore;
use libfuzzer_sys::fuzz_target;

struct Fixture {
    kms: BuiltinKms,
    caller: Caller,
    _dir: tempfile::TempDir,
}

/// Operations whose success changes what the next input finds.
const RESETS: &[&str] = &[
    "DisableKey",
    "ScheduleKeyDeletion",
    "PutKeyPolicy",
    "DeleteAlias",
    "UpdateAlias",
];

static FIXTURE: Mutex<Option<Fixture>> = Mutex::new(None);

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let meta = RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap();
        let root = RootKey::load(dir.path()).unwrap();
        let identity = KmsIdentity {
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
        };
        let kms = BuiltinKms::new(Arc::new(meta), Arc::new(root), identity);
        let caller = Caller {
            arn: "arn:aws:iam::000000000000:user/fuzz".into(),
            user_name: "fuzz".into(),
            admin: true,
            via_service: None,
            client: None,
            key_read: None,
        };
        let created = api::handle(&kms, &caller, "CreateKey", b"{}").unwrap();
        let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        let alias = serde_json::json!({"AliasName": "alias/fuzz", "TargetKeyId": key_id});
        api::handle(&kms, &caller, "CreateAlias", alias.to_string().as_bytes()).unwrap();
        Fixture {
            kms,
            caller,
            _dir: dir,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut fixture = FIXTURE.lock().unwrap();
    let f = fixture.get_or_insert_with(Fixture::new);
    let (op, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(op) = std::str::from_utf8(op) else {
        return;
    };
    match api::handle(&f.kms, &f.caller, op, body) {
        Ok(answer) => {
            assert!(answer.is_object(), "{op}: answered {answer}");
            if RESETS.contains(&op) {
                *fixture = None;
            }
        }
        Err(e) => {
            assert!(
                e.code.ends_with("Exception") && e.code.bytes().all(|b| b.is_ascii_alphanumeric()),
                "{op}: malformed error code {:?}",
                e.code
            );
            assert_ne!(
                e.code, "KMSInternalException",
                "{op}: junk reached an internal error: {}",
                e.message
            );
            assert!((400..500).contains(&e.status), "{op}: status {}", e.status);
            let body = api::error_body(&e);
            assert_eq!(body["__type"], e.code);
            assert!(body["message"].is_string());
        }
    }
});
