//! [`JournalStore`] over `journal.jsonl` in the trail's folder: what every trail used before
//! there was a trait, byte for byte and fsync for fsync. A cut renames the journal to
//! `journal.rolling` (and starts a new one), and removes it once its log file is durable.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::{AuditError, AuditResult};
use crate::journal_store::{CutToken, JournalStore};
use crate::layout::{JOURNAL, ROLLING};
use crate::local_files::sync_dir;

/// The live journal as a file under the trail's folder, appended with one write and one
/// fsync per batch.
pub struct LocalJournal {
    root: PathBuf,
    /// The journal open for appending, once [`JournalStore::open`] ran: only the writer
    /// appends, but readers share the store, so the handle sits behind a lock.
    live: Mutex<Option<Live>>,
}

/// The open journal and its length, kept rather than asked of the file system before each
/// append (a `statx` per record).
struct Live {
    file: File,
    len: u64,
}

impl LocalJournal {
    /// The journal under `root` (`<data>/audit`); nothing is opened or created until
    /// [`JournalStore::open`], so readers (a verification of an idle directory) change nothing.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            live: Mutex::new(None),
        }
    }

    fn live(&self) -> MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open_journal(&self) -> AuditResult<Live> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(self.root.join(JOURNAL))
            .map_err(|e| AuditError::io("cannot open the audit journal", e))?;
        let len = file
            .metadata()
            .map_err(|e| AuditError::io("cannot open the audit journal", e))?
            .len();
        Ok(Live { file, len })
    }
}

/// Cuts a journal back to its last complete line. A torn line is a crash mid-append, never
/// acknowledged; left in place, the next record would be glued to it and lost.
fn drop_torn_tail(path: &Path) -> AuditResult<()> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(AuditError::io("audit journal", e)),
    };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| AuditError::io("audit journal", e))?;
    f.set_len(keep as u64)
        .and_then(|()| f.sync_all())
        .map_err(|e| AuditError::io("audit journal", e))?;
    tracing::warn!(
        dropped = bytes.len() - keep,
        "dropped a torn, unacknowledged record at the end of the audit journal"
    );
    Ok(())
}

/// A missing file reads as nothing, as the journal before its first record.
fn read_or_none(path: &Path, what: &str) -> AuditResult<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AuditError::io(what, e)),
    }
}

impl JournalStore for LocalJournal {
    fn open(&self) -> AuditResult<()> {
        drop_torn_tail(&self.root.join(JOURNAL))?;
        *self.live() = Some(self.open_journal()?);
        Ok(())
    }

    fn append(&self, _first: u64, lines: &[u8]) -> AuditResult<()> {
        let mut live = self.live();
        let journal = live.as_mut().ok_or_else(|| {
            AuditError::io(
                "audit journal write failed",
                std::io::Error::other("the journal is not open"),
            )
        })?;
        let result = coffer_faults::io_step("audit.append.write")
            .and_then(|()| journal.file.write_all(lines))
            .and_then(|()| coffer_faults::io_step("audit.append.fsync"))
            .and_then(|()| journal.file.sync_data());
        if let Err(e) = result {
            // A partial write would glue the next batch's first record to its fragment:
            // take the fragment back so later acknowledged records stay whole.
            let _ = journal.file.set_len(journal.len);
            if let Ok(m) = journal.file.metadata() {
                journal.len = m.len();
            }
            return Err(AuditError::io("audit journal write failed", e));
        }
        journal.len += lines.len() as u64;
        Ok(())
    }

    fn read(&self) -> AuditResult<Vec<u8>> {
        Ok(read_or_none(&self.root.join(JOURNAL), "audit journal")?.unwrap_or_default())
    }

    fn take_for_cut(&self) -> AuditResult<Option<CutToken>> {
        let journal = self.root.join(JOURNAL);
        let len = std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0);
        if len == 0 {
            return Ok(None);
        }
        // Renamed aside, not copied: appends after this go to a new file, and a crash
        // leaves either the journal or the rolling file, never records in neither.
        std::fs::rename(&journal, self.root.join(ROLLING))
            .map_err(|e| AuditError::io(ROLLING, e))?;
        *self.live() = Some(self.open_journal()?);
        sync_dir(&self.root).map_err(|e| AuditError::io("the audit folder", e))?;
        Ok(Some(CutToken::new(ROLLING)))
    }

    fn unfinished_cut(&self) -> AuditResult<Option<CutToken>> {
        Ok(self
            .root
            .join(ROLLING)
            .exists()
            .then(|| CutToken::new(ROLLING)))
    }

    fn cut_records(&self, _cut: &CutToken) -> AuditResult<Box<dyn BufRead + Send + '_>> {
        // One cut at a time, always in the rolling file: the token carries nothing more.
        let path = self.root.join(ROLLING);
        let input = File::open(&path).map_err(|e| AuditError::io(path.display().to_string(), e))?;
        Ok(Box::new(BufReader::with_capacity(1 << 16, input)))
    }

    fn read_unfinished_cut(&self) -> AuditResult<Option<Vec<u8>>> {
        read_or_none(&self.root.join(ROLLING), ROLLING)
    }

    fn finish_cut(&self, _cut: CutToken) -> AuditResult<()> {
        std::fs::remove_file(self.root.join(ROLLING)).map_err(|e| AuditError::io(ROLLING, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_cut_moves_the_records_aside_and_the_journal_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let journal = LocalJournal::new(dir.path());
        std::fs::write(dir.path().join(JOURNAL), b"{\"n\":1}\n{\"n\":").unwrap();
        journal.open().unwrap();
        assert_eq!(
            journal.read().unwrap(),
            b"{\"n\":1}\n",
            "the torn tail is dropped"
        );
        journal.append(0, b"{\"n\":2}\n").unwrap();
        let cut = journal.take_for_cut().unwrap().unwrap();
        assert_eq!(journal.unfinished_cut().unwrap(), Some(cut.clone()));
        journal.append(0, b"{\"n\":3}\n").unwrap();
        let mut taken = Vec::new();
        journal
            .cut_records(&cut)
            .unwrap()
            .read_to_end(&mut taken)
            .unwrap();
        assert_eq!(taken, b"{\"n\":1}\n{\"n\":2}\n");
        assert_eq!(journal.read_unfinished_cut().unwrap().unwrap(), taken);
        journal.finish_cut(cut).unwrap();
        assert_eq!(journal.unfinished_cut().unwrap(), None);
        assert_eq!(journal.read().unwrap(), b"{\"n\":3}\n");
        let cut = journal.take_for_cut().unwrap().unwrap();
        journal.finish_cut(cut).unwrap();
        assert_eq!(journal.take_for_cut().unwrap(), None, "an empty journal");
    }
}
