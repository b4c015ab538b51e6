//! Coffer's metadata on PostgreSQL: [`PostgresMetaStore`] implements
//! [`coffer_store::MetaStore`], [`coffer_store::KeyStore`] and [`coffer_store::AuditStore`] with the same
//! guarantees as the embedded redb store (`coffer_store::RedbMetaStore`, the reference),
//! so that several gateways can share one database.
//!
//! How it keeps them:
//! - Every transaction is SERIALIZABLE (the connections' default), and retried, bounded,
//!   when the database refuses one for a race (`retry`). Lost connections and timeouts
//!   answer `StoreError::Unavailable` (503 SlowDown at the S3 layer).
//! - A hot request is one statement, so one round trip: `put_object` checks the bucket, the
//!   master-key floor and the write condition, stores the record, settles write intents and
//!   moves blob reference counts in a single statement; `get_bucket_and_object` reads both
//!   records in one, `get_object_for_read` (a GET) adds the record of the object's KMS
//!   key to the same statement, and `get_bucket_and_kms_record` (a PUT under SSE-KMS) reads
//!   the bucket with its key's record. Rare changes (tags, re-sealing, bucket configuration, KMS
//!   compare-and-swap) are short transactions.
//! - Object keys are `text COLLATE "C"`, listed as key ranges in pages (`schema`).
//! - Written for PostgreSQL 15+ and for CockroachDB/YugabyteDB: no LISTEN/NOTIFY, advisory
//!   locks, `LOCK TABLE` or serial keys.
//!
//! The synchronous traits block on the async client through the runtime captured at
//! [`PostgresMetaStore::connect`]: call them from blocking threads, from inside
//! `block_in_place`, or from plain threads — never from a current-thread runtime's task.
#![forbid(unsafe_code)]

mod audit;
mod audit_trail;
mod blobs;
mod buckets;
mod buckets_seen;
mod codec;
mod kms;
mod meta;
mod objects;
mod pool;
mod reseal;
mod retry;
mod schema;
mod sql;
mod tls;
mod uploads;

use std::collections::HashMap;
use std::future::Future;

use coffer_store::{BlobId, StoreError, StoreResult};
use deadpool_postgres::Pool;
use tokio::runtime::{Handle, RuntimeFlavor};

pub use pool::ConnectOptions;
pub use schema::SCHEMA_VERSION;
pub use tls::tls_trusting;

use retry::{Attempt, retrying};

/// Coffer's metadata in a PostgreSQL database (or one that speaks its protocol).
pub struct PostgresMetaStore {
    pool: Pool,
    /// The runtime the synchronous traits block on.
    runtime: Handle,
    /// Bucket records as last read, for PUTs that check them at commit.
    buckets_seen: buckets_seen::BucketsSeen,
}

/// A statement prepared once per connection (the pool's cache), so running it again costs
/// one round trip rather than a parse and an execute.
async fn cached(
    txn: &deadpool_postgres::Transaction<'_>,
    sql: &str,
) -> Attempt<tokio_postgres::Statement> {
    Ok(txn.prepare_cached(sql).await?)
}

impl PostgresMetaStore {
    /// Connects to `url` (`postgres://user:password@host:port/db?sslmode=…`), brings the
    /// schema up to date, and keeps a pool of connections. TLS (rustls, the system's
    /// roots) is used when `sslmode` is `prefer` (the default) or `require`.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, ConnectOptions::default()).await
    }

    /// [`PostgresMetaStore::connect`] with a pool size, a schema, or a TLS configuration of
    /// one's own (a private CA, client certificates).
    pub async fn connect_with(url: &str, options: ConnectOptions) -> StoreResult<Self> {
        let runtime = Handle::try_current().map_err(|_| {
            StoreError::Database("the postgres metadata store needs a tokio runtime".into())
        })?;
        // The synchronous traits block on this runtime from other threads; a
        // current-thread runtime makes no progress then, so refuse it up front rather
        // than hang on the first KMS call.
        if runtime.runtime_flavor() == RuntimeFlavor::CurrentThread {
            return Err(StoreError::Database(
                "the postgres metadata store needs a multi-threaded tokio runtime".into(),
            ));
        }
        let pool = pool::build_pool(url, &options)?;
        schema::migrate(&pool, options.schema.as_deref()).await?;
        Ok(Self {
            pool,
            runtime,
            buckets_seen: Default::default(),
        })
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> StoreResult<i64> {
        retrying(|| async {
            let client = self.client().await?;
            let row = client
                .query_one("SELECT version FROM coffer_schema", &[])
                .await?;
            Ok(row.get(0))
        })
        .await
    }

    /// How many records name each blob, as the store counts them: what a consistency check
    /// compares with the records themselves.
    pub async fn blob_reference_counts(&self) -> StoreResult<HashMap<BlobId, u64>> {
        retrying(|| self.blob_reference_counts_once()).await
    }

    async fn client(&self) -> Attempt<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// An explicit transaction, SERIALIZABLE whatever the session's default.
    async fn serializable(
        client: &mut deadpool_postgres::Object,
    ) -> Attempt<deadpool_postgres::Transaction<'_>> {
        Ok(client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::Serializable)
            .start()
            .await?)
    }

    /// Runs `fut` to completion for a synchronous caller.
    fn block<T>(&self, fut: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        coffer_store::run_blocking(|| self.runtime.block_on(fut))
    }
}
