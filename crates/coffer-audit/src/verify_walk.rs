//! The walk along the records' chain for [`crate::verify`]: every record, wherever it is (a
//! digested or undigested log file, a journal), in trail order, each checked against the one
//! before it in its stream and against the links that must be met (anchors, a running
//! server's head). A trail several gateways share holds one stream per gateway, interleaved
//! in its log files; each is walked as its own chain.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::chain::{CHAIN_MEMBER, ChainKey, Link};
use crate::verify::Report;

/// A link that must be met (an anchor, the live head): its stream, the link, where it came
/// from, and whether the walk met it.
pub(crate) struct Target {
    pub stream: String,
    pub link: Link,
    pub from: String,
    pub met: bool,
}

/// The walk along the chains: every record in trail order.
pub(crate) struct Walk<'a> {
    pub chain: Option<&'a ChainKey>,
    /// Each stream's last record so far.
    pub prev: BTreeMap<String, Link>,
    pub targets: Vec<Target>,
}

/// How messages name a record: by position, and by stream where there are several.
pub(crate) fn record_name(stream: &str, seq: u64) -> String {
    if stream.is_empty() {
        format!("record {seq}")
    } else {
        format!("record {seq} of stream {stream}")
    }
}

impl Walk<'_> {
    pub(crate) fn record(&mut self, place: &str, record: &Value, report: &mut Report) {
        let (link, bare) = Link::split(record);
        let stream = Link::stream_of(&record[CHAIN_MEMBER]).to_owned();
        let Some(link) = link else {
            if record.get(CHAIN_MEMBER).is_some() {
                report
                    .problems
                    .push(format!("{place}: its chain link is malformed"));
            } else if !self.prev.is_empty() {
                report.problems.push(format!(
                    "{place}: not chained where every record is: inserted, or its link removed"
                ));
            } else {
                report.unchained_records += 1;
            }
            return;
        };
        report.records_checked += 1;
        let prev = self.prev.get(&stream).copied();
        let expected = prev.map_or(1, |p| p.seq + 1);
        let before = prev.unwrap_or(Link::GENESIS);
        let name = record_name(&stream, link.seq);
        if link.seq > expected {
            report.problems.push(format!(
                "{place}: {name} follows record {}: records {expected}..{} were removed",
                expected - 1,
                link.seq - 1
            ));
        } else if link.seq < expected {
            report.problems.push(format!(
                "{place}: {name} comes after record {}: reordered or repeated",
                expected - 1
            ));
        } else if let Some(key) = self.chain
            && !key
                .link_in(&stream, &before, link.seq, &bare)
                .same_mac(&link.mac)
        {
            report.problems.push(format!(
                "{place}: {name} was changed, or forged (its MAC does not verify)"
            ));
        }
        for t in &mut self.targets {
            if t.stream == stream && t.link.seq == link.seq {
                t.met = true;
                if !t.link.same_mac(&link.mac) {
                    report.problems.push(format!(
                        "{place}: {name} is not the one {} names: replaced",
                        t.from
                    ));
                }
            }
        }
        self.prev.insert(stream, link);
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
