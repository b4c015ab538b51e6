use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;
use std::time::SystemTime;

/// Names one blob. Random, so two writers never collide and a name reveals nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlobId(String);

impl BlobId {
    pub fn random() -> Self {
        BlobId(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Accepts only the shape [`BlobId::random`] produces, so a name read from disk or a
    /// record can never become a path outside the blob folder.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .then(|| BlobId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where object bytes live. Implementations are synchronous: callers run them on blocking
/// threads, which is where file I/O belongs anyway.
pub trait BlobStore: Send + Sync + 'static {
    /// Starts a new blob. Nothing is visible under its id until [`BlobWriter::commit`].
    fn create(&self) -> io::Result<Box<dyn BlobWriter>>;
    fn open(&self, id: &BlobId) -> io::Result<Box<dyn BlobReader>>;
    /// Removes a blob; a missing blob is not an error (deletion is idempotent).
    fn delete(&self, id: &BlobId) -> io::Result<()>;
    /// Up to `limit` committed blobs whose ids come after `after`, in id order, each with
    /// the time it was written: one page of a walk over the whole store for garbage
    /// collection, which never holds more than a page. A page shorter than `limit` is the last.
    fn list_page(&self, after: Option<&BlobId>, limit: usize) -> io::Result<Vec<ListedBlob>>;
    /// Removes unfinished writes left by a crash. Call only when no writer is active.
    fn clear_unfinished(&self) -> io::Result<usize>;
}

/// A committed blob as a listing reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBlob {
    pub id: BlobId,
    /// When the blob was written (a file's modification time): garbage collection spares
    /// blobs younger than its grace period, whose records may still be on their way.
    pub created: SystemTime,
}

pub trait BlobWriter: Send {
    /// The id the blob will have once committed (known from the start, so a write intent
    /// can name it before the blob exists).
    fn id(&self) -> &BlobId;
    fn write_all(&mut self, data: &[u8]) -> io::Result<()>;
    /// Makes the blob durable (data and directory entry) and returns its id. Dropping a writer
    /// without committing discards what it wrote.
    fn commit(self: Box<Self>) -> io::Result<BlobId>;
}

pub trait BlobReader: Send {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from `offset`; fails on a short read (a truncated blob is an error, never
    /// fewer bytes).
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}
