//! What a gateway sees when the database drops its connections, and reference counts that
//! stay exact when writers race.

use std::sync::Arc;

use coffer_store::contract::fixtures::bucket;
use coffer_store::{BlobId, MetaStore, ObjectRecord, StoreError, WriteCondition};
use coffer_store_postgres::PostgresMetaStore;

use crate::postgres::harness::{Scratch, admin, runtime, url};

fn object(blob: &BlobId) -> ObjectRecord {
    let json = format!(
        r#"{{"v":1,"size":1,"etag":"e","last_modified_ms":0,"parts":[{{"number":1,"size":1,"md5_hex":"","blob":"{}"}}],"multipart":false}}"#,
        blob.as_str()
    );
    serde_json::from_str(&json).unwrap()
}

/// The server ends every connection of the store (as a restart does): calls in flight or
/// next answer `Unavailable` or succeed, never anything else, and the pool reconnects.
#[test]
fn connections_killed_by_the_server_give_unavailable_then_recover() {
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let app = scratch.schema.clone();
    let sep = if url.contains('?') { '&' } else { '?' };
    let tagged = format!("{url}{sep}application_name={app}");
    let rt = runtime();
    let s = rt
        .block_on(PostgresMetaStore::connect_with(&tagged, scratch.options()))
        .unwrap();
    rt.block_on(s.create_bucket(&bucket("b"))).unwrap();
    for round in 0..3 {
        admin(
            &url,
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = '{app}'"
            ),
        )
        .unwrap();
        let key = format!("k{round}");
        let blob = BlobId::random();
        match rt.block_on(s.put_object("b", &key, &object(&blob), &WriteCondition::Always)) {
            Ok(_) | Err(StoreError::Unavailable(_)) => {}
            Err(e) => panic!("a dropped connection must read as Unavailable, not {e:?}"),
        }
        // The pool replaces the dead connections: the write goes through now.
        let mut done = false;
        for _ in 0..20 {
            match rt.block_on(s.put_object("b", &key, &object(&blob), &WriteCondition::Always)) {
                Ok(_) => {
                    done = true;
                    break;
                }
                Err(StoreError::Unavailable(_)) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(done, "the store did not reconnect");
        assert_eq!(
            rt.block_on(s.get_object("b", &key)).unwrap().unwrap().parts[0].blob,
            blob
        );
    }
}

/// Sixteen writers overwrite a handful of keys; afterwards the counts the store keeps are
/// exactly what the records name, freed blobs' zero counts are pruned by garbage
/// collection's call, and nothing was refused for good.
#[test]
fn racing_overwrites_leave_exact_counts_and_prunable_zero_rows() {
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let s = Arc::new(rt.block_on(scratch.connect()));
    rt.block_on(s.create_bucket(&bucket("b"))).unwrap();
    let started = std::time::Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let s = s.clone();
                tokio::spawn(async move {
                    for i in 0..60 {
                        let key = format!("k{}", (t + i) % 5);
                        s.put_object(
                            "b",
                            &key,
                            &object(&BlobId::random()),
                            &WriteCondition::Always,
                        )
                        .await
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    eprintln!(
        "960 overwrites of 5 keys by 16 writers: {:?}",
        started.elapsed()
    );
    let counts = rt.block_on(s.blob_reference_counts()).unwrap();
    let mut named = std::collections::HashMap::new();
    for k in 0..5 {
        let o = rt
            .block_on(s.get_object("b", &format!("k{k}")))
            .unwrap()
            .unwrap();
        named.insert(o.parts[0].blob.clone(), 1u64);
    }
    assert_eq!(counts, named);
    let zero_rows = "SELECT count(*) FROM coffer_blob_refs WHERE n <= 0";
    assert_eq!(
        scratch.count(zero_rows),
        960 - 5,
        "each replaced blob left a zero count"
    );
    // Garbage collection's periodic call prunes them, a page at a time.
    for _ in 0..3 {
        assert_eq!(rt.block_on(s.drop_stale_blob_intents(0, 400)).unwrap(), 0);
    }
    assert_eq!(scratch.count(zero_rows), 0);
    assert_eq!(rt.block_on(s.blob_reference_counts()).unwrap(), named);
}
