//! Bucket records.

use coffer_store::{BlobId, BucketRecord, KmsRecordSnapshot, StoreError};

use crate::codec::{blob_ids, decode, encode};
use crate::kms::version;
use crate::retry::{Attempt, Fail};
use crate::sql::{freed, ref_ctes, verdict};
use crate::{PostgresMetaStore, cached};

/// Inserts bucket `$1` unless it exists; returns whether it did, and the existing record
/// (read in the same snapshot) so the caller learns its owner.
const CREATE: &str = "WITH stored AS (
        INSERT INTO coffer_buckets (name, record) VALUES ($1::text, $2::bytea)
        ON CONFLICT (name) DO NOTHING RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM stored),
           (SELECT record FROM coffer_buckets WHERE name = $1)";

/// Deletes bucket `$1` if it holds no object, with its uploads and their parts.
const DELETE: &str = concat!(
    "WITH
    verdict AS (SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM coffer_buckets WHERE name = $1::text) THEN 1
        WHEN EXISTS (SELECT 1 FROM coffer_objects WHERE bucket = $1) THEN 8
        ELSE 0 END AS v),
    uploads AS (
        DELETE FROM coffer_uploads WHERE bucket = $1 AND (SELECT v FROM verdict) = 0
        RETURNING upload_id
    ),
    parts AS (
        DELETE FROM coffer_parts WHERE upload_id IN (SELECT upload_id FROM uploads)
        RETURNING blob
    ),
    bucket_gone AS (
        DELETE FROM coffer_buckets WHERE name = $1 AND (SELECT v FROM verdict) = 0
    ),
    delta AS (SELECT blob, -count(*) AS d FROM parts GROUP BY blob),",
    ref_ctes!(),
    "SELECT (SELECT v FROM verdict), ",
    freed!()
);

impl PostgresMetaStore {
    pub(crate) async fn create_bucket_once(&self, bucket: &BucketRecord) -> Attempt<()> {
        let record = encode(bucket)?;
        let client = self.client().await?;
        let stmt = client.prepare_cached(CREATE).await?;
        let row = client.query_one(&stmt, &[&bucket.name, &record]).await?;
        if row.get::<_, bool>(0) {
            return Ok(());
        }
        let existing: Option<&[u8]> = row.get(1);
        let existing: BucketRecord = match existing {
            Some(bytes) => decode(bytes)?,
            // Inserted by a transaction our snapshot cannot see (PostgreSQL refuses ours
            // with 40001 then; a database that did not would land here): run again.
            None => return Err(Fail::Retry("bucket created concurrently".into())),
        };
        Err(StoreError::BucketExists {
            owner: existing.owner,
        }
        .into())
    }

    pub(crate) async fn get_bucket_once(&self, name: &str) -> Attempt<Option<BucketRecord>> {
        let epoch = self.buckets_seen.epoch();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT record FROM coffer_buckets WHERE name = $1::text")
            .await?;
        let row = client.query_opt(&stmt, &[&name]).await?;
        Ok(row.map(|r| self.bucket_read(epoch, r.get(0))).transpose()?)
    }

    /// Decodes a bucket record read at `epoch` (see [`crate::buckets_seen`]) and remembers it
    /// for the writes that follow.
    pub(crate) fn bucket_read(
        &self,
        epoch: u64,
        stored: &[u8],
    ) -> Result<BucketRecord, StoreError> {
        let record: BucketRecord = decode(stored)?;
        self.buckets_seen.remember(epoch, &record, stored);
        Ok(record)
    }

    /// The bucket for a write: as read less than a second ago, else read now.
    pub(crate) async fn get_bucket_for_write_once(
        &self,
        name: &str,
    ) -> Attempt<Option<BucketRecord>> {
        match self.buckets_seen.fresh(name) {
            Some(seen) => Ok(Some(seen.record.clone())),
            None => self.get_bucket_once(name).await,
        }
    }

