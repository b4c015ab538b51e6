//! [`AuditStore`] on redb: the outbox in one table, and the index as a table of records by
//! chain position plus a table of (term, time, seq) keys, so that a lookup is a reverse
//! range scan over one term.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::audit_store::{AuditStore, IndexCursor, IndexScan, IndexedRecord, KmsWrite};
use crate::error::{StoreError, StoreResult};
use crate::redb_meta::{RedbMetaStore, SETTINGS};

/// Records committed with a KMS change, by `<commit time, 20 digits>/<record id>`.
pub(crate) const AUDIT_OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("audit_outbox");
/// Indexed records by chain position.
pub(crate) const AUDIT_RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_records");
/// `<term> 0x00 <time> 0x00 <seq, 8 bytes big-endian>`: one key per term of each record.
pub(crate) const AUDIT_TERMS: TableDefinition<&[u8], ()> = TableDefinition::new("audit_terms");
/// The highest chain position indexed (settings entry, 8 bytes big-endian).
const INDEXED_THROUGH: &str = "audit_indexed_through";
/// The chain's anchor (settings entry), and the position it names.
const ANCHOR: &str = "audit_chain_anchor";
const ANCHOR_SEQ: &str = "audit_chain_anchor_seq";

fn setting_u64(
    settings: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
) -> StoreResult<u64> {
    Ok(settings
        .get(name)?
        .and_then(|v| v.value().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0))
}

/// Moves the anchor forward to `seq`; an older one than kept is ignored.
fn put_anchor(settings: &mut redb::Table<&str, &[u8]>, seq: u64, anchor: &[u8]) -> StoreResult<()> {
    if seq > setting_u64(settings, ANCHOR_SEQ)? {
        settings.insert(ANCHOR, anchor)?;
        settings.insert(ANCHOR_SEQ, seq.to_be_bytes().as_slice())?;
    }
    Ok(())
}

fn term_key(term: &str, time: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + time.len() + 10);
    k.extend(term.bytes().filter(|b| *b != 0));
    k.push(0);
    k.extend_from_slice(time.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The (time, seq) a term key names.
fn place(key: &[u8], term_len: usize) -> Option<IndexCursor> {
    let rest = key.get(term_len + 1..)?;
    let (time, seq) = rest.split_at(rest.len().checked_sub(9)?);
    let seq = u64::from_be_bytes(seq.get(1..)?.try_into().ok()?);
    Some((String::from_utf8(time.to_vec()).ok()?, String::new(), seq))
}

/// The embedded trail has one stream, the unnamed one: several gateways never share a
/// redb file.
fn only_stream(stream: &str) -> StoreResult<()> {
    if stream.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Database(format!(
            "the embedded metadata store keeps one audit stream, not {stream:?}"
        )))
    }
}

fn outbox_id(record_id: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:020}/{record_id}")
}

impl AuditStore for RedbMetaStore {
    fn commit_kms_change(
        &self,
        writes: Vec<KmsWrite>,
        record_id: &str,
        record: &[u8],
    ) -> StoreResult<()> {
        let (id, record) = (outbox_id(record_id), record.to_vec());
        self.write(move |txn| {
            crate::kms_versions::apply(txn, &writes)?;
            txn.open_table(AUDIT_OUTBOX)?
                .insert(id.as_str(), record.as_slice())?;
            Ok(())
        })
    }

    fn save_audit_anchor(&self, stream: &str, seq: u64, anchor: &[u8]) -> StoreResult<()> {
        only_stream(stream)?;
        let anchor = anchor.to_vec();
        self.write(move |txn| put_anchor(&mut txn.open_table(SETTINGS)?, seq, &anchor))
    }

    fn audit_anchor(&self, stream: &str) -> StoreResult<Option<Vec<u8>>> {
        only_stream(stream)?;
        self.audit_anchors().map(|a| a.into_iter().next())
    }

