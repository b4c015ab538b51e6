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
    assert_eq!(s.audit_indexed_through("gw-a").unwrap(), 0);
    assert_eq!(s.audit_anchor("gw-a").unwrap(), None);
    s.index_audit_records(
        "gw-a",
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
    let anchor = |stream| s.audit_anchor(stream).unwrap();
    assert_eq!(anchor("gw-a").as_deref(), Some(&b"anchor-4"[..]));
    s.save_audit_anchor("gw-a", 3, b"anchor-3").unwrap();
    assert_eq!(anchor("gw-a").as_deref(), Some(&b"anchor-4"[..]));
    s.save_audit_anchor("gw-a", 5, b"anchor-5").unwrap();
    assert_eq!(anchor("gw-a").as_deref(), Some(&b"anchor-5"[..]));
    assert_eq!(s.audit_indexed_through("gw-a").unwrap(), 4);
    // A batch below the mark does not move it back.
    s.index_audit_records(
        "gw-a",
        vec![rec(2, "2026-01-01T00:00:01Z", &["*", "user=b"])],
        None,
    )
    .unwrap();
    assert_eq!(s.audit_indexed_through("gw-a").unwrap(), 4);
    // Another gateway's stream: positions of its own, an anchor and a mark of its own.
    s.index_audit_records(
        "gw-b",
        vec![IndexedRecord {
            record: b"b1".to_vec(),
            ..rec(1, "2026-01-01T00:00:01Z", &["*", "user=a"])
        }],
        Some((1, b"anchor-b1".to_vec())),
    )
    .unwrap();
    assert_eq!(s.audit_indexed_through("gw-b").unwrap(), 1);
    assert_eq!(anchor("gw-b").as_deref(), Some(&b"anchor-b1"[..]));
    assert_eq!(anchor("gw-a").as_deref(), Some(&b"anchor-5"[..]));
    assert_eq!(
        s.audit_anchors().unwrap(),
        [b"anchor-5".to_vec(), b"anchor-b1".to_vec()]
    );
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
    // Newest first over both streams; at one time, by stream then position.
    assert_eq!(scan("user=a", None, None, None, 10), ["b1", "r3", "r1"]);
    assert_eq!(
        scan("*", None, None, None, 10),
        ["r4", "b1", "r3", "r2", "r1"]
    );
    let to = "2026-01-01T00:00:01Z";
    assert_eq!(
        scan("*", None, Some(to), None, 10),
        ["b1", "r3", "r2", "r1"]
    );
    assert_eq!(scan("*", Some(to), Some(to), None, 10), ["b1", "r3", "r2"]);
    assert_eq!(scan("*", None, None, None, 3), ["r4", "b1", "r3"]);
    let page = s
        .scan_audit_index(&IndexScan {
            term: "*",
            limit: 3,
            ..Default::default()
        })
        .unwrap();
    let after = page.last().unwrap().0.clone();
    assert_eq!(
        after,
        ("2026-01-01T00:00:01Z".to_owned(), "gw-a".to_owned(), 3)
    );
    assert_eq!(scan("*", None, None, Some(&after), 10), ["r2", "r1"]);
    assert!(scan("user=c", None, None, None, 10).is_empty());
    // Consecutive records of one term sit in different key ranges (no ever-growing end for
    // every gateway to write to), and the scan above merged them.
    assert_eq!(
        scratch.count("SELECT count(DISTINCT shard) FROM coffer_audit_terms WHERE term = '*'"),
        4
    );
    // Many records, many shards: the newest still come first, across pages.
    let many: Vec<IndexedRecord> = (10..60)
        .map(|n| rec(n, &format!("2026-02-01T00:00:{n:02}Z"), &["user=m"]))
        .collect();
    s.index_audit_records("gw-a", many, None).unwrap();
    let newest: Vec<String> = (45..60).rev().map(|n| format!("r{n}")).collect();
    assert_eq!(scan("user=m", None, None, None, 15), newest);
    let next = s
        .scan_audit_index(&IndexScan {
            term: "user=m",
            limit: 15,
            ..Default::default()
        })
        .unwrap()
        .last()
        .unwrap()
        .0
        .clone();
    let older: Vec<String> = (35..45).rev().map(|n| format!("r{n}")).collect();
    assert_eq!(scan("user=m", None, None, Some(&next), 10), older);
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

/// The shared trail's journal: streams apart, cut by bounds, forgotten by bounds; its files,
/// swapped only from what the swapper read.
#[test]
fn the_shared_journal_keeps_streams_apart_and_files_swap_only_from_what_was_read() {
    use coffer_store::{AuditFileStore, AuditJournalStore};
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let s = rt.block_on(scratch.connect());
    s.append_audit_lines("gw-a", 1, &[b"a1", b"a2"]).unwrap();
    s.append_audit_lines("gw-b", 1, &[b"b1"]).unwrap();
    // A retried append keeps what was first committed.
    s.append_audit_lines("gw-a", 2, &[b"a2-again", b"a3"])
        .unwrap();
    let lines = |stream: Option<&str>, through: Option<&[(String, u64)]>| -> Vec<String> {
        s.audit_journal(stream, through)
            .unwrap()
            .into_iter()
            .map(|(st, q, l)| format!("{st}:{q}:{}", String::from_utf8(l).unwrap()))
            .collect()
    };
    assert_eq!(
        lines(None, None),
        ["gw-a:1:a1", "gw-a:2:a2", "gw-a:3:a3", "gw-b:1:b1"]
    );
    assert_eq!(lines(Some("gw-b"), None), ["gw-b:1:b1"]);
    assert_eq!(
        s.audit_journal_heads().unwrap(),
        [("gw-a".to_owned(), 3), ("gw-b".to_owned(), 1)]
    );
    let cut = [("gw-a".to_owned(), 2)];
    assert_eq!(lines(None, Some(&cut)), ["gw-a:1:a1", "gw-a:2:a2"]);
    s.forget_audit_journal(&cut).unwrap();
    assert_eq!(lines(None, None), ["gw-a:3:a3", "gw-b:1:b1"]);

    assert!(s.swap_audit_file("state", None, b"v1").unwrap());
    assert!(!s.swap_audit_file("state", None, b"v1-again").unwrap());
    assert!(!s.swap_audit_file("state", Some(b"v0"), b"v2").unwrap());
    assert!(s.swap_audit_file("state", Some(b"v1"), b"v2").unwrap());
    assert_eq!(s.audit_file("state").unwrap().as_deref(), Some(&b"v2"[..]));
    s.put_audit_file("AWSLogs/x/b_%.json.gz", b"l1").unwrap();
    s.put_audit_file("AWSLogs/x/a.json.gz", b"l0").unwrap();
    s.put_audit_file("AWSLogsX/a.json.gz", b"no").unwrap();
    assert_eq!(
        s.list_audit_files("AWSLogs/", ".json.gz").unwrap(),
        ["AWSLogs/x/a.json.gz", "AWSLogs/x/b_%.json.gz"]
    );
    s.remove_audit_file("AWSLogs/x/a.json.gz").unwrap();
    s.remove_audit_file("AWSLogs/x/a.json.gz").unwrap();
    assert_eq!(s.audit_file("AWSLogs/x/a.json.gz").unwrap(), None);
}