    /// The bytes a write decided on `bucket` requires the stored record to still be;
    /// `BucketChanged` if this gateway no longer knows them (the bucket was changed through
    /// it, or is not remembered): then the decision must be made again.
    pub(crate) fn decided_on(&self, bucket: &BucketRecord) -> Result<Vec<u8>, StoreError> {
        match self.buckets_seen.last(&bucket.name) {
            Some(seen) if seen.record == *bucket => Ok(seen.stored.clone()),
            _ => Err(StoreError::BucketChanged),
        }
    }

    /// After a write decided on `bucket`: if the check at commit found the bucket changed,
    /// what this gateway remembers of it is stale.
    pub(crate) fn forget_if_changed<T>(&self, bucket: &BucketRecord, done: &Result<T, StoreError>) {
        if matches!(done, Err(StoreError::BucketChanged)) {
            self.bucket_changing(&bucket.name);
        }
    }

    /// Forgets what this gateway read of `name`, which is changing.
    pub(crate) fn bucket_changing(&self, name: &str) {
        self.buckets_seen.forget(name);
    }

    /// Runs `change` of bucket `name`, forgetting what this gateway read of it before and
    /// after: a read racing the change may have remembered the old record in between.
    pub(crate) async fn changing_bucket<T>(
        &self,
        name: &str,
        change: impl std::future::Future<Output = coffer_store::StoreResult<T>>,
    ) -> coffer_store::StoreResult<T> {
        self.bucket_changing(name);
        let out = change.await;
        self.bucket_changing(name);
        out
    }

    /// The bucket and one KMS record in one round trip; either may be missing, so the row
    /// hangs off a constant.
    pub(crate) async fn get_bucket_and_kms_record_once(
        &self,
        name: &str,
        kms_id: &str,
    ) -> Attempt<(Option<BucketRecord>, Option<KmsRecordSnapshot>)> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT b.record, k.version, k.record FROM (SELECT 1) AS one
                 LEFT JOIN coffer_buckets b ON b.name = $1::text
                 LEFT JOIN coffer_kms k ON k.id = $2::text AND k.record IS NOT NULL",
            )
            .await?;
        let epoch = self.buckets_seen.epoch();
        let row = client.query_one(&stmt, &[&name, &kms_id]).await?;
        let bucket = row
            .get::<_, Option<&[u8]>>(0)
            .map(|stored| self.bucket_read(epoch, stored))
            .transpose()?;
        let found: Option<Vec<u8>> = row.get(2);
        let key = KmsRecordSnapshot {
            id: kms_id.to_owned(),
            found: found.map(|record| (version(row.get(1)), record)),
        };
        Ok((bucket, Some(key)))
    }

    pub(crate) async fn list_buckets_once(&self) -> Attempt<Vec<BucketRecord>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT record FROM coffer_buckets ORDER BY name")
            .await?;
        let rows = client.query(&stmt, &[]).await?;
        Ok(rows
            .iter()
            .map(|r| decode(r.get(0)))
            .collect::<Result<_, _>>()?)
    }

    /// Changes one bucket's record: read, change, write back in one transaction
    /// (`NoSuchBucket` if it is gone). Configuration changes are rare; clarity wins here.
    pub(crate) async fn update_bucket_once(
        &self,
        name: &str,
        change: &(dyn Fn(&mut BucketRecord) + Send + Sync),
    ) -> Attempt<()> {
        let mut client = self.client().await?;
        let txn = Self::serializable(&mut client).await?;
        let row = txn
            .query_opt(
                &cached(
                    &txn,
                    "SELECT record FROM coffer_buckets WHERE name = $1::text FOR UPDATE",
                )
                .await?,
                &[&name],
            )
            .await?;
        let Some(row) = row else {
            return Err(StoreError::NoSuchBucket.into());
        };
        let mut record: BucketRecord = decode(row.get(0))?;
        change(&mut record);
        txn.execute(
            &cached(
                &txn,
                "UPDATE coffer_buckets SET record = $2::bytea WHERE name = $1::text",
            )
            .await?,
            &[&name, &encode(&record)?],
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    pub(crate) async fn delete_bucket_once(&self, name: &str) -> Attempt<Vec<BlobId>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(DELETE).await?;
        let row = client.query_one(&stmt, &[&name]).await?;
        verdict(row.get(0))?;
        Ok(blob_ids(row.get(1))?)
    }
}
