//! A PUT decides on the bucket as its gateway read it a moment ago, and commits only while
//! the bucket is still that record: a change made meanwhile, through this gateway or
//! another, refuses the write (`BucketChanged`) and leaves nothing behind.

use coffer_store::contract::fixtures::{self, bucket};
use coffer_store::{BlobId, MetaStore, ObjectRecord, StoreError, WriteCondition};

use crate::postgres::harness::{Scratch, runtime, url};

/// A record naming one fresh blob.
fn object() -> ObjectRecord {
    fixtures::object(&[&BlobId::random()])
}

#[test]
fn a_put_decided_on_a_bucket_another_gateway_changed_is_refused_and_writes_nothing() {
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let (a, b) = rt.block_on(async { (scratch.connect().await, scratch.connect().await) });
    rt.block_on(a.create_bucket(&bucket("b"))).unwrap();
    let put = |record: &coffer_store::BucketRecord, key: &str| {
        rt.block_on(a.put_object_in_bucket(record, key, &object(), &WriteCondition::Always))
    };

    let decided = rt.block_on(a.get_bucket_for_write("b")).unwrap().unwrap();
    put(&decided, "before").expect("an unchanged bucket commits");

    // Gateway B tightens the bucket while A still holds its read.
    rt.block_on(b.set_bucket_policy("b", Some("{\"Statement\":[]}".into())))
        .unwrap();
    assert_eq!(
        rt.block_on(a.get_bucket_for_write("b")).unwrap().as_ref(),
        Some(&decided),
        "within a second A may still decide on what it read"
    );
    assert!(matches!(
        put(&decided, "stale"),
        Err(StoreError::BucketChanged)
    ));
    // A delete decided on the old record is refused too, and removes nothing.
    assert!(matches!(
        rt.block_on(a.delete_object_in_bucket(&decided, "before", &WriteCondition::Always)),
        Err(StoreError::BucketChanged)
    ));
    assert_eq!(
        scratch.count("SELECT count(*) FROM coffer_objects WHERE key = 'before'"),
        1
    );
    assert_eq!(
        scratch.count("SELECT count(*) FROM coffer_objects WHERE key = 'stale'"),
        0
    );
    // Refused once, A reads the bucket again for its next write.
    let now = rt.block_on(a.get_bucket_for_write("b")).unwrap().unwrap();
    assert_eq!(now.policy.as_deref(), Some("{\"Statement\":[]}"));
    put(&now, "after").expect("decided on the bucket as it is");
    assert_eq!(
        scratch.count("SELECT count(*) FROM coffer_objects WHERE key IN ('before', 'after')"),
        2
    );
}

#[test]
fn a_change_through_the_same_gateway_or_a_deleted_bucket_refuses_the_write() {
    let Some(url) = url() else { return };
    let scratch = Scratch::new(&url);
    let rt = runtime();
    let (a, b) = rt.block_on(async { (scratch.connect().await, scratch.connect().await) });
    rt.block_on(a.create_bucket(&bucket("b"))).unwrap();
    let put = |record: &coffer_store::BucketRecord| {
        rt.block_on(a.put_object_in_bucket(record, "k", &object(), &WriteCondition::Always))
    };

    let decided = rt.block_on(a.get_bucket_for_write("b")).unwrap().unwrap();
    let mut tags = coffer_store::Tags::new();
    tags.insert("team".into(), "x".into());
    rt.block_on(a.set_bucket_tags("b", tags)).unwrap();
    assert!(matches!(put(&decided), Err(StoreError::BucketChanged)));
    let now = rt.block_on(a.get_bucket_for_write("b")).unwrap().unwrap();
    assert_eq!(now.tags.get("team").map(String::as_str), Some("x"));

    // Deleted (and made anew) by B: the old record no longer commits, whatever A holds.
    rt.block_on(b.delete_bucket("b")).unwrap();
    assert!(matches!(put(&now), Err(StoreError::NoSuchBucket)));
    let mut again = bucket("b");
    again.created_ms += 1;
    rt.block_on(b.create_bucket(&again)).unwrap();
    assert!(matches!(put(&now), Err(StoreError::BucketChanged)));
    assert_eq!(scratch.count("SELECT count(*) FROM coffer_objects"), 0);
}
