//! The audit outbox, anchor and index, as the embedded store keeps them.

use coffer_store::{
    AuditStore, IndexCursor, IndexScan, IndexedRecord, KeyStore, KmsWrite, StoreError,
};

use crate::postgres::harness::{Scratch, runtime, url};

fn rec(seq: u64, time: &str, terms: &[&str]) -> IndexedRecord {
    IndexedRecord {
        seq,
        time: time.into(),
        terms: terms.iter().map(|t| (*t).to_owned()).collect(),
        record: format!("r{seq}").into_bytes(),
    }
}

fn bodies(found: Vec<(IndexCursor, Vec<u8>)>) -> Vec<String> {
    found
        .into_iter()
        .map(|(_, b)| String::from_utf8(b).unwrap())
        .collect()
}

#[test]
fn a_scan_returns_one_term_newest_first_within_its_bounds_and_pages() {
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let s = rt.block_on(scratch.connect());
    assert_eq!(s.audit_indexed_through().unwrap(), 0);
    assert_eq!(s.audit_anchor().unwrap(), None);
    s.index_audit_records(
        vec![
            rec(1, "2026-01-01T00:00:00Z", &["*", "user=a"]),
            rec(2, "2026-01-01T00:00:01Z", &["*", "user=b"]),
            rec(3, "2026-01-01T00:00:01Z", &["*", "user=a"]),
            rec(4, "2026-01-02T00:00:00Z", &["*", "user=ab"]),
        ],
        Some((4, b"anchor-4".to_vec())),
    )
    .unwrap();
    // The anchor moves with the index, and only forward.
    assert_eq!(s.audit_anchor().unwrap().as_deref(), Some(&b"anchor-4"[..]));
    s.save_audit_anchor(3, b"anchor-3").unwrap();
    assert_eq!(s.audit_anchor().unwrap().as_deref(), Some(&b"anchor-4"[..]));
    s.save_audit_anchor(5, b"anchor-5").unwrap();
    assert_eq!(s.audit_anchor().unwrap().as_deref(), Some(&b"anchor-5"[..]));
    assert_eq!(s.audit_indexed_through().unwrap(), 4);
    // A batch below the mark does not move it back.
    s.index_audit_records(vec![rec(2, "2026-01-01T00:00:01Z", &["*", "user=b"])], None)
        .unwrap();
    assert_eq!(s.audit_indexed_through().unwrap(), 4);
    let scan = |term, from, to, before, limit| {
        bodies(
            s.scan_audit_index(&IndexScan {
                term,
                from,
                to,
                before,
                limit,
            })
            .unwrap(),
        )
    };
    assert_eq!(scan("user=a", None, None, None, 10), ["r3", "r1"]);
    assert_eq!(scan("*", None, None, None, 10), ["r4", "r3", "r2", "r1"]);
    let to = "2026-01-01T00:00:01Z";
    assert_eq!(scan("*", None, Some(to), None, 10), ["r3", "r2", "r1"]);
    assert_eq!(scan("*", Some(to), Some(to), None, 10), ["r3", "r2"]);
    assert_eq!(scan("*", None, None, None, 2), ["r4", "r3"]);
    let page = s
        .scan_audit_index(&IndexScan {
            term: "*",
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    let after = page.last().unwrap().0.clone();
    assert_eq!(after, ("2026-01-01T00:00:01Z".to_owned(), 3));
    assert_eq!(scan("*", None, None, Some(&after), 10), ["r2", "r1"]);
    assert!(scan("user=c", None, None, None, 10).is_empty());
}

#[test]
fn a_kms_change_and_its_record_commit_together_and_the_outbox_drains() {
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let s = rt.block_on(scratch.connect());
    let create = |record: &[u8]| {
        vec![KmsWrite::Put {
            id: "key/1".into(),
            record: record.to_vec(),
            expected: None,
        }]
    };
    s.commit_kms_change(create(b"k"), "ev-1", b"record-1")
        .unwrap();
    assert_eq!(s.get_kms_key("key/1").unwrap().as_deref(), Some(&b"k"[..]));
    // A refused change leaves no record in the outbox.
    assert!(matches!(
        s.commit_kms_change(create(b"k2"), "ev-2", b"record-2"),
        Err(StoreError::KmsConflict(_))
    ));
    s.commit_kms_change(Vec::new(), "ev-3", b"record-3")
        .unwrap();
    assert_eq!(
        s.audit_outbox().unwrap(),
        [
            ("ev-1".into(), b"record-1".to_vec()),
            ("ev-3".into(), b"record-3".to_vec())
        ]
    );
    s.clear_audit_outbox("ev-1").unwrap();
    assert_eq!(
        s.audit_outbox().unwrap(),
        [("ev-3".into(), b"record-3".to_vec())]
    );
}
