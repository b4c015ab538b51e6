//! CloudTrail's LookupEvents request body, over a small real trail: the answer must be an
//! object with an `Events` list, or one of CloudTrail's client exceptions with a message.
#![no_main]

use std::sync::OnceLock;

use coffer_audit::{
    AuditEvent, AuditLog, Cadence, Identity, KMS_SOURCE, Layout, Origin, SigningKey, lookup_events,
};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    log: AuditLog,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "000000000000", "us-east-1");
        let key = SigningKey::from_pkcs8(&SigningKey::generate().unwrap()).unwrap();
        let never = std::time::Duration::from_secs(365 * 24 * 3600);
        let cadence = Cadence {
            log_file_every: never,
            digest_every: never,
        };
        // The chain's key would derive from the root key; any fixed key serves here.
        let chain = coffer_audit::ChainKey::new(&zeroize::Zeroizing::new([5u8; 32]));
        let anchors = std::sync::Arc::new(coffer_audit::MemoryAnchorStore::default());
        // With the lookup index in a metadata store, as a server answers LookupEvents.
        let store: std::sync::Arc<dyn coffer_store::AuditStore> = std::sync::Arc::new(
            coffer_store::RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap(),
        );
        let log = AuditLog::open(layout, key, chain, anchors, Some(store), cadence).unwrap();
        for (n, name) in ["Encrypt", "Decrypt", "CreateKey", "Decrypt"]
            .iter()
            .enumerate()
        {
            log.record(&AuditEvent {
                event_source: KMS_SOURCE,
                event_name: (*name).into(),
                identity: Some(Identity {
                    arn: "arn:aws:iam::000000000000:user/alice".into(),
                    user_name: "alice".into(),
                    access_key_id: Some("AKIAFUZZ000000000001".into()),
                }),
                origin: Origin::Client {
                    source_ip: "127.0.0.1".into(),
                    user_agent: "fuzz".into(),
                },
                request_parameters: serde_json::json!({"keyId": "alias/fuzz"}),
                response_elements: serde_json::Value::Null,
                error: None,
                read_only: n % 2 == 1,
                resources: vec![
                    "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000001"
                        .into(),
                ],
                request_id: format!("request-{n}"),
                data_event: false,
                service_event_details: None,
                additional_event_data: None,
            })
            .unwrap();
            if n == 1 {
                log.digest().unwrap();
            }
        }
        Fixture { log, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    match lookup_events(&f.log, data) {
        Ok(answer) => {
            let events = answer["Events"]
                .as_array()
                .expect("an answer without Events");
            assert!(events.len() <= 50, "more than MaxResults allows");
        }
        Err((code, message)) => {
            assert!(
                code.ends_with("Exception") && code.bytes().all(|b| b.is_ascii_alphanumeric()),
                "malformed exception name {code:?}"
            );
            assert!(!message.is_empty(), "{code} without a message");
        }
    }
});
