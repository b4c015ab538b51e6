use std::sync::Arc;

use super::*;
use crate::contract::{FreshMeta, run_meta_contract};
use crate::error::StoreError;

fn fresh() -> FreshMeta {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MetaStore> =
        Arc::new(RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap());
    // redb admits one opener per file: both handles are the same store.
    FreshMeta {
        handles: [store.clone(), store],
        keep: Box::new(dir),
    }
}

#[test]
fn meets_the_meta_store_contract() {
    run_meta_contract(&fresh);
}

#[test]
fn a_database_held_open_elsewhere_is_reported_as_locked() {
    let held = fresh();
    let dir: &tempfile::TempDir = held.keep.downcast_ref().unwrap();
    let second = RedbMetaStore::open(&dir.path().join("meta.redb"));
    let e = second.err().expect("the file lock refuses a second opener");
    assert!(matches!(e, StoreError::Locked), "{e:?}");
    assert_eq!(
        e.to_string(),
        "metadata database: Database already open. Cannot acquire lock."
    );
}
