//! The walk along the records' chain for [`crate::verify`]: every record, wherever it is (a
//! digested or undigested log file, a journal), in trail order, each checked against the one
//! before it and against the links that must be met (anchors, a running server's head).

use serde_json::Value;

use crate::chain::{CHAIN_MEMBER, ChainKey, Link};
use crate::verify::Report;

/// The walk along the chain: every record in trail order.
pub(crate) struct Walk<'a> {
    pub chain: Option<&'a ChainKey>,
    pub prev: Option<Link>,
    /// Links that must be met (anchors, the live head), with where they came from.
    pub targets: Vec<(Link, String, bool)>,
}

impl Walk<'_> {
    pub(crate) fn record(&mut self, place: &str, record: &Value, report: &mut Report) {
        let (link, bare) = Link::split(record);
        let Some(link) = link else {
            if record.get(CHAIN_MEMBER).is_some() {
                report
                    .problems
                    .push(format!("{place}: its chain link is malformed"));
            } else if self.prev.is_some() {
                report.problems.push(format!(
                    "{place}: not chained where every record is: inserted, or its link removed"
                ));
            } else {
                report.unchained_records += 1;
            }
            return;
        };
        report.records_checked += 1;
        let expected = self.prev.map_or(1, |p| p.seq + 1);
        let before = self.prev.unwrap_or(Link::GENESIS);
        if link.seq > expected {
            report.problems.push(format!(
                "{place}: record {} follows record {}: records {expected}..{} were removed",
                link.seq,
                expected - 1,
                link.seq - 1
            ));
        } else if link.seq < expected {
            report.problems.push(format!(
                "{place}: record {} comes after record {}: reordered or repeated",
                link.seq,
                expected - 1
            ));
        } else if let Some(key) = self.chain
            && !key.link(&before, link.seq, &bare).same_mac(&link.mac)
        {
            report.problems.push(format!(
                "{place}: record {} was changed, or forged (its MAC does not verify)",
                link.seq
            ));
        }
        for (target, from, met) in &mut self.targets {
            if target.seq == link.seq {
                *met = true;
                if !target.same_mac(&link.mac) {
                    report.problems.push(format!(
                        "{place}: record {} is not the one {from} names: replaced",
                        link.seq
                    ));
                }
            }
        }
        self.prev = Some(link);
    }

    /// A log file's records; a missing or corrupt file is reported by its hash check.
    pub(crate) fn file_records(&mut self, path: &str, log: &LogFile, report: &mut Report) {
        let LogFile::Content(content) = log else {
            return;
        };
        let Ok(records) = serde_json::from_slice::<Value>(content) else {
            return;
        };
        for (i, r) in records["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.record(&format!("{path} record #{}", i + 1), r, report);
        }
    }

    /// A journal's lines (`name` says which, in messages); a torn last line was never
    /// acknowledged and is skipped.
    pub(crate) fn lines(
        &mut self,
        bytes: Option<Vec<u8>>,
        name: &str,
        report: &mut Report,
    ) -> usize {
        let Some(bytes) = bytes else {
            return 0;
        };
        let complete = bytes.ends_with(b"\n");
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        let mut n = 0;
        for (i, line) in lines.iter().enumerate() {
            if line.is_empty() {
                continue;
            }
            let last = i + 1 == lines.len();
            match serde_json::from_slice::<Value>(line) {
                Ok(r) => {
                    n += 1;
                    self.record(&format!("audit/{name} line {}", i + 1), &r, report);
                }
                Err(_) if last && !complete => {}
                Err(_) => report.problems.push(format!(
                    "audit/{name} line {}: damaged (not a JSON record)",
                    i + 1
                )),
            }
        }
        n
    }
}

/// A log file as read from the trail's files, once: its hash and its records are both checked
/// from it.
pub(crate) enum LogFile {
    Missing,
    /// Not a complete gzip file.
    Corrupt,
    /// The decompressed content.
    Content(Vec<u8>),
}
