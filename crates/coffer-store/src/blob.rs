//! The `BlobStore` seam: sealed segments under random ids, written once through a writer
//! that commits them whole, read by ranges, listed page by page, deleted idempotently.

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;

/// Names one blob. Random, so two writers never collide and a name reveals nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlobId(String);

impl BlobId {
    pub fn random() -> Self {
        BlobId(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Accepts only the shape [`BlobId::random`] produces, so a name read from a listing or
    /// a record can never become a path (or an object key) outside the blob store's place.
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

/// Where sealed bytes live: local files, or any object store. Blobs are written once, read
/// by range, and deleted; nothing here knows what they hold.
///
/// The methods are async so that a network backend waits without holding a thread. Callers
/// that stream through CPU work (sealing, opening) drive them from their blocking thread with
/// `Handle::block_on`; the embedded backend runs its file I/O in place there.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Starts a new blob. Nothing is visible under its id until [`BlobWriter::commit`].
    async fn create(&self) -> StoreResult<Box<dyn BlobWriter>>;
    /// Opens a blob the caller's record says holds `len` bytes (the size comes from
    /// metadata, never from asking the store): `NoSuchBlob` if it is gone, `Corrupt` if it
    /// holds another number of bytes (checked here when that costs nothing, else by the
    /// first read that comes up short).
    async fn open(&self, id: &BlobId, len: u64) -> StoreResult<Box<dyn BlobReader>>;
    /// Removes a blob; a missing blob is not an error (deletion is idempotent).
    async fn delete(&self, id: &BlobId) -> StoreResult<()>;
    /// Up to `limit` committed blobs whose ids come after `after`, in id order, each with
    /// the time it was written: one page of a walk over the whole store for garbage
    /// collection, which never holds more than a page. A page shorter than `limit` is the last.
    async fn list_page(&self, after: Option<&BlobId>, limit: usize)
    -> StoreResult<Vec<ListedBlob>>;
    /// Removes unfinished writes left by a crash. Call only when no writer is active.
    async fn clear_unfinished(&self) -> StoreResult<usize>;
}

/// A committed blob as a listing reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBlob {
    pub id: BlobId,
    /// When the blob was written: garbage collection spares blobs younger than its grace
    /// period, whose records may still be on their way.
    pub created: SystemTime,
}

#[async_trait]
pub trait BlobWriter: Send {
    /// The id the blob will have once committed (known from the start, so a write intent
    /// can name it before the blob exists).
    fn id(&self) -> &BlobId;
    /// Appends bytes. Callers hand over large pieces (about a MiB): a network backend may
    /// send each as it comes, or gather them into its store's multipart parts.
    async fn write(&mut self, data: Bytes) -> StoreResult<()>;
    /// Makes the blob durable and visible and returns its id. Dropping a writer without
    /// committing discards what it wrote (at once where it can, else at the next
    /// [`BlobStore::clear_unfinished`] or the store's own clean-up).
    async fn commit(self: Box<Self>) -> StoreResult<BlobId>;
}

#[async_trait]
pub trait BlobReader: Send {
    /// `len` bytes from `offset`; a read that would pass the end of the blob is `Corrupt`
    /// (a truncated blob is an error, never fewer bytes). The bytes are the caller's alone
    /// (no other `Bytes` shares their memory), so it can open sealed segments in place
    /// (`Bytes::try_into_mut`) without another copy.
    async fn read_at(&mut self, offset: u64, len: usize) -> StoreResult<Bytes>;

    /// Tells the reader that its caller will now read `range` in order, `chunk` bytes per
    /// `read_at` (the last one shorter). A store across a network may then fetch the next
    /// chunks while the caller works on this one; a local one has no latency to hide.
    fn will_read(&mut self, range: std::ops::Range<u64>, chunk: usize) {
        let _ = (range, chunk);
    }
}
