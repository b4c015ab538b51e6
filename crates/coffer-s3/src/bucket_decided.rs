//! Writes decided on the bucket as the store read it a moment ago.
//!
//! A PUT or DELETE needs its bucket (policy, default encryption…) to decide. A store across a
//! network may answer that from the record it read within the last second
//! ([`MetaStore::get_bucket_for_write`]) and then commits only while the bucket is still that
//! record ([`MetaStore::put_object_in_bucket`], [`MetaStore::delete_object_in_bucket`]). When
//! the bucket changed meanwhile, the write is settled here on a fresh read.
//!
//! [`MetaStore::get_bucket_for_write`]: coffer_store::MetaStore::get_bucket_for_write
//! [`MetaStore::put_object_in_bucket`]: coffer_store::MetaStore::put_object_in_bucket
//! [`MetaStore::delete_object_in_bucket`]: coffer_store::MetaStore::delete_object_in_bucket

use std::future::Future;

use coffer_store::{BucketRecord, StoreError};
use s3s::S3Result;

use crate::bucket_policy::found_bucket;
use crate::error::OrS3;
use crate::requester::Requester;
use crate::service::CofferS3;

impl CofferS3 {
    /// The bucket for a write `who` may do (`action` on `key`), as the store may remember it;
    /// the write must then go through [`CofferS3::write_in_bucket`].
    pub(crate) async fn bucket_for_write(
        &self,
        who: &Requester,
        bucket: &str,
        action: &str,
        key: Option<&str>,
    ) -> S3Result<BucketRecord> {
        let record = self.meta.get_bucket_for_write(bucket).await.or_s3()?;
        self.authorized(who, found_bucket(record)?, action, key)
    }

    /// Runs `write`, a store call decided on `decided`. If the bucket has changed since, a
    /// fresh read settles it: the same record (only no longer remembered) runs the write
    /// again; a changed one refuses it (`BucketChanged`, answered 503 `SlowDown`), so that
    /// the client's retry is decided on the bucket as it is now.
    pub(crate) async fn write_in_bucket<T, F>(
        &self,
        decided: &BucketRecord,
        write: impl Fn() -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        match write().await {
            Err(StoreError::BucketChanged) => {}
            done => return done,
        }
        let outcome = match self.meta.get_bucket(&decided.name).await? {
            None => Err(StoreError::NoSuchBucket),
            Some(now) if now == *decided => write().await,
            Some(_) => Err(StoreError::BucketChanged),
        };
        let label = match &outcome {
            Err(StoreError::BucketChanged) => "refused",
            _ => "decided_again",
        };
        metrics::counter!("coffer_bucket_changed_writes_total", "outcome" => label).increment(1);
        outcome
    }
}
