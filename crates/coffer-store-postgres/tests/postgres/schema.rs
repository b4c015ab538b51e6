//! Migrations run on open, race safely, and refuse a schema newer than the binary.

use coffer_store::StoreError;
use coffer_store_postgres::{ConnectOptions, PostgresMetaStore, SCHEMA_VERSION};

use crate::postgres::harness::{Scratch, runtime, url};

#[test]
fn gateways_opening_at_once_migrate_once_and_a_newer_schema_is_refused() {
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let opened: Vec<_> = rt.block_on(async {
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let (url, options) = (scratch.url.clone(), scratch.options());
                tokio::spawn(async move { PostgresMetaStore::connect_with(&url, options).await })
            })
            .collect();
        let mut out = Vec::new();
        for o in opens {
            out.push(o.await.unwrap());
        }
        out
    });
    for store in &opened {
        let store = store.as_ref().expect("every opener succeeds");
        assert_eq!(rt.block_on(store.schema_version()).unwrap(), SCHEMA_VERSION);
    }
    scratch.sql(&format!(
        "UPDATE coffer_schema SET version = {}",
        SCHEMA_VERSION + 1
    ));
    let refused = rt.block_on(PostgresMetaStore::connect_with(
        &scratch.url,
        scratch.options(),
    ));
    let Err(StoreError::Database(why)) = refused else {
        panic!("a newer schema must be refused");
    };
    assert!(why.contains("newer than this binary"), "{why}");
}

#[test]
fn an_unreachable_database_is_unavailable_and_tls_is_attempted_when_required() {
    let Some(url) = url() else { return };
    let rt = runtime();
    // Nothing listens on port 1.
    let down = rt.block_on(PostgresMetaStore::connect_with(
        "postgres://coffer@127.0.0.1:1/coffer?connect_timeout=2",
        ConnectOptions::default(),
    ));
    assert!(
        matches!(down, Err(StoreError::Unavailable(_))),
        "{:?}",
        down.err()
    );
    // `sslmode=require` goes through rustls: against a server without TLS (the loopback
    // test server) or whose certificate the system does not trust, it fails rather than
    // falling back to plain text.
    let sep = if url.contains('?') { '&' } else { '?' };
    let required = format!("{url}{sep}sslmode=require");
    if !url.contains("sslmode=") {
        let tls = rt.block_on(PostgresMetaStore::connect_with(
            &required,
            ConnectOptions::default(),
        ));
        assert!(
            matches!(tls, Err(StoreError::Unavailable(_))),
            "{:?}",
            tls.err()
        );
    }
}

#[test]
fn a_named_schema_that_does_not_exist_yet_is_created() {
    let Some(url) = url() else { return };
    // A scratch schema's name, dropped (with what connect creates in it) at the end.
    let scratch = Scratch::new(&url);
    crate::postgres::harness::admin(&url, format!("DROP SCHEMA {}", scratch.schema)).unwrap();
    let rt = runtime();
    let store = rt.block_on(scratch.connect());
    assert_eq!(rt.block_on(store.schema_version()).unwrap(), SCHEMA_VERSION);
    assert_eq!(
        scratch.count("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"),
        18,
        "the 14 tables of migration 1, coffer_leases of migration 2, the shared trail's 3 of \
         migration 3 (which drops one), and coffer_schema"
    );
}

#[test]
fn a_current_thread_runtime_is_refused_at_connect() {
    let Some(url) = url() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(PostgresMetaStore::connect(&url));
    assert!(matches!(out, Err(StoreError::Database(m)) if m.contains("multi-threaded")));
}

