//! The embedded database, reopened after an I/O error.
//!
//! After one failed write (a full or failing disk), redb refuses every later transaction
//! (`PreviousIo`) until the database is closed and opened again. Without a reopen the server
//! would answer 500 to every write for the rest of its life although the disk came back;
//! reopening recovers the last committed state, as after a crash.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, DatabaseError, StorageError, TransactionError};

use crate::error::{StoreError, StoreResult};

/// How long a reopen waits for readers still holding the old database.
const REOPEN_PATIENCE: Duration = Duration::from_secs(5);

pub(crate) struct ReopeningDatabase {
    path: PathBuf,
    /// `None` only while a reopen failed; every use then tries again.
    db: RwLock<Option<Arc<Database>>>,
}

impl ReopeningDatabase {
    pub(crate) fn new(path: &Path, db: Database) -> Self {
        Self {
            path: path.to_owned(),
            db: RwLock::new(Some(Arc::new(db))),
        }
    }

    /// The database as it is now open. Hold it only for one transaction.
    pub(crate) fn current(&self) -> StoreResult<Arc<Database>> {
        if let Some(db) = self.db.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Ok(db.clone());
        }
        self.reopen()?;
        self.current()
    }

    /// After a failed write: reopens the database if redb now refuses it. Returns whether it
    /// was reopened.
    pub(crate) fn recover_if_poisoned(&self) -> StoreResult<bool> {
        let db = self.current()?;
        match db.begin_write() {
            Err(TransactionError::Storage(StorageError::PreviousIo)) => {
                drop(db);
                self.reopen()?;
                Ok(true)
            }
            // A transaction begun only to probe is dropped: it aborts and writes nothing.
            _ => Ok(false),
        }
    }

    fn reopen(&self) -> StoreResult<()> {
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        // Close ours; readers still in a transaction keep the file open until they finish.
        slot.take();
        let deadline = Instant::now() + REOPEN_PATIENCE;
        loop {
            match Database::create(&self.path) {
                Ok(db) => {
                    tracing::warn!(path = %self.path.display(), "reopened the metadata database after an I/O error");
                    *slot = Some(Arc::new(db));
                    return Ok(());
                }
                Err(DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot reopen the metadata database");
                    return Err(StoreError::from(e));
                }
            }
        }
    }
}
