//! [`TrailFiles`] over stores several gateways share ([`AuditFileStore`]): the log files and
//! digests (written once, and the bulk of the trail) in one store, an object store in a
//! shared setup; the small files the trail rewrites (its state, by compare-and-swap; its
//! head, the anchors) in another, the database.

use std::io::{self, Write};
use std::sync::Arc;

use coffer_store::AuditFileStore;

use crate::trail_files::{StagedFile, TrailFiles};

/// Where the log files and digests are: every name under it goes to the bulk store.
const BULK_PREFIX: &str = "AWSLogs/";

/// The trail's files, split by kind between two stores (they may be the same one).
pub struct StoreTrailFiles {
    /// Log files and digests.
    bulk: Arc<dyn AuditFileStore>,
    /// Everything else: small, rewritten in place.
    small: Arc<dyn AuditFileStore>,
}

impl StoreTrailFiles {
    pub fn new(bulk: Arc<dyn AuditFileStore>, small: Arc<dyn AuditFileStore>) -> Self {
        Self { bulk, small }
    }

    fn store(&self, name: &str) -> &dyn AuditFileStore {
        if name.starts_with(BULK_PREFIX) {
            self.bulk.as_ref()
        } else {
            self.small.as_ref()
        }
    }
}

fn io_error(e: coffer_store::StoreError) -> io::Error {
    io::Error::other(e.to_string())
}

/// A log file staged in memory until its name is known (a cut is bounded by the cadence).
struct Staged {
    bytes: Vec<u8>,
    bulk: Arc<dyn AuditFileStore>,
}

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StagedFile for Staged {
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn commit(self: Box<Self>, name: &str) -> io::Result<()> {
        self.bulk
            .put_audit_file(name, &self.bytes)
            .map_err(io_error)
    }

    fn discard(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

impl TrailFiles for StoreTrailFiles {
    fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        self.store(name).audit_file(name).map_err(io_error)
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        self.read(name).map(|b| b.is_some())
    }

    fn write_durably(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.store(name)
            .put_audit_file(name, bytes)
            .map_err(io_error)
    }

    fn swap(&self, name: &str, expected: Option<&[u8]>, bytes: &[u8]) -> io::Result<bool> {
        self.store(name)
            .swap_audit_file(name, expected, bytes)
            .map_err(io_error)
    }

    fn put_new(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.write_durably(name, bytes)
    }

    fn stage(&self, _scratch: &str) -> io::Result<Box<dyn StagedFile>> {
        Ok(Box::new(Staged {
            bytes: Vec::new(),
            bulk: self.bulk.clone(),
        }))
    }

    fn list(&self, prefix: &str, suffix: &str) -> io::Result<Vec<String>> {
        self.store(prefix)
            .list_audit_files(prefix, suffix)
            .map_err(io_error)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.store(name).remove_audit_file(name).map_err(io_error)
    }
}
