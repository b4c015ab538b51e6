//! Turning a journal moved aside into a CloudTrail log file, one record at a time: the
//! records stream from the journal through gzip into a staged file while their hash, time
//! span and last link are taken, so a cut's memory does not grow with the journal.

use std::io::{BufRead, BufWriter, Write};

use serde_json::Value;

use crate::chain::{CHAIN_MEMBER, Link};
use crate::error::{AuditError, AuditResult};
use crate::trail_files::StagedFile;

/// A log file written to its staged place, and what its name and the digest need.
pub(crate) struct CutFile {
    /// Durable where it is staged; to be committed under its name, or discarded.
    pub staged: Box<dyn StagedFile>,
    /// SHA-256 of the uncompressed content, hex.
    pub hash: String,
    pub oldest: String,
    pub newest: String,
    /// The newest record's link, when the records are chained.
    /// Each stream's last link in the file (the embedded trail's stream is `""`).
    pub last_links: std::collections::BTreeMap<String, Link>,
}

/// Writes `{"Records":[…]}` of the journal's `lines` as gzip to `out` (durably). A torn
/// last line (a crash mid-append, never acknowledged) is dropped; any other line that does
/// not parse was acknowledged once and is now damaged: left out, and said loudly. `None`
/// (and `out` discarded) when the journal holds no record. `journal` and `tmp` name the two
/// in errors.
pub(crate) fn write(
    mut lines: impl BufRead,
    journal: &str,
    out: Box<dyn StagedFile>,
    tmp: &str,
) -> AuditResult<Option<CutFile>> {
    let mut gz = flate2::write::GzEncoder::new(
        BufWriter::with_capacity(1 << 16, out),
        flate2::Compression::default(),
    );
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut emit = |bytes: &[u8]| -> AuditResult<()> {
        hash.update(bytes);
        gz.write_all(bytes).map_err(|e| AuditError::io(tmp, e))
    };
    let (mut oldest, mut newest): (Option<String>, Option<String>) = (None, None);
    let mut last_links = std::collections::BTreeMap::new();
    let mut count = 0usize;
    let mut line = Vec::new();
    let mut number = 0usize;
    emit(b"{\"Records\":[")?;
    loop {
        line.clear();
        let n = lines
            .read_until(b'\n', &mut line)
            .map_err(|e| AuditError::io(journal, e))?;
        if n == 0 {
            break;
        }
        number += 1;
        let complete = line.ends_with(b"\n");
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.is_empty() {
            continue;
        }
        let record: Value = match serde_json::from_slice(text) {
            Ok(r) => r,
            Err(_) if !complete => break,
            Err(e) => {
                tracing::error!(
                    target: "coffer::integrity",
                    line = number,
                    error = %e,
                    "integrity alert: a damaged record in the audit journal"
                );
                continue;
            }
        };
        if let Some(t) = record["eventTime"].as_str() {
            if oldest.as_deref().is_none_or(|o| t < o) {
                oldest = Some(t.to_owned());
            }
            if newest.as_deref().is_none_or(|n| t > n) {
                newest = Some(t.to_owned());
            }
        }
        if let Some(link) = Link::from_json(&record[CHAIN_MEMBER]) {
            last_links.insert(Link::stream_of(&record[CHAIN_MEMBER]).to_owned(), link);
        }
        if count > 0 {
            emit(b",")?;
        }
        // The journal's bytes as they are: the record parsed, so they are one JSON value.
        emit(text)?;
        count += 1;
    }
    emit(b"]}")?;
    let digest = hash.finish();
    let mut staged = gz
        .finish()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .map_err(|e| AuditError::io(tmp, e))?;
    staged.finish().map_err(|e| AuditError::io(tmp, e))?;
    if count == 0 {
        // Nothing to keep; a scratch file left behind is overwritten by the next cut.
        let _ = staged.discard();
        return Ok(None);
    }
    Ok(Some(CutFile {
        staged,
        hash: hex::encode(digest.as_ref()),
        oldest: oldest.unwrap_or_default(),
        newest: newest.unwrap_or_default(),
        last_links,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local_files::LocalTrailFiles;
    use crate::trail_files::TrailFiles;

    /// Cuts the journal file at `journal` into a log file staged at `t.gz`.
    fn cut_file(journal: &std::path::Path) -> Option<CutFile> {
        let files = LocalTrailFiles::new(journal.parent().unwrap());
        let lines = std::io::BufReader::new(std::fs::File::open(journal).unwrap());
        write(lines, "j", files.stage("t.gz").unwrap(), "t.gz").unwrap()
    }

    #[test]
    fn the_log_file_holds_the_complete_records_and_its_hash_is_of_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("j");
        std::fs::write(
            &journal,
            b"{\"eventTime\":\"2026-01-01T00:00:02Z\",\"n\":1}\n\n{\"eventTime\":\"2026-01-01T00:00:01Z\",\"n\":2}\n{\"eventTi",
        )
        .unwrap();
        let tmp = dir.path().join("t.gz");
        let cut = cut_file(&journal).unwrap();
        let content = crate::layout::gunzip(&std::fs::read(&tmp).unwrap()).unwrap();
        let doc: Value = serde_json::from_slice(&content).unwrap();
        assert_eq!(doc["Records"].as_array().unwrap().len(), 2);
        assert_eq!(cut.hash, crate::layout::sha256_hex(&content));
        assert_eq!(cut.oldest, "2026-01-01T00:00:01Z");
        assert_eq!(cut.newest, "2026-01-01T00:00:02Z");
        std::fs::write(&journal, b"").unwrap();
        assert!(cut_file(&journal).is_none());
    }
}
