//! What the metadata store keeps for the audit trail: the outbox that commits a KMS change
//! together with its record, and the index that answers lookups in time proportional to the
//! result.
//!
//! The trail's files stay the authority (chained, anchored, signed); the index holds a copy
//! of each record for lookups and can be rebuilt from them, so it is written without delaying
//! any acknowledgement.

use crate::error::StoreResult;

/// One write to the KMS's records (keys, aliases), by record id, made only if the record is
/// still at the version the writer read (`expected`; `None`: no record). See
/// [`crate::MetaStore::write_kms_records`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsWrite {
    Put {
        id: String,
        record: Vec<u8>,
        expected: Option<u64>,
    },
    Delete {
        id: String,
        expected: Option<u64>,
    },
}

impl KmsWrite {
    /// The record the write is for.
    pub fn id(&self) -> &str {
        match self {
            KmsWrite::Put { id, .. } | KmsWrite::Delete { id, .. } => id,
        }
    }

    /// The version the write expects to find (`None`: no record).
    pub fn expected(&self) -> Option<u64> {
        match self {
            KmsWrite::Put { expected, .. } | KmsWrite::Delete { expected, .. } => *expected,
        }
    }
}

/// A record to index: its place in the chain, its time (RFC 3339, seconds, UTC: sorts as
/// it reads) and the terms it is found by (`user=alice`, `event=Decrypt`, …).
#[derive(Debug, Clone)]
pub struct IndexedRecord {
    pub seq: u64,
    pub time: String,
    pub terms: Vec<String>,
    pub record: Vec<u8>,
}

/// A place in the index, newest first: (time, stream, seq). The stream is the chain a record
/// belongs to (a gateway's id; `""` for the embedded trail's only one).
pub type IndexCursor = (String, String, u64);

/// A range of the index to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct IndexScan<'a> {
    pub term: &'a str,
    /// Inclusive RFC 3339 bounds.
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    /// Only records strictly older than this place (the previous page's last).
    pub before: Option<&'a IndexCursor>,
    pub limit: usize,
}

pub trait AuditStore: Send + Sync {
    /// Applies `writes` and keeps `record` in the audit outbox under `record_id`, in one
    /// commit: a crash leaves both or neither. If a write does not find the version it
    /// expects, nothing is written and the call fails with `KmsConflict`. The record leaves the outbox once the trail
    /// holds it ([`AuditStore::clear_audit_outbox`]).
    fn commit_kms_change(
        &self,
        writes: Vec<KmsWrite>,
        record_id: &str,
        record: &[u8],
    ) -> StoreResult<()>;
    /// Keeps the anchor of `stream`'s chain (its newest link, authenticated by the audit
    /// layer) for position `seq`, unless a newer one is kept already: an anchor only moves
    /// forward.
    fn save_audit_anchor(&self, stream: &str, seq: u64, anchor: &[u8]) -> StoreResult<()>;
    fn audit_anchor(&self, stream: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Every stream's anchor: what a verification of the whole trail must meet.
    fn audit_anchors(&self) -> StoreResult<Vec<Vec<u8>>>;

    /// Records committed with a change that the trail may not hold yet, in commit order.
    fn audit_outbox(&self) -> StoreResult<Vec<(String, Vec<u8>)>>;
    fn clear_audit_outbox(&self, record_id: &str) -> StoreResult<()>;

    /// Adds records of `stream` to the index, and marks it as holding every record of that
    /// stream through the highest `seq` given: the caller gives no batch past a gap. With
    /// `anchor`, the stream's anchor moves to it in the same commit.
    fn index_audit_records(
        &self,
        stream: &str,
        records: Vec<IndexedRecord>,
        anchor: Option<(u64, Vec<u8>)>,
    ) -> StoreResult<()>;
    /// The highest `seq` of `stream` indexed (0 when none).
    fn audit_indexed_through(&self, stream: &str) -> StoreResult<u64>;
    /// Records carrying `scan.term`, of every stream, newest first, each with its place.
    fn scan_audit_index(&self, scan: &IndexScan<'_>) -> StoreResult<Vec<(IndexCursor, Vec<u8>)>>;
}
