//! Garbage collection on demand (`coffer admin` through a running server): the blobs of a
//! shared store that no record names, no write intent covers, and that are older than a
//! grace period.

use std::time::Duration;

use coffer_store::{GcPolicy, GcReport, collect_orphans};

use crate::service::CofferS3;

impl CofferS3 {
    /// One collection over the whole blob store with `grace`. Safe while other gateways
    /// write: each of them records its intent before a blob exists.
    pub fn collect_garbage(&self, grace: Duration) -> Result<GcReport, String> {
        let policy = GcPolicy {
            grace,
            ..GcPolicy::default()
        };
        self.wait(collect_orphans(
            self.meta.as_ref(),
            self.blobs.as_ref(),
            &policy,
        ))
        .map_err(|e| e.to_string())
    }
}
