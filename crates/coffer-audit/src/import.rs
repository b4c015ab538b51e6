//! Moving an embedded trail (`<data>/audit`) into the stores several gateways share, as a
//! migration to a shared metadata store does: every file under its own name, and the journal's
//! records into the shared journal as the unnamed stream they were written in. Nothing is
//! re-signed or re-chained, so the moved trail verifies with the same keys; running it again
//! writes the same files and skips the records already there.

use coffer_store::AuditJournalStore;
use serde_json::Value;

use crate::chain::{CHAIN_MEMBER, Link};
use crate::error::{AuditError, AuditResult};
use crate::journal_store::JournalStore;
use crate::layout::{JOURNAL, Layout, ROLLING};
use crate::local_files::LocalTrailFiles;
use crate::local_journal::LocalJournal;
use crate::trail_files::TrailFiles;

/// What stays behind: the journals (moved as records) and the sealed signing key (a secret,
/// moved by the caller into the store's secrets).
fn stays(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    name == JOURNAL || name == ROLLING || base.starts_with('.') || base.ends_with(".sealed")
}

/// Copies the trail under `layout.root` into `journal` and `files`; returns how many files
/// and records it copied.
pub fn import_local(
    layout: &Layout,
    journal: &dyn AuditJournalStore,
    files: &dyn TrailFiles,
) -> AuditResult<(usize, usize)> {
    if !layout.root.exists() {
        return Ok((0, 0));
    }
    let local = LocalTrailFiles::new(&layout.root);
    let mut copied_files = 0;
    for name in local
        .list("", "")
        .map_err(|e| AuditError::io("the audit folder", e))?
    {
        if stays(&name) {
            continue;
        }
        if let Some(bytes) = local.read(&name).map_err(|e| AuditError::io(&name, e))? {
            files
                .write_durably(&name, &bytes)
                .map_err(|e| AuditError::io(&name, e))?;
            copied_files += 1;
        }
    }
    let lines = LocalJournal::new(&layout.root);
    let mut bytes = lines.read_unfinished_cut()?.unwrap_or_default();
    bytes.extend(lines.read()?);
    let mut records = 0;
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(record) = serde_json::from_slice::<Value>(line) else {
            continue; // a torn last line: never acknowledged
        };
        let Some(link) = Link::from_json(&record[CHAIN_MEMBER]) else {
            continue;
        };
        journal.append_audit_lines("", link.seq, &[line])?;
        records += 1;
    }
    Ok((copied_files, records))
}
