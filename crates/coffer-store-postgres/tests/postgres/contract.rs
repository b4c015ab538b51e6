//! The MetaStore contract suite, every case, against PostgreSQL.

use coffer_store::contract::{FreshMeta, run_meta_contract};

use crate::postgres::harness::{fresh_pair, url};

#[test]
fn meets_the_meta_store_contract() {
    let Some(url) = url() else { return };
    run_meta_contract(&|| {
        let (handles, scratch) = fresh_pair(&url);
        FreshMeta {
            handles,
            keep: Box::new(scratch),
        }
    });
}
