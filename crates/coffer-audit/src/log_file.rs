//! Turning a journal moved aside into a CloudTrail log file, one record at a time: the
//! records stream from the journal through gzip into a temporary file while their hash, time
//! span and last link are taken, so a cut's memory does not grow with the journal.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::chain::{CHAIN_MEMBER, Link};
use crate::error::{AuditError, AuditResult};

/// A log file written to its temporary place, and what its name and the digest need.
pub(crate) struct CutFile {
    pub tmp: PathBuf,
    /// SHA-256 of the uncompressed content, hex.
    pub hash: String,
    pub oldest: String,
    pub newest: String,
    /// The newest record's link, when the records are chained.
    pub last_link: Option<Link>,
}

/// Writes `{"Records":[…]}` of the journal at `journal` as gzip to `tmp` (durably). A torn
/// last line (a crash mid-append, never acknowledged) is dropped; any other line that does
/// not parse was acknowledged once and is now damaged: left out, and said loudly. `None`
/// when the journal holds no record.
pub(crate) fn write(journal: &Path, tmp: &Path) -> AuditResult<Option<CutFile>> {
    let input =
        File::open(journal).map_err(|e| AuditError::io(journal.display().to_string(), e))?;
    let mut lines = BufReader::with_capacity(1 << 16, input);
    let out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| AuditError::io(tmp.display().to_string(), e))?;
    let mut gz = flate2::write::GzEncoder::new(
        BufWriter::with_capacity(1 << 16, out),
        flate2::Compression::default(),
    );
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut emit = |bytes: &[u8]| -> AuditResult<()> {
        hash.update(bytes);
        gz.write_all(bytes)
            .map_err(|e| AuditError::io(tmp.display().to_string(), e))
    };
    let (mut oldest, mut newest): (Option<String>, Option<String>) = (None, None);
    let mut last_link = None;
    let mut count = 0usize;
    let mut line = Vec::new();
    let mut number = 0usize;
    emit(b"{\"Records\":[")?;
    loop {
        line.clear();
        let n = lines
            .read_until(b'\n', &mut line)
            .map_err(|e| AuditError::io(journal.display().to_string(), e))?;
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
            last_link = Some(link);
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
    gz.finish()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .and_then(|file| file.sync_all())
        .map_err(|e| AuditError::io(tmp.display().to_string(), e))?;
    if count == 0 {
        let _ = std::fs::remove_file(tmp);
        return Ok(None);
    }
    Ok(Some(CutFile {
        tmp: tmp.to_path_buf(),
        hash: hex::encode(digest.as_ref()),
        oldest: oldest.unwrap_or_default(),
        newest: newest.unwrap_or_default(),
        last_link,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let cut = write(&journal, &tmp).unwrap().unwrap();
        let content = crate::layout::gunzip(&std::fs::read(&tmp).unwrap()).unwrap();
        let doc: Value = serde_json::from_slice(&content).unwrap();
        assert_eq!(doc["Records"].as_array().unwrap().len(), 2);
        assert_eq!(cut.hash, crate::layout::sha256_hex(&content));
        assert_eq!(cut.oldest, "2026-01-01T00:00:01Z");
        assert_eq!(cut.newest, "2026-01-01T00:00:02Z");
        std::fs::write(&journal, b"").unwrap();
        assert!(write(&journal, &tmp).unwrap().is_none());
    }
}
