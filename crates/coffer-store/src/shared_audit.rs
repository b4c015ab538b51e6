//! What a store shared by several gateways keeps for their one audit trail: each gateway's
//! live journal (its stream of records, keyed by stream and position so that no gateway waits
//! for another's appends), and the trail's named files.
//!
//! The audit layer (`coffer-audit`) owns the format and the chain; these traits only keep
//! bytes, durably, with the guarantees the trail's own traits (`JournalStore`, `TrailFiles`)
//! spell out.

use crate::error::StoreResult;

/// One line of a stream: (stream, position, the record's bytes without the newline).
pub type StreamLine = (String, u64, Vec<u8>);

/// The live journal of every gateway's stream.
pub trait AuditJournalStore: Send + Sync {
    /// Keeps `lines` as `stream`'s records `first`, `first + 1`, …, durably before it
    /// returns, in one commit. Appending a position again (a retried commit) keeps the first.
    fn append_audit_lines(&self, stream: &str, first: u64, lines: &[&[u8]]) -> StoreResult<()>;

    /// The records held, ordered by stream then position: of `stream` only, or of every
    /// stream; with `through`, only records at or below the position given for their stream
    /// (streams not named are left out).
    fn audit_journal(
        &self,
        stream: Option<&str>,
        through: Option<&[(String, u64)]>,
    ) -> StoreResult<Vec<StreamLine>>;

    /// Each stream's newest position held.
    fn audit_journal_heads(&self) -> StoreResult<Vec<(String, u64)>>;

    /// Forgets each stream's records at or below the position given, in one commit.
    fn forget_audit_journal(&self, through: &[(String, u64)]) -> StoreResult<()>;
}

/// The trail's named files (`AWSLogs/…/x.json.gz`, `digest-state.json`, …), kept by name.
pub trait AuditFileStore: Send + Sync {
    fn audit_file(&self, name: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Writes `name`, replacing it, atomically and durably.
    fn put_audit_file(&self, name: &str, bytes: &[u8]) -> StoreResult<()>;

    /// Writes `name` only if it still holds `expected` (`None`: only if there is no such
    /// file); says whether it did. What keeps two sealers from forking the trail's state.
    fn swap_audit_file(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        bytes: &[u8],
    ) -> StoreResult<bool>;

    /// Names under `prefix` ending with `suffix`, in byte order.
    fn list_audit_files(&self, prefix: &str, suffix: &str) -> StoreResult<Vec<String>>;

    /// Removing a missing file is not an error.
    fn remove_audit_file(&self, name: &str) -> StoreResult<()>;
}
