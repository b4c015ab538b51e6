//! KMS records by compare-and-swap, and settings, as the embedded store keeps them.

use coffer_store::{KeyStore, KmsWrite, StoreError};

use crate::postgres::harness::{Scratch, runtime, url};

fn put(id: &str, record: &[u8], expected: Option<u64>) -> KmsWrite {
    KmsWrite::Put {
        id: id.into(),
        record: record.to_vec(),
        expected,
    }
}

#[test]
fn kms_writes_compare_and_swap_versions_all_or_nothing() {
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let s = rt.block_on(scratch.connect());
    assert_eq!(s.get_kms_record("key/1").unwrap(), None);
    s.write_kms_records(vec![put("key/1", b"a", None)]).unwrap();
    assert_eq!(s.get_kms_record("key/1").unwrap(), Some((1, b"a".to_vec())));
    assert!(matches!(
        s.write_kms_records(vec![put("key/1", b"b", None)]),
        Err(StoreError::KmsConflict(id)) if id == "key/1"
    ));
    s.write_kms_records(vec![put("key/1", b"b", Some(1))])
        .unwrap();
    // A writer that read version 1 lost the race: nothing of its change is written.
    assert!(matches!(
        s.write_kms_records(vec![
            put("alias/x", b"x", None),
            put("key/1", b"c", Some(1))
        ]),
        Err(StoreError::KmsConflict(_))
    ));
    assert_eq!(s.get_kms_record("alias/x").unwrap(), None);
    assert_eq!(s.get_kms_record("key/1").unwrap(), Some((2, b"b".to_vec())));
    // Writes of one change follow each other.
    s.write_kms_records(vec![
        put("key/1", b"c", Some(2)),
        put("key/1", b"d", Some(3)),
    ])
    .unwrap();
    assert_eq!(s.get_kms_record("key/1").unwrap(), Some((4, b"d".to_vec())));
    // Unconditional writes move the version too, so no CAS misses them.
    s.put_kms_key("key/1", b"e").unwrap();
    assert!(
        s.write_kms_records(vec![put("key/1", b"f", Some(4))])
            .is_err()
    );
    // A deleted record never repeats a version.
    s.write_kms_records(vec![KmsWrite::Delete {
        id: "key/1".into(),
        expected: Some(5),
    }])
    .unwrap();
    assert_eq!(s.get_kms_record("key/1").unwrap(), None);
    assert!(s.list_kms_keys("key/").unwrap().is_empty());
    s.write_kms_records(vec![put("key/1", b"g", None)]).unwrap();
    assert_eq!(s.get_kms_record("key/1").unwrap(), Some((7, b"g".to_vec())));
    assert_eq!(
        s.list_kms_records("key/").unwrap(),
        vec![("key/1".to_owned(), 7, b"g".to_vec())]
    );
}

/// Two gateways race to change one record from the version both read: exactly one wins,
/// whichever it is, and the loser is told so rather than overwriting.
#[test]
fn racing_compare_and_swaps_from_two_pools_admit_one_winner() {
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let a = std::sync::Arc::new(rt.block_on(scratch.connect()));
    let b = std::sync::Arc::new(rt.block_on(scratch.connect()));
    for round in 0..20u64 {
        let id = format!("key/{round}");
        a.write_kms_records(vec![put(&id, b"0", None)]).unwrap();
        let threads: Vec<_> = [a.clone(), b.clone(), a.clone(), b.clone()]
            .into_iter()
            .enumerate()
            .map(|(n, s)| {
                let id = id.clone();
                // Plain threads, as the audit writer is: the store blocks on its runtime.
                std::thread::spawn(move || {
                    s.write_kms_records(vec![put(&id, format!("{n}").as_bytes(), Some(1))])
                })
            })
            .collect();
        let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let won = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Ok(()) | Err(StoreError::KmsConflict(_))))
        );
        assert_eq!(a.get_kms_record(&id).unwrap().unwrap().0, 2);
    }
}

#[test]
fn settings_and_unconditional_kms_writes_read_back() {
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let s = rt.block_on(scratch.connect());
    s.put_setting("root_check", b"\x00\xff").unwrap();
    assert_eq!(
        s.get_setting("root_check").unwrap().as_deref(),
        Some(&b"\x00\xff"[..])
    );
    // Prefixes are byte ranges: "key/" must not match "key0" or "kez".
    for id in ["key/a", "key0", "kez", "key/", "ke"] {
        s.put_kms_key(id, id.as_bytes()).unwrap();
    }
    let ids: Vec<String> = s
        .list_kms_keys("key/")
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, ["key/", "key/a"]);
}

/// The KMS calls the synchronous traits from a runtime worker (through `block_in_place`),
/// from blocking threads, and the audit writer from a plain thread: each must complete.
#[test]
fn synchronous_calls_work_from_workers_blocking_threads_and_plain_threads() {
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let s = std::sync::Arc::new(rt.block_on(scratch.connect()));
    let on_worker = s.clone();
    rt.block_on(rt.spawn(async move {
        on_worker.put_setting("from-worker", b"1").unwrap();
        on_worker.get_setting("from-worker").unwrap()
    }))
    .map(|v| assert_eq!(v.as_deref(), Some(&b"1"[..])))
    .unwrap();
    let on_blocking = s.clone();
    rt.block_on(rt.spawn_blocking(move || {
        on_blocking.put_setting("from-blocking", b"2").unwrap();
    }))
    .unwrap();
    let on_thread = s.clone();
    std::thread::spawn(move || on_thread.put_setting("from-thread", b"3").unwrap())
        .join()
        .unwrap();
    for (name, value) in [("from-blocking", b"2"), ("from-thread", b"3")] {
        assert_eq!(s.get_setting(name).unwrap().as_deref(), Some(&value[..]));
    }
}
