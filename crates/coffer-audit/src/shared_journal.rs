//! [`JournalStore`] over a store that several gateways share ([`AuditJournalStore`]): this
//! gateway appends its own stream; a cut (by whichever gateway seals the trail) takes every
//! stream's records up to their newest at that moment.
//!
//! A cut's token is the bound it took for each stream (`{"gw-a": 12, "gw-b": 7}`), kept as
//! a file of the trail while the cut is unfinished: a sealer that dies mid-cut leaves it for
//! the next sealer, whichever gateway that is, to finish. Setting it is a compare-and-swap,
//! so two sealers racing take the same cut and write the same log file.

use std::collections::BTreeMap;
use std::io::{BufRead, Cursor};
use std::sync::Arc;

use coffer_store::{AuditJournalStore, StreamLine};

use crate::error::{AuditError, AuditResult};
use crate::journal_store::{CutToken, JournalStore};
use crate::trail_files::TrailFiles;

/// The trail file that holds an unfinished cut's bounds.
pub(crate) const PENDING_CUT: &str = "journal-cut.json";

/// One gateway's view of the shared journal.
pub struct SharedJournal {
    store: Arc<dyn AuditJournalStore>,
    /// Where the unfinished cut is kept: the trail's files, shared by every gateway.
    files: Arc<dyn TrailFiles>,
    stream: String,
}

impl SharedJournal {
    pub fn new(
        store: Arc<dyn AuditJournalStore>,
        files: Arc<dyn TrailFiles>,
        stream: impl Into<String>,
    ) -> Self {
        Self {
            store,
            files,
            stream: stream.into(),
        }
    }

    fn bounds(cut: &CutToken) -> AuditResult<Vec<(String, u64)>> {
        let map: BTreeMap<String, u64> = serde_json::from_str(cut.as_str())
            .map_err(|e| AuditError::malformed(PENDING_CUT, e))?;
        Ok(map.into_iter().collect())
    }

    /// The file as it is (missing, or empty once its cut finished), and the cut it holds.
    fn pending_file(&self) -> AuditResult<(Option<Vec<u8>>, Option<CutToken>)> {
        let bytes = self
            .files
            .read(PENDING_CUT)
            .map_err(|e| AuditError::io(PENDING_CUT, e))?;
        let cut = bytes
            .as_ref()
            .filter(|b| !b.is_empty())
            .map(|b| CutToken::new(String::from_utf8_lossy(b).into_owned()));
        Ok((bytes, cut))
    }

    fn pending(&self) -> AuditResult<Option<CutToken>> {
        Ok(self.pending_file()?.1)
    }

    fn lines_of(&self, cut: &CutToken) -> AuditResult<Vec<u8>> {
        let bounds = Self::bounds(cut)?;
        Ok(joined(self.store.audit_journal(None, Some(&bounds))?))
    }
}

/// Lines as a journal holds them: each record, then `\n`.
fn joined(lines: Vec<StreamLine>) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.iter().map(|l| l.2.len() + 1).sum());
    for (_, _, line) in lines {
        out.extend_from_slice(&line);
        out.push(b'\n');
    }
    out
}

impl JournalStore for SharedJournal {
    fn open(&self) -> AuditResult<()> {
        // Rows are whole or absent: there is no torn line to drop.
        Ok(())
    }

    fn append(&self, first: u64, lines: &[u8]) -> AuditResult<()> {
        let rows: Vec<&[u8]> = lines
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        Ok(self.store.append_audit_lines(&self.stream, first, &rows)?)
    }

    /// Every stream's records not taken by an unfinished cut (those are read through
    /// [`JournalStore::read_unfinished_cut`]): as a verification walks them, once each.
    fn read(&self) -> AuditResult<Vec<u8>> {
        let taken: BTreeMap<String, u64> = match self.pending()? {
            Some(cut) => Self::bounds(&cut)?.into_iter().collect(),
            None => BTreeMap::new(),
        };
        let lines = self.store.audit_journal(None, None)?;
        Ok(joined(
            lines
                .into_iter()
                .filter(|(stream, seq, _)| taken.get(stream).is_none_or(|t| seq > t))
                .collect(),
        ))
    }

    fn take_for_cut(&self) -> AuditResult<Option<CutToken>> {
        let (file, pending) = self.pending_file()?;
        if let Some(cut) = pending {
            return Ok(Some(cut));
        }
        let heads: BTreeMap<String, u64> = self.store.audit_journal_heads()?.into_iter().collect();
        if heads.is_empty() {
            return Ok(None);
        }
        let token =
            serde_json::to_string(&heads).map_err(|e| AuditError::malformed(PENDING_CUT, e))?;
        let set = self
            .files
            .swap(PENDING_CUT, file.as_deref(), token.as_bytes())
            .map_err(|e| AuditError::io(PENDING_CUT, e))?;
        if set {
            Ok(Some(CutToken::new(token)))
        } else {
            // Another sealer set one first: finish that one.
            self.pending()
        }
    }

    fn unfinished_cut(&self) -> AuditResult<Option<CutToken>> {
        self.pending()
    }

    fn cut_records(&self, cut: &CutToken) -> AuditResult<Box<dyn BufRead + Send + '_>> {
        Ok(Box::new(Cursor::new(self.lines_of(cut)?)))
    }

    fn read_unfinished_cut(&self) -> AuditResult<Option<Vec<u8>>> {
        match self.pending()? {
            Some(cut) => self.lines_of(&cut).map(Some),
            None => Ok(None),
        }
    }

    fn finish_cut(&self, cut: CutToken) -> AuditResult<()> {
        self.store.forget_audit_journal(&Self::bounds(&cut)?)?;
        // Emptied only if it still holds this cut: a later one (set after another sealer
        // finished this cut) stays.
        self.files
            .swap(PENDING_CUT, Some(cut.as_str().as_bytes()), b"")
            .map(|_| ())
            .map_err(|e| AuditError::io(PENDING_CUT, e))
    }
}
