//! The trail's named files behind a trait, so that they can live in an object store instead
//! of the data directory: log files and digests (written once, in CloudTrail's folder layout),
//! and the small files rewritten in place (`digest-state.json`, `head.json`, the anchor, the
//! published public key).
//!
//! Names are paths relative to the trail's root with `/` between folders
//! (`AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/….json.gz`, `head.json`): the same
//! names the trail's messages use, and what an object store would use as keys.

use std::io::{self, Write};

/// A new file being written before its name is known: a log file is named by the hash of
/// its content, which is known only once the content is written.
///
/// An object store can buffer it (or write it under a temporary key) and put it under its
/// name on [`commit`](Self::commit).
pub trait StagedFile: Write + Send {
    /// Makes what was written durable where it is staged (the local file: fsync).
    fn finish(&mut self) -> io::Result<()>;

    /// Publishes it under `name`, durably, replacing a file of that name.
    fn commit(self: Box<Self>, name: &str) -> io::Result<()>;

    /// Drops it: a file with the same content is already in the trail, or it is empty.
    fn discard(self: Box<Self>) -> io::Result<()>;
}

/// The trail's files, by name.
///
/// A backend must guarantee:
/// - **Durability before return.** A write returns `Ok` only once the file survives a crash
///   or power loss under its name: the trail's state names log files and digests only after
///   they are written.
/// - **Atomic replacement.** A reader sees a file's old content or its new content, whole,
///   never a mix or a prefix; a crash mid-write leaves the old content.
/// - **Private.** The trail names users, keys and objects: readable by the server only (the
///   local files: 0600 files, 0700 folders).
/// - **Listing in name order**, so that log files and digests come out in the order the
///   trail names them (their names sort by time, then sequence).
/// - Reads of a missing file answer `Ok(None)`, not an error: a missing file is something
///   the verification reports, not a failure to read.
pub trait TrailFiles: Send + Sync {
    /// The file's content, or `None` when there is no such file.
    fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>>;

    fn exists(&self, name: &str) -> io::Result<bool>;

    /// Replaces the file's content atomically and durably (the small files the trail
    /// rewrites: its state, its head, the anchor, the public key).
    fn write_durably(&self, name: &str, bytes: &[u8]) -> io::Result<()>;

    /// Replaces the file's content atomically and durably only if it still is `expected`
    /// (`None`: only if there is no such file); says whether it did. The trail's state
    /// changes this way, so that two sealers (a stale one and its successor) cannot fork it.
    fn swap(&self, name: &str, expected: Option<&[u8]>, bytes: &[u8]) -> io::Result<bool>;

    /// Writes a file that is written once (a digest, its signature). Writing the same name
    /// again (a digest retried after a crash) replaces it, atomically and durably.
    fn put_new(&self, name: &str, bytes: &[u8]) -> io::Result<()>;

    /// Starts a file whose name is known only once it is written; `scratch` names where it
    /// may be staged (a name of the trail's own, never listed).
    fn stage(&self, scratch: &str) -> io::Result<Box<dyn StagedFile>>;

    /// Every file under the folder `prefix` (ending in `/`) whose name ends with `suffix`,
    /// at any depth, sorted by name.
    fn list(&self, prefix: &str, suffix: &str) -> io::Result<Vec<String>>;

    /// Removes a file; removing a missing file is not an error.
    fn remove(&self, name: &str) -> io::Result<()>;
}
