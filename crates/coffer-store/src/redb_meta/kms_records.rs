//! KMS key records (sealed by the KMS layer) and small server-wide settings.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::RedbMetaStore;
use crate::error::{StoreError, StoreResult};

/// Key records of the built-in KMS (already sealed by the KMS layer), by key id.
pub(crate) const KMS_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("kms_keys");

/// Small server-wide values (e.g. the root key's check value).
pub(crate) const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

impl RedbMetaStore {
    pub(super) fn get_kms_key(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(KMS_KEYS)?;
        Ok(t.get(id)?.map(|v| v.value().to_vec()))
    }

    pub(super) fn put_kms_key(&self, id: &str, record: &[u8]) -> StoreResult<()> {
        let (id, record) = (id.to_owned(), record.to_vec());
        self.write(move |txn| {
            txn.open_table(KMS_KEYS)?
                .insert(id.as_str(), record.as_slice())?;
            crate::kms_versions::bump(txn, &id)
        })
    }

    pub(super) fn delete_kms_key(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |txn| {
            txn.open_table(KMS_KEYS)?.remove(id.as_str())?;
            crate::kms_versions::bump(txn, &id)
        })
    }

    pub(super) fn list_kms_keys(&self, prefix: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(KMS_KEYS)?;
        let mut out = Vec::new();
        for entry in t.range(prefix..)? {
            let (k, v) = entry?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    pub(super) fn get_setting(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(SETTINGS)?;
        Ok(t.get(name)?.map(|v| v.value().to_vec()))
    }

    /// Leases live among the settings (`lease/<name>`): one process holds the database,
    /// so they matter only to tools that test the contract, and they cost no table.
    pub(super) fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: u64,
    ) -> StoreResult<Option<u64>> {
        let (key, holder) = (format!("lease/{name}"), holder.to_owned());
        self.write(move |txn| {
            let mut t = txn.open_table(SETTINGS)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            let held: Option<StoredLease> = t
                .get(key.as_str())?
                .and_then(|v| serde_json::from_slice(v.value()).ok());
            let token = match held {
                Some(l) if l.holder == holder => l.token,
                Some(l) if l.expires_ms > now => return Ok(None),
                Some(l) => l.token + 1,
                None => 1,
            };
            let lease = StoredLease {
                holder: holder.clone(),
                token,
                expires_ms: now.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX)),
            };
            let bytes =
                serde_json::to_vec(&lease).map_err(|e| StoreError::Database(e.to_string()))?;
            t.insert(key.as_str(), bytes.as_slice())?;
            Ok(Some(token))
        })
    }

    pub(super) fn put_setting(&self, name: &str, value: &[u8]) -> StoreResult<()> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.write(move |txn| {
            txn.open_table(SETTINGS)?
                .insert(name.as_str(), value.as_slice())?;
            Ok(())
        })
    }
}

/// A lease as the embedded store keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredLease {
    holder: String,
    token: u64,
    expires_ms: i64,
}
