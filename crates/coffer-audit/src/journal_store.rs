//! The live journal behind a trait, so that it can live somewhere other than one file in the
//! data directory (a database table shared by several gateways, each appending records keyed
//! by its id and their position).
//!
//! The journal holds records that are durable but not yet in a log file. The writer appends
//! to it, reads it back to recover the chain's head, and hands its records over to a log file
//! in a cut. A cut is two-phase, because the log file is written between the phases and a
//! crash may come at any point: [`JournalStore::take_for_cut`] sets the records aside (new
//! appends go to a fresh journal), and [`JournalStore::finish_cut`] forgets them once their
//! log file is durable. A cut taken and not finished is found again after a restart
//! ([`JournalStore::unfinished_cut`]) and finished then; log files are named by their content,
//! so finishing it twice writes the same file once.

use std::io::BufRead;

use crate::error::AuditResult;

/// Names the records a cut set aside, for the store that set them aside: what it needs to
/// read them and then to forget exactly them (for a database, say, the highest position taken;
/// for the local journal, the file they were moved to). Opaque to the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutToken(String);

impl CutToken {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The live audit journal: complete records, one JSON line each (`\n`-terminated), in the
/// order they were appended.
///
/// A backend must guarantee:
/// - **Durability before return.** [`append`](Self::append) returns `Ok` only once every line
///   of the batch survives a crash or power loss: the caller acknowledges the audited request
///   on that answer. A batch that fails leaves no fragment behind that later lines would be
///   glued to (whole lines of it may remain: they were never acknowledged, and the chain
///   still verifies over them).
/// - **Order.** Reads return lines in append order; a batch is never interleaved with another.
/// - **One writer per journal.** Only the trail's writer thread appends and cuts; reads
///   (verification, lookups) may run at any time from other threads and must see whole lines
///   (a torn last line is tolerated by readers and skipped).
/// - **Cuts lose nothing.** Records set aside by [`take_for_cut`](Self::take_for_cut) stay
///   readable ([`cut_records`](Self::cut_records), [`read_unfinished_cut`](Self::read_unfinished_cut))
///   until [`finish_cut`](Self::finish_cut), across restarts.
pub trait JournalStore: Send + Sync {
    /// Readies the journal for appending, called once by the writer before anything else:
    /// drops a torn last line (a crash mid-append, never acknowledged; left in place, the
    /// next record would be glued to it and lost).
    fn open(&self) -> AuditResult<()>;

    /// Appends `lines` (complete lines, each ending in `\n`), returning once they are durable.
    /// `first` is the first line's position in the chain, and the lines after it follow one
    /// by one: a table keys its rows by it (with the gateway's id), a file needs only the order.
    fn append(&self, first: u64, lines: &[u8]) -> AuditResult<()>;

    /// The whole live journal (empty when there is none).
    fn read(&self) -> AuditResult<Vec<u8>>;

    /// Sets the live journal's records aside for a cut and starts a fresh journal, durably;
    /// `None` (and nothing changes) when the journal is empty.
    fn take_for_cut(&self) -> AuditResult<Option<CutToken>>;

    /// A cut taken and not finished (a crash or a failure came between the two phases).
    fn unfinished_cut(&self) -> AuditResult<Option<CutToken>>;

    /// The records `cut` set aside, streamed: a cut's memory should not grow with the journal.
    fn cut_records(&self, cut: &CutToken) -> AuditResult<Box<dyn BufRead + Send + '_>>;

    /// The records of an unfinished cut, whole, for readers that are not the writer
    /// (verification, lookups); `None` when there is no unfinished cut.
    fn read_unfinished_cut(&self) -> AuditResult<Option<Vec<u8>>>;

    /// Forgets the records `cut` set aside: called once their log file is durable.
    fn finish_cut(&self, cut: CutToken) -> AuditResult<()>;
}
