//! Blob reference counts and write intents: what garbage collection asks before it deletes.

use std::collections::{HashMap, HashSet};

use coffer_store::BlobId;

use crate::PostgresMetaStore;
use crate::codec::{blob_id, to_i64};
use crate::retry::Attempt;

impl PostgresMetaStore {
    pub(crate) async fn referenced_blobs_once(&self) -> Attempt<HashSet<BlobId>> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT blob FROM coffer_blob_refs WHERE n > 0", &[])
            .await?;
        Ok(rows
            .iter()
            .map(|r| blob_id(r.get(0)))
            .collect::<Result<_, _>>()?)
    }

    /// How many records name each blob, as the store counts them: what a consistency
    /// check compares with the records themselves.
    pub(crate) async fn blob_reference_counts_once(&self) -> Attempt<HashMap<BlobId, u64>> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT blob, n FROM coffer_blob_refs WHERE n > 0", &[])
            .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in rows {
            let n: i64 = r.get(1);
            out.insert(blob_id(r.get(0))?, u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    pub(crate) async fn record_blob_intent_once(&self, id: &BlobId, at_ms: i64) -> Attempt<()> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO coffer_blob_intents (blob, at_ms) VALUES ($1::text, $2::int8)
                 ON CONFLICT (blob) DO UPDATE SET at_ms = excluded.at_ms",
            )
            .await?;
        client.execute(&stmt, &[&id.as_str(), &at_ms]).await?;
        Ok(())
    }

    pub(crate) async fn forget_blob_intent_once(&self, id: &BlobId) -> Attempt<()> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("DELETE FROM coffer_blob_intents WHERE blob = $1::text")
            .await?;
        client.execute(&stmt, &[&id.as_str()]).await?;
        Ok(())
    }

    /// One statement, so one snapshot: a blob cannot slip between the two tables.
    pub(crate) async fn blobs_in_use_once(
        &self,
        ids: &[BlobId],
        intents_since_ms: i64,
    ) -> Attempt<HashSet<BlobId>> {
        let names: Vec<&str> = ids.iter().map(BlobId::as_str).collect();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT blob FROM coffer_blob_refs WHERE blob = ANY($1::text[]) AND n > 0
                 UNION
                 SELECT blob FROM coffer_blob_intents
                 WHERE blob = ANY($1) AND at_ms >= $2::int8",
            )
            .await?;
        let rows = client.query(&stmt, &[&names, &intents_since_ms]).await?;
        Ok(rows
            .iter()
            .map(|r| blob_id(r.get(0)))
            .collect::<Result<_, _>>()?)
    }

    /// Also prunes up to `limit` reference counts that reached zero: garbage collection
    /// calls this page by page, which is the cadence such rows need (see `schema`).
    pub(crate) async fn drop_stale_blob_intents_once(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> Attempt<usize> {
        let client = self.client().await?;
        let prune = client
            .prepare_cached(
                "DELETE FROM coffer_blob_refs WHERE blob IN (
                     SELECT blob FROM coffer_blob_refs WHERE n <= 0 LIMIT $1::int8
                 ) AND n <= 0",
            )
            .await?;
        client.execute(&prune, &[&to_i64(limit)?]).await?;
        let stmt = client
            .prepare_cached(
                "DELETE FROM coffer_blob_intents WHERE blob IN (
                     SELECT blob FROM coffer_blob_intents WHERE at_ms < $1::int8
                     ORDER BY at_ms LIMIT $2::int8
                 )",
            )
            .await?;
        let n = client
            .execute(&stmt, &[&before_ms, &to_i64(limit)?])
            .await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