    fn audit_anchors(&self) -> StoreResult<Vec<Vec<u8>>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(SETTINGS)?;
        Ok(t.get(ANCHOR)?
            .map(|v| v.value().to_vec())
            .into_iter()
            .collect())
    }

    fn audit_outbox(&self) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(AUDIT_OUTBOX)?;
        let mut out = Vec::new();
        for entry in t.iter()? {
            let (k, v) = entry?;
            let id = k.value().split_once('/').map_or(k.value(), |(_, id)| id);
            out.push((id.to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn clear_audit_outbox(&self, record_id: &str) -> StoreResult<()> {
        let suffix = format!("/{record_id}");
        self.write(move |txn| {
            let mut t = txn.open_table(AUDIT_OUTBOX)?;
            let found: Vec<String> = t
                .iter()?
                .filter_map(Result::ok)
                .map(|(k, _)| k.value().to_owned())
                .filter(|k| k.ends_with(&suffix))
                .collect();
            for k in found {
                t.remove(k.as_str())?;
            }
            Ok(())
        })
    }

    fn index_audit_records(
        &self,
        stream: &str,
        records: Vec<IndexedRecord>,
        anchor: Option<(u64, Vec<u8>)>,
    ) -> StoreResult<()> {
        only_stream(stream)?;
        let Some(newest) = records.iter().map(|r| r.seq).max() else {
            return Ok(());
        };
        self.write(move |txn| {
            let mut bodies = txn.open_table(AUDIT_RECORDS)?;
            let mut terms = txn.open_table(AUDIT_TERMS)?;
            // Term keys in key order: consecutive inserts then land in the same leaf, which
            // stays in cache, where a record's terms one after another each walk to another
            // part of the tree.
            let mut keys: Vec<Vec<u8>> = records
                .iter()
                .flat_map(|r| r.terms.iter().map(|t| term_key(t, &r.time, r.seq)))
                .collect();
            keys.sort_unstable();
            for r in &records {
                bodies.insert(r.seq, r.record.as_slice())?;
            }
            for key in &keys {
                terms.insert(key.as_slice(), ())?;
            }
            let mut settings = txn.open_table(SETTINGS)?;
            if newest > setting_u64(&settings, INDEXED_THROUGH)? {
                settings.insert(INDEXED_THROUGH, newest.to_be_bytes().as_slice())?;
            }
            if let Some((seq, bytes)) = &anchor {
                put_anchor(&mut settings, *seq, bytes)?;
            }
            Ok(())
        })
    }

    fn audit_indexed_through(&self, stream: &str) -> StoreResult<u64> {
        only_stream(stream)?;
        let txn = self.db.current()?.begin_read()?;
        setting_u64(&txn.open_table(SETTINGS)?, INDEXED_THROUGH)
    }

    fn scan_audit_index(&self, scan: &IndexScan<'_>) -> StoreResult<Vec<(IndexCursor, Vec<u8>)>> {
        let term_len = scan.term.bytes().filter(|b| *b != 0).count();
        let mut low = term_key(scan.term, scan.from.unwrap_or(""), 0);
        low.truncate(term_len + 1 + scan.from.map_or(0, str::len));
        // Just past every key of the term at time `to` (or at any time).
        let mut high = term_key(scan.term, scan.to.unwrap_or(""), 0);
        high.truncate(term_len + 1 + scan.to.map_or(0, str::len));
        high.push(if scan.to.is_some() { 1 } else { 0xff });
        if let Some((time, _, seq)) = scan.before {
            high = high.min(term_key(scan.term, time, *seq));
        }
        if low >= high {
            return Ok(Vec::new());
        }
        let txn = self.db.current()?.begin_read()?;
        let terms = txn.open_table(AUDIT_TERMS)?;
        let bodies = txn.open_table(AUDIT_RECORDS)?;
        let mut out = Vec::new();
        for entry in terms.range(low.as_slice()..high.as_slice())?.rev() {
            if out.len() >= scan.limit {
                break;
            }
            let (k, ()) = (entry?.0, ());
            let Some(place) = place(k.value(), term_len) else {
                return Err(StoreError::Corrupt("an audit index key".into()));
            };
            let Some(body) = bodies.get(place.2)? else {
                return Err(StoreError::Corrupt(format!(
                    "the audit index names record {} but does not hold it",
                    place.2
                )));
            };
            out.push((place, body.value().to_vec()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, RedbMetaStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap();
        (dir, s)
    }

    fn rec(seq: u64, time: &str, terms: &[&str]) -> IndexedRecord {
        IndexedRecord {
            seq,
            time: time.into(),
            terms: terms.iter().map(|t| (*t).to_owned()).collect(),
            record: format!("r{seq}").into_bytes(),
        }
    }

    fn bodies(found: Vec<(IndexCursor, Vec<u8>)>) -> Vec<String> {
        found
            .into_iter()
            .map(|(_, b)| String::from_utf8(b).unwrap())
            .collect()
    }

    #[test]
    fn a_scan_returns_one_term_newest_first_within_its_bounds_and_pages() {
        let (_d, s) = store();
        s.index_audit_records(
            "",
            vec![
                rec(1, "2026-01-01T00:00:00Z", &["*", "user=a"]),
                rec(2, "2026-01-01T00:00:01Z", &["*", "user=b"]),
                rec(3, "2026-01-01T00:00:01Z", &["*", "user=a"]),
                rec(4, "2026-01-02T00:00:00Z", &["*", "user=ab"]),
            ],
            Some((4, b"anchor-4".to_vec())),
        )
        .unwrap();
        // The anchor moves with the index, and only forward.
        assert_eq!(
            s.audit_anchor("").unwrap().as_deref(),
            Some(&b"anchor-4"[..])
        );
        s.save_audit_anchor("", 3, b"anchor-3").unwrap();
        assert_eq!(
            s.audit_anchor("").unwrap().as_deref(),
            Some(&b"anchor-4"[..])
        );
        s.save_audit_anchor("", 5, b"anchor-5").unwrap();
        assert_eq!(
            s.audit_anchor("").unwrap().as_deref(),
            Some(&b"anchor-5"[..])
        );
        assert_eq!(s.audit_indexed_through("").unwrap(), 4);
        let scan = |term, from, to, before, limit| {
            bodies(
                s.scan_audit_index(&IndexScan {
                    term,
                    from,
                    to,
                    before,
                    limit,
                })
                .unwrap(),
            )
        };
        assert_eq!(scan("user=a", None, None, None, 10), ["r3", "r1"]);
        assert_eq!(scan("*", None, None, None, 10), ["r4", "r3", "r2", "r1"]);
        let to = "2026-01-01T00:00:01Z";
        assert_eq!(scan("*", None, Some(to), None, 10), ["r3", "r2", "r1"]);
        assert_eq!(scan("*", Some(to), Some(to), None, 10), ["r3", "r2"]);
        assert_eq!(scan("*", None, None, None, 2), ["r4", "r3"]);
        let page = s
            .scan_audit_index(&IndexScan {
                term: "*",
                limit: 2,
                ..Default::default()
            })
            .unwrap();
        let after = page.last().unwrap().0.clone();
        assert_eq!(scan("*", None, None, Some(&after), 10), ["r2", "r1"]);
        assert!(scan("user=c", None, None, None, 10).is_empty());
    }

    #[test]
    fn a_kms_change_and_its_record_commit_together_and_the_outbox_drains() {
        let (_d, s) = store();
        s.commit_kms_change(
            vec![KmsWrite::Put {
                id: "key/1".into(),
                record: b"k".to_vec(),
                expected: None,
            }],
            "ev-1",
            b"record-1",
        )
        .unwrap();
        assert_eq!(
            crate::KeyStore::get_kms_key(&s, "key/1")
                .unwrap()
                .as_deref(),
            Some(&b"k"[..])
        );
        assert_eq!(
            s.audit_outbox().unwrap(),
            [("ev-1".into(), b"record-1".to_vec())]
        );
        s.clear_audit_outbox("ev-1").unwrap();
        assert!(s.audit_outbox().unwrap().is_empty());
    }
}
