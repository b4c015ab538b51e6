//! The trail kept entirely outside the data directory, in stores held in memory: what a
//! database journal and an object store would be. It records, cuts, signs, verifies and
//! finds records through the two traits alone, and nothing appears under `<data>/audit`;
//! tampering with the stored files is still named.

mod common;

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_audit::{
    AuditEvent, AuditLog, AuditResult, Cadence, ChainKey, CutToken, Filter, JournalStore, Layout,
    MemoryAnchorStore, SigningKey, StagedFile, Stores, TrailFiles,
};

/// The journal as a table would keep it: rows keyed by their position, and the highest
/// position a cut took (the token), forgotten row by row when the cut finishes.
#[derive(Default)]
struct TableJournal {
    rows: Mutex<BTreeMap<u64, Vec<u8>>>,
    taken_through: Mutex<Option<u64>>,
}

impl TableJournal {
    /// The rows in `range`, as journal lines.
    fn lines(&self, range: impl std::ops::RangeBounds<u64>) -> Vec<u8> {
        self.rows
            .lock()
            .unwrap()
            .range(range)
            .flat_map(|(_, line)| line.iter().copied())
            .collect()
    }

    fn through(cut: &CutToken) -> u64 {
        cut.as_str().parse().unwrap()
    }
}

impl JournalStore for TableJournal {
    fn open(&self) -> AuditResult<()> {
        Ok(())
    }

    fn append(&self, first: u64, lines: &[u8]) -> AuditResult<()> {
        let mut rows = self.rows.lock().unwrap();
        for (i, line) in lines.split_inclusive(|b| *b == b'\n').enumerate() {
            rows.insert(first + i as u64, line.to_vec());
        }
        Ok(())
    }

    fn read(&self) -> AuditResult<Vec<u8>> {
        let after = self.taken_through.lock().unwrap().map_or(0, |t| t + 1);
        Ok(self.lines(after..))
    }

    fn take_for_cut(&self) -> AuditResult<Option<CutToken>> {
        let mut taken = self.taken_through.lock().unwrap();
        let newest = self.rows.lock().unwrap().keys().next_back().copied();
        match newest {
            Some(n) if Some(n) != *taken => {
                *taken = Some(n);
                Ok(Some(CutToken::new(n.to_string())))
            }
            _ => Ok(None),
        }
    }

    fn unfinished_cut(&self) -> AuditResult<Option<CutToken>> {
        let taken = *self.taken_through.lock().unwrap();
        Ok(taken.map(|t| CutToken::new(t.to_string())))
    }

    fn cut_records(&self, cut: &CutToken) -> AuditResult<Box<dyn BufRead + Send + '_>> {
        Ok(Box::new(io::Cursor::new(self.lines(..=Self::through(cut)))))
    }

    fn read_unfinished_cut(&self) -> AuditResult<Option<Vec<u8>>> {
        let taken = *self.taken_through.lock().unwrap();
        Ok(taken.map(|t| self.lines(..=t)))
    }

    fn finish_cut(&self, cut: CutToken) -> AuditResult<()> {
        let through = Self::through(&cut);
        self.rows.lock().unwrap().retain(|seq, _| *seq > through);
        *self.taken_through.lock().unwrap() = None;
        Ok(())
    }
}

/// Files as an object store keeps them: keys, listed in key order.
#[derive(Default, Clone)]
struct MemoryFiles(Arc<Mutex<BTreeMap<String, Vec<u8>>>>);

struct Buffered {
    bytes: Vec<u8>,
    files: MemoryFiles,
}

impl Write for Buffered {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StagedFile for Buffered {
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn commit(self: Box<Self>, name: &str) -> io::Result<()> {
        self.files.put_new(name, &self.bytes)
    }

    fn discard(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

impl TrailFiles for MemoryFiles {
    fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.0.lock().unwrap().get(name).cloned())
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        Ok(self.0.lock().unwrap().contains_key(name))
    }

    fn write_durably(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.0
            .lock()
            .unwrap()
            .insert(name.to_owned(), bytes.to_vec());
        Ok(())
    }

    fn swap(&self, name: &str, expected: Option<&[u8]>, bytes: &[u8]) -> io::Result<bool> {
        let mut files = self.0.lock().unwrap();
        if files.get(name).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        files.insert(name.to_owned(), bytes.to_vec());
        Ok(true)
    }

    fn put_new(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.write_durably(name, bytes)
    }

    fn stage(&self, _scratch: &str) -> io::Result<Box<dyn StagedFile>> {
        Ok(Box::new(Buffered {
            bytes: Vec::new(),
            files: self.clone(),
        }))
    }

    fn list(&self, prefix: &str, suffix: &str) -> io::Result<Vec<String>> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(prefix) && k.ends_with(suffix))
            .cloned()
            .collect())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.0.lock().unwrap().remove(name);
        Ok(())
    }
}

fn event(i: usize) -> AuditEvent {
    common::decrypt_by(&format!("u{}", i % 2), format!("req-{i}"))
}

#[test]
fn a_trail_in_other_stores_records_cuts_signs_verifies_and_finds() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path(), "000000000000", "us-east-1");
    let files = MemoryFiles::default();
    let stores = Stores {
        journal: Arc::new(TableJournal::default()),
        files: Arc::new(files.clone()),
        stream: String::new(),
    };
    let log = AuditLog::open_in(
        layout.clone(),
        stores.clone(),
        SigningKey::from_pkcs8(&SigningKey::generate().unwrap()).unwrap(),
        ChainKey::new(&zeroize::Zeroizing::new([7u8; 32])),
        Arc::new(MemoryAnchorStore::default()),
        None,
        Cadence {
            log_file_every: Duration::from_secs(3600),
            digest_every: Duration::from_secs(3600),
        },
    )
    .unwrap();
    for i in 0..6 {
        log.record(&event(i)).unwrap();
        if i % 2 == 1 {
            log.cut().unwrap();
        }
    }
    log.digest().unwrap();
    log.record(&event(6)).unwrap();

    let report = log.verify(None, None);
    assert!(report.passed(), "{:?}", report.problems);
    assert_eq!(report.records_checked, 7);
    assert_eq!(report.journal_records, 1);
    assert_eq!(report.digests_checked, 1);
    assert_eq!(report.log_files_checked, 3);
    assert!(
        !layout.root.exists(),
        "the trail wrote to the data directory"
    );
    let by_user = Filter {
        user: Some("u1".into()),
        ..Default::default()
    };
    let (found, _) = log.find(&by_user, None, 10).unwrap();
    assert_eq!(found.len(), 3);
    // The newest record is in the journal, which recent lookups read.
    let (newest, _) = log.find(&Filter::default(), None, 1).unwrap();
    assert!(log.holds_recent(newest[0]["eventID"].as_str().unwrap()));

    // An object store's keys, in CloudTrail's layout, with the digest's signature beside it.
    let names: Vec<String> = files.0.lock().unwrap().keys().cloned().collect();
    let logs = files
        .list("AWSLogs/000000000000/CloudTrail/us-east-1/", ".json.gz")
        .unwrap();
    assert_eq!(logs.len(), 3, "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(".json.gz.sig")));
    for small in [
        "head.json",
        "digest-state.json",
        "chain-anchor.json",
        "signing-key.pub",
    ] {
        assert!(
            names.iter().any(|n| n == small),
            "{small} missing: {names:?}"
        );
    }

    // Removing a log file from the store is named, as removing it from the disk is.
    files.remove(&logs[1]).unwrap();
    let problems = log.verify(None, None).problems;
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(&logs[1]) && p.contains("removed")),
        "{problems:?}"
    );
}
