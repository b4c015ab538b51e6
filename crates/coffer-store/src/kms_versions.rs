//! Versions of KMS records, so that the KMS updates them by compare-and-swap: several
//! gateways may share one store, and an in-process lock orders nothing between them.
//!
//! Each record id has a version, kept beside the record (not inside it: records are sealed by
//! the KMS layer and opaque here). Every write to a KMS record gives it a new version, one
//! above the last that id ever had; the last version outlives a deletion, so a record deleted
//! and created again never repeats a version a stale writer may still hold. A record written
//! before versions existed reads as version 0.

use std::collections::HashMap;

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use crate::audit_store::KmsWrite;
use crate::error::{StoreError, StoreResult};
use crate::redb_meta::KMS_KEYS;

/// The last version given to each KMS record id.
pub(crate) const KMS_VERSIONS: TableDefinition<&str, u64> = TableDefinition::new("kms_versions");

/// The last version `id` was given (0 if never, or only before versions existed).
fn last_version(versions: &impl ReadableTable<&'static str, u64>, id: &str) -> StoreResult<u64> {
    Ok(versions.get(id)?.map_or(0, |v| v.value()))
}

/// A record and its version, read in `txn`.
pub(crate) fn get(txn: &ReadTransaction, id: &str) -> StoreResult<Option<(u64, Vec<u8>)>> {
    let keys = txn.open_table(KMS_KEYS)?;
    let Some(record) = keys.get(id)? else {
        return Ok(None);
    };
    let versions = txn.open_table(KMS_VERSIONS)?;
    Ok(Some((
        last_version(&versions, id)?,
        record.value().to_vec(),
    )))
}

/// The records whose ids start with `prefix`, in id order, each with its version.
pub(crate) fn list(
    txn: &ReadTransaction,
    prefix: &str,
) -> StoreResult<Vec<(String, u64, Vec<u8>)>> {
    let keys = txn.open_table(KMS_KEYS)?;
    let versions = txn.open_table(KMS_VERSIONS)?;
    let mut out = Vec::new();
    for entry in keys.range(prefix..)? {
        let (k, v) = entry?;
        let id = k.value();
        if !id.starts_with(prefix) {
            break;
        }
        out.push((
            id.to_owned(),
            last_version(&versions, id)?,
            v.value().to_vec(),
        ));
    }
    Ok(out)
}

/// Gives `id` its next version: every write to a KMS record calls this, conditional or not.
pub(crate) fn bump(txn: &WriteTransaction, id: &str) -> StoreResult<()> {
    let mut versions = txn.open_table(KMS_VERSIONS)?;
    let next = last_version(&versions, id)? + 1;
    versions.insert(id, next)?;
    Ok(())
}

/// Applies `writes` if every one finds the version it expects (`None`: no record), checking
/// all of them before writing any; otherwise writes nothing and fails with
/// [`StoreError::KmsConflict`]. A later write to the same id expects what an earlier one
/// leaves.
pub(crate) fn apply(txn: &WriteTransaction, writes: &[KmsWrite]) -> StoreResult<()> {
    {
        let keys = txn.open_table(KMS_KEYS)?;
        let versions = txn.open_table(KMS_VERSIONS)?;
        // id → (last version given, whether a record is there), as the writes before leave it.
        let mut seen: HashMap<&str, (u64, bool)> = HashMap::new();
        for w in writes {
            let id = w.id();
            let (last, present) = match seen.get(id) {
                Some(&state) => state,
                None => (last_version(&versions, id)?, keys.get(id)?.is_some()),
            };
            if present.then_some(last) != w.expected() {
                return Err(StoreError::KmsConflict(id.to_owned()));
            }
            let after = match w {
                KmsWrite::Put { .. } => (last + 1, true),
                KmsWrite::Delete { .. } => (last + 1, false),
            };
            seen.insert(id, after);
        }
    }
    let mut keys = txn.open_table(KMS_KEYS)?;
    for w in writes {
        match w {
            KmsWrite::Put { id, record, .. } => {
                keys.insert(id.as_str(), record.as_slice())?;
            }
            KmsWrite::Delete { id, .. } => {
                keys.remove(id.as_str())?;
            }
        }
        bump(txn, w.id())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{KeyStore, KmsWrite, RedbMetaStore, StoreError};

    fn put(id: &str, record: &[u8], expected: Option<u64>) -> KmsWrite {
        KmsWrite::Put {
            id: id.into(),
            record: record.to_vec(),
            expected,
        }
    }

    #[test]
    fn kms_writes_compare_and_swap_versions_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = RedbMetaStore::open(&dir.path().join("m.redb")).unwrap();
        assert_eq!(s.get_kms_record("key/1").unwrap(), None);
        s.write_kms_records(vec![put("key/1", b"a", None)]).unwrap();
        assert_eq!(s.get_kms_record("key/1").unwrap(), Some((1, b"a".to_vec())));
        // Created already: a second creation conflicts.
        assert!(matches!(
            s.write_kms_records(vec![put("key/1", b"b", None)]),
            Err(StoreError::KmsConflict(id)) if id == "key/1"
        ));
        s.write_kms_records(vec![put("key/1", b"b", Some(1))])
            .unwrap();
        // A writer that read version 1 lost the race: nothing of its change is written.
        assert!(matches!(
            s.write_kms_records(vec![
                put("alias/x", b"x", None),
                put("key/1", b"c", Some(1))
            ]),
            Err(StoreError::KmsConflict(_))
        ));
        assert_eq!(s.get_kms_record("alias/x").unwrap(), None);
        assert_eq!(s.get_kms_record("key/1").unwrap(), Some((2, b"b".to_vec())));
        // Writes of one change follow each other.
        s.write_kms_records(vec![
            put("key/1", b"c", Some(2)),
            put("key/1", b"d", Some(3)),
        ])
        .unwrap();
        assert_eq!(s.get_kms_record("key/1").unwrap(), Some((4, b"d".to_vec())));
        // Unconditional writes move the version too, so no CAS misses them.
        s.put_kms_key("key/1", b"e").unwrap();
        assert!(
            s.write_kms_records(vec![put("key/1", b"f", Some(4))])
                .is_err()
        );
        // A deleted record never repeats a version.
        s.write_kms_records(vec![KmsWrite::Delete {
            id: "key/1".into(),
            expected: Some(5),
        }])
        .unwrap();
        assert_eq!(s.get_kms_record("key/1").unwrap(), None);
        s.write_kms_records(vec![put("key/1", b"g", None)]).unwrap();
        assert_eq!(s.get_kms_record("key/1").unwrap(), Some((7, b"g".to_vec())));
        assert_eq!(
            s.list_kms_records("key/").unwrap(),
            vec![("key/1".to_owned(), 7, b"g".to_vec())]
        );
    }

    #[test]
    fn records_stored_before_versions_existed_read_as_version_0() {
        let dir = tempfile::tempdir().unwrap();
        let s = RedbMetaStore::open(&dir.path().join("m.redb")).unwrap();
        // What an older server left: the record without a version entry.
        s.write(|txn| {
            txn.open_table(crate::redb_meta::KMS_KEYS)?
                .insert("key/old", b"old".as_slice())?;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            s.get_kms_record("key/old").unwrap(),
            Some((0, b"old".to_vec()))
        );
        s.write_kms_records(vec![put("key/old", b"new", Some(0))])
            .unwrap();
        assert_eq!(
            s.get_kms_record("key/old").unwrap(),
            Some((1, b"new".to_vec()))
        );
    }
}