#[test]
fn index_rows_written_before_shards_are_found_and_new_ones_spread() {
    use coffer_store::{AuditStore, IndexScan};
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    drop(rt.block_on(scratch.connect()));
    // Back to schema 3's terms table, holding rows as schema 3 wrote them.
    scratch.sql(
        "ALTER TABLE coffer_audit_terms DROP CONSTRAINT coffer_audit_terms_pkey;
         ALTER TABLE coffer_audit_terms DROP COLUMN shard;
         ALTER TABLE coffer_audit_terms ADD PRIMARY KEY (term, time, stream, seq);
         UPDATE coffer_schema SET version = 3;
         INSERT INTO coffer_audit_records (stream, seq, record)
             SELECT 'gw', n, convert_to('r' || n, 'UTF8') FROM generate_series(1, 20) n;
         INSERT INTO coffer_audit_terms (term, time, stream, seq)
             SELECT 'user=a', '2026-01-01T00:00:' || lpad(n::text, 2, '0') || 'Z', 'gw', n
             FROM generate_series(1, 20) n;",
    );
    let s = rt.block_on(scratch.connect());
    assert_eq!(rt.block_on(s.schema_version()).unwrap(), SCHEMA_VERSION);
    // The old rows stay where they were (shard 0); records indexed now spread.
    assert_eq!(
        scratch.count("SELECT count(DISTINCT shard) FROM coffer_audit_terms"),
        1
    );
    s.index_audit_records(
        "gw",
        (21..=28)
            .map(|n| coffer_store::IndexedRecord {
                seq: n,
                time: format!("2026-01-01T00:00:{n:02}Z"),
                terms: vec!["user=a".into()],
                record: format!("r{n}").into_bytes(),
            })
            .collect(),
        None,
    )
    .unwrap();
    assert_eq!(
        scratch.count("SELECT count(DISTINCT shard) FROM coffer_audit_terms"),
        8
    );
    // Old and new, newest first across shards, and across pages.
    let page = |before: Option<&coffer_store::IndexCursor>, limit| {
        s.scan_audit_index(&IndexScan {
            term: "user=a",
            before,
            limit,
            ..Default::default()
        })
        .unwrap()
    };
    let names = |found: &[(coffer_store::IndexCursor, Vec<u8>)]| -> Vec<String> {
        found
            .iter()
            .map(|(_, b)| String::from_utf8(b.clone()).unwrap())
            .collect()
    };
    let first = page(None, 10);
    let expected: Vec<String> = (19..=28).rev().map(|n| format!("r{n}")).collect();
    assert_eq!(names(&first), expected);
    let rest = page(Some(&first.last().unwrap().0), 100);
    let expected: Vec<String> = (1..=18).rev().map(|n| format!("r{n}")).collect();
    assert_eq!(names(&rest), expected);
}

/// A small object's record (its sealed bytes inline) stays in its heap row whole: no vain
/// compression of ciphertext, no trip to the TOAST table. A record past a page still goes
/// out of line, uncompressed.
#[test]
fn small_object_records_are_stored_whole_and_uncompressed() {
    use coffer_store::contract::fixtures::{bucket, object};
    use coffer_store::{BlobId, InlineBytes, MetaStore, WriteCondition};
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let s = rt.block_on(scratch.connect());
    rt.block_on(s.create_bucket(&bucket("b"))).unwrap();
    // Sealed bytes look random: a compressor gains nothing on them.
    let random = |n: usize| -> Vec<u8> {
        std::iter::repeat_with(|| *uuid::Uuid::new_v4().as_bytes())
            .flatten()
            .take(n)
            .collect()
    };
    let sizes = (0..8)
        .map(|n| (format!("4k-{n}"), random(4096 + 64)))
        .chain([("16k".to_owned(), random(coffer_store::INLINE_MAX))])
        // Bytes a compressor would shrink: it is not even tried.
        .chain([("zeros".to_owned(), vec![0; 4096 + 64])]);
    for (key, sealed) in sizes {
        let mut small = object(&[&BlobId::random()]);
        small.parts[0].inline = Some(InlineBytes::new(&sealed));
        rt.block_on(s.put_object("b", &key, &small, &WriteCondition::Always))
            .unwrap();
    }
    assert_eq!(
        scratch.count(
            "SELECT count(*) FROM coffer_objects WHERE pg_column_compression(record) IS NOT NULL"
        ),
        0,
        "no record is compressed"
    );
    // Each 4 KiB object's record (~7 KB) fills a heap page of its own: moved out of line,
    // the eight would leave pointers that share one page.
    assert!(
        scratch.count("SELECT pg_relation_size('coffer_objects')") >= 8 * 8192,
        "the 4 KiB objects' records stay in their rows"
    );
}
