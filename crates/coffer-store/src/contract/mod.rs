//! Contract suites for [`MetaStore`] and [`BlobStore`]: what every backend must do, written
//! against the traits alone. A backend's tests call [`run_meta_contract`] or
//! [`run_blob_contract`] with a constructor of fresh, empty stores; the embedded backends
//! (redb, files) run them in this crate's tests, and other backends enable the
//! `contract-tests` feature to run the same suites.
//!
//! Each case runs on a store of its own and panics on the first broken promise; its name is
//! printed first, so a failure says which case broke. The suites make their own
//! multi-threaded runtime and call the stores through blocking adapters ([`blocking`]), so
//! call them from a plain `#[test]`, not from inside a runtime.

mod blob;
pub mod blocking;
pub mod fixtures;
mod meta_concurrency;
mod meta_records;

use std::any::Any;
use std::sync::Arc;

use crate::blob::BlobStore;
use crate::meta::MetaStore;

/// A fresh, empty metadata store.
pub struct FreshMeta {
    /// Two handles on the same store: two connections (or pools) for a shared database, the
    /// same object twice for one that admits a single opener (redb).
    pub handles: [Arc<dyn MetaStore>; 2],
    /// Keeps the store's backing (a temporary directory, a scratch schema) alive.
    pub keep: Box<dyn Any>,
}

/// A fresh, empty blob store.
pub struct FreshBlobs {
    /// Two handles on the same store, opened separately where the backend allows it.
    pub handles: [Arc<dyn BlobStore>; 2],
    pub keep: Box<dyn Any>,
}

type Case<F> = (&'static str, fn(&dyn Fn() -> F));

fn run_cases<F>(cases: &[Case<F>], fresh: &dyn Fn() -> F) {
    // Several workers, as a server has: a backend that blocks a worker, or needs one free to
    // make progress, shows it here.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the contract suite");
    let _inside = rt.enter();
    for (name, case) in cases {
        eprintln!("contract case: {name}");
        case(fresh);
    }
}

/// Runs every MetaStore case against stores from `fresh`.
pub fn run_meta_contract(fresh: &dyn Fn() -> FreshMeta) {
    run_cases(meta_records::CASES, fresh);
    run_cases(meta_concurrency::CASES, fresh);
}

/// Runs every BlobStore case against stores from `fresh`.
pub fn run_blob_contract(fresh: &dyn Fn() -> FreshBlobs) {
    run_cases(blob::CASES, fresh);
}
