//! The KMS's records (sealed by the KMS layer, opaque here) with their versions, and small
//! server-wide settings: [`KeyStore`].
//!
//! Each id's row keeps the last version it was given; a deleted record keeps its row with no
//! record, so a record deleted and created again never repeats a version that a stale
//! writer may still hold. Every write gives a new version, so a compare-and-swap sees it.

use std::collections::HashMap;

use coffer_store::{KeyStore, KmsWrite, StoreError, StoreResult};

use crate::retry::{Attempt, retrying};
use crate::sql::prefix_end;
use crate::{PostgresMetaStore, cached};

/// An unconditional write or delete (`$2` NULL): the next version either way.
const PUT: &str = "INSERT INTO coffer_kms (id, version, record) VALUES ($1::text, 1, $2::bytea)
    ON CONFLICT (id) DO UPDATE SET version = coffer_kms.version + 1, record = excluded.record";

const LIST: &str = "SELECT id, version, record FROM coffer_kms
    WHERE id >= $1::text AND ($2::text IS NULL OR id < $2) AND record IS NOT NULL
    ORDER BY id";

/// Applies `writes` inside `txn` if each finds the version it expects, checking all before
/// writing any (a later write to an id expects what an earlier one leaves); else
/// `KmsConflict`, and the caller drops the transaction.
pub(crate) async fn apply_kms_writes(
    txn: &deadpool_postgres::Transaction<'_>,
    writes: &[KmsWrite],
) -> Attempt<()> {
    let mut ids: Vec<&str> = writes.iter().map(KmsWrite::id).collect();
    ids.sort_unstable();
    ids.dedup();
    // Locked in id order, so two gateways changing the same records queue, not deadlock.
    let rows = txn
        .query(
            &cached(
                txn,
                "SELECT id, version, record IS NOT NULL FROM coffer_kms
             WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
            )
            .await?,
            &[&ids],
        )
        .await?;
    // id → (last version given, whether a record is there), as the writes before leave it.
    let mut state: HashMap<String, (i64, bool)> = rows
        .iter()
        .map(|r| (r.get::<_, String>(0), (r.get(1), r.get(2))))
        .collect();
    let mut last_write: HashMap<&str, Option<&[u8]>> = HashMap::new();
    for w in writes {
        let (last, present) = state.get(w.id()).copied().unwrap_or((0, false));
        let expected = w.expected().map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        if present.then_some(last) != expected {
            return Err(StoreError::KmsConflict(w.id().to_owned()).into());
        }
        let record = match w {
            KmsWrite::Put { record, .. } => Some(record.as_slice()),
            KmsWrite::Delete { .. } => None,
        };
        state.insert(w.id().to_owned(), (last + 1, record.is_some()));
        last_write.insert(w.id(), record);
    }
    // One statement for all of them: each id's final record and version.
    let (mut out_ids, mut versions, mut records) = (Vec::new(), Vec::new(), Vec::new());
    for (id, record) in last_write {
        out_ids.push(id);
        versions.push(state[id].0);
        records.push(record);
    }
    txn.execute(
        &cached(
            txn,
            "INSERT INTO coffer_kms (id, version, record)
         SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[])
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, record = excluded.record",
        )
        .await?,
        &[&out_ids, &versions, &records],
    )
    .await?;
    Ok(())
}

impl PostgresMetaStore {
    async fn kms_put_once(&self, id: &str, record: Option<&[u8]>) -> Attempt<()> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(PUT).await?;
        client.execute(&stmt, &[&id, &record]).await?;
        Ok(())
    }

    async fn kms_get_once(&self, id: &str) -> Attempt<Option<(u64, Vec<u8>)>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT version, record FROM coffer_kms
                 WHERE id = $1::text AND record IS NOT NULL",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&id]).await?;
        Ok(row.map(|r| (version(r.get(0)), r.get(1))))
    }

    async fn kms_list_once(&self, prefix: &str) -> Attempt<Vec<(String, u64, Vec<u8>)>> {
        let end = prefix_end(prefix);
        let client = self.client().await?;
        let stmt = client.prepare_cached(LIST).await?;
        let rows = client.query(&stmt, &[&prefix, &end]).await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), version(r.get(1)), r.get(2)))
            .collect())
    }

    async fn write_kms_records_once(&self, writes: &[KmsWrite]) -> Attempt<()> {
        let mut client = self.client().await?;
        let txn = Self::serializable(&mut client).await?;
        apply_kms_writes(&txn, writes).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn get_setting_once(&self, name: &str) -> Attempt<Option<Vec<u8>>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT value FROM coffer_settings WHERE name = $1::text")
            .await?;
        let row = client.query_opt(&stmt, &[&name]).await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// One statement: take a free or expired lease (a new token), renew one's own (the same
    /// token), or leave another's running lease alone (no row returned).
    async fn acquire_lease_once(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Attempt<Option<u64>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8 AS ms)
                 INSERT INTO coffer_leases (name, holder, token, expires_ms)
                 SELECT $1::text, $2::text, 1, ms + $3::int8 FROM now
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                     expires_ms = excluded.expires_ms,
                     token = CASE WHEN coffer_leases.holder = excluded.holder
                         THEN coffer_leases.token ELSE coffer_leases.token + 1 END
                 WHERE coffer_leases.holder = excluded.holder
                     OR coffer_leases.expires_ms < (SELECT ms FROM now)
                 RETURNING token",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&name, &holder, &ttl_ms]).await?;
        Ok(row.map(|r| version(r.get(0))))
    }

    async fn put_setting_once(&self, name: &str, value: &[u8]) -> Attempt<()> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO coffer_settings (name, value) VALUES ($1::text, $2::bytea)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .await?;
        client.execute(&stmt, &[&name, &value]).await?;
        Ok(())
    }
}

pub(crate) fn version(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl KeyStore for PostgresMetaStore {
    fn get_kms_key(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        self.block(retrying(|| self.kms_get_once(id)))
            .map(|r| r.map(|(_, record)| record))
    }

    fn put_kms_key(&self, id: &str, record: &[u8]) -> StoreResult<()> {
        self.block(retrying(|| self.kms_put_once(id, Some(record))))
    }

    fn delete_kms_key(&self, id: &str) -> StoreResult<()> {
        self.block(retrying(|| self.kms_put_once(id, None)))
    }

    fn list_kms_keys(&self, prefix: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let records = self.block(retrying(|| self.kms_list_once(prefix)))?;
        Ok(records.into_iter().map(|(id, _, r)| (id, r)).collect())
    }

    fn get_kms_record(&self, id: &str) -> StoreResult<Option<(u64, Vec<u8>)>> {
        self.block(retrying(|| self.kms_get_once(id)))
    }

    fn list_kms_records(&self, prefix: &str) -> StoreResult<Vec<(String, u64, Vec<u8>)>> {
        self.block(retrying(|| self.kms_list_once(prefix)))
    }

    fn write_kms_records(&self, writes: Vec<KmsWrite>) -> StoreResult<()> {
        self.block(retrying(|| self.write_kms_records_once(&writes)))
    }

    fn get_setting(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        self.block(retrying(|| self.get_setting_once(name)))
    }

    fn put_setting(&self, name: &str, value: &[u8]) -> StoreResult<()> {
        self.block(retrying(|| self.put_setting_once(name, value)))
    }

    fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: u64) -> StoreResult<Option<u64>> {
        let ttl_ms = i64::try_from(ttl_ms).unwrap_or(i64::MAX / 2);
        self.block(retrying(|| self.acquire_lease_once(name, holder, ttl_ms)))
    }
}
