//! One trail that several gateways share: each appends its own stream to a shared journal,
//! one seals at a time (and another takes over), and a verification or a lookup on any of
//! them sees every gateway's records. The stores are held in memory, as a database table
//! and an object store would hold them.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_audit::{
    AnchorStore, AuditEvent, AuditLog, AuditResult, Cadence, ChainKey, Filter, Layout, SigningKey,
    Stores,
};
use coffer_store::{AuditFileStore, AuditJournalStore, StoreResult, StreamLine};

/// The shared journal and files, as tables keyed like PostgreSQL's.
#[derive(Default)]
struct Shared {
    rows: Mutex<BTreeMap<(String, u64), Vec<u8>>>,
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl AuditJournalStore for Shared {
    fn append_audit_lines(&self, stream: &str, first: u64, lines: &[&[u8]]) -> StoreResult<()> {
        let mut rows = self.rows.lock().unwrap();
        for (i, line) in lines.iter().enumerate() {
            rows.entry((stream.to_owned(), first + i as u64))
                .or_insert_with(|| line.to_vec());
        }
        Ok(())
    }

    fn audit_journal(
        &self,
        stream: Option<&str>,
        through: Option<&[(String, u64)]>,
    ) -> StoreResult<Vec<StreamLine>> {
        let bounds: Option<BTreeMap<&str, u64>> =
            through.map(|t| t.iter().map(|(s, q)| (s.as_str(), *q)).collect());
        Ok(self
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter(|((s, _), _)| stream.is_none_or(|want| want == s))
            .filter(|((s, q), _)| {
                bounds
                    .as_ref()
                    .is_none_or(|b| b.get(s.as_str()).is_some_and(|t| q <= t))
            })
            .map(|((s, q), l)| (s.clone(), *q, l.clone()))
            .collect())
    }

    fn audit_journal_heads(&self) -> StoreResult<Vec<(String, u64)>> {
        let mut heads = BTreeMap::new();
        for (s, q) in self.rows.lock().unwrap().keys() {
            heads.insert(s.clone(), *q);
        }
        Ok(heads.into_iter().collect())
    }

    fn forget_audit_journal(&self, through: &[(String, u64)]) -> StoreResult<()> {
        let mut rows = self.rows.lock().unwrap();
        for (s, t) in through {
            rows.retain(|(rs, rq), _| rs != s || rq > t);
        }
        Ok(())
    }
}

impl AuditFileStore for Shared {
    fn audit_file(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        // A database's round trip: wide enough for two sealers' reads and writes to overlap.
        std::thread::sleep(Duration::from_millis(1));
        Ok(self.files.lock().unwrap().get(name).cloned())
    }

    fn put_audit_file(&self, name: &str, bytes: &[u8]) -> StoreResult<()> {
        self.files
            .lock()
            .unwrap()
            .insert(name.to_owned(), bytes.to_vec());
        Ok(())
    }

    fn swap_audit_file(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        bytes: &[u8],
    ) -> StoreResult<bool> {
        let mut files = self.files.lock().unwrap();
        if files.get(name).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        files.insert(name.to_owned(), bytes.to_vec());
        Ok(true)
    }

    fn list_audit_files(&self, prefix: &str, suffix: &str) -> StoreResult<Vec<String>> {
        Ok(self
            .files
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(prefix) && k.ends_with(suffix))
            .cloned()
            .collect())
    }

    fn remove_audit_file(&self, name: &str) -> StoreResult<()> {
        self.files.lock().unwrap().remove(name);
        Ok(())
    }
}

/// Each stream's anchor and its position.
type Kept = Arc<Mutex<BTreeMap<String, (u64, Vec<u8>)>>>;

/// Every stream's anchor, as the metadata store keeps them; each gateway saves its own.
struct Anchors {
    kept: Kept,
    stream: String,
}

impl AnchorStore for Anchors {
    fn save(&self, seq: u64, anchor: &[u8]) -> AuditResult<()> {
        let mut kept = self.kept.lock().unwrap();
        if kept.get(&self.stream).is_none_or(|(s, _)| seq > *s) {
            kept.insert(self.stream.clone(), (seq, anchor.to_vec()));
        }
        Ok(())
    }

    fn load(&self) -> AuditResult<Option<Vec<u8>>> {
        Ok(self
            .kept
            .lock()
            .unwrap()
            .get(&self.stream)
            .map(|a| a.1.clone()))
    }

    fn load_all(&self) -> AuditResult<Vec<Vec<u8>>> {
        Ok(self
            .kept
            .lock()
            .unwrap()
            .values()
            .map(|a| a.1.clone())
            .collect())
    }
}

fn event(gateway: &str, i: usize) -> AuditEvent {
    common::decrypt_by(&format!("{gateway}-user"), format!("{gateway}-{i}"))
}

struct Gateways {
    shared: Arc<Shared>,
    a: Arc<AuditLog>,
    b: Arc<AuditLog>,
}

fn two_gateways() -> Gateways {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path(), "000000000000", "us-east-1");
    let shared = Arc::new(Shared::default());
    let anchors = Arc::new(Mutex::new(BTreeMap::new()));
    let pkcs8 = SigningKey::generate().unwrap();
    let open = |stream: &str| {
        let stores = Stores::shared(shared.clone(), shared.clone(), shared.clone(), stream);
        Arc::new(
            AuditLog::open_in(
                layout.clone(),
                stores,
                SigningKey::from_pkcs8(&pkcs8).unwrap(),
                ChainKey::new(&zeroize::Zeroizing::new([7u8; 32])),
                Arc::new(Anchors {
                    kept: anchors.clone(),
                    stream: stream.to_owned(),
                }),
                None,
                Cadence {
                    log_file_every: Duration::from_secs(3600),
                    digest_every: Duration::from_secs(3600),
                },
            )
            .unwrap(),
        )
    };
    let (a, b) = (open("gw-a"), open("gw-b"));
    assert!(
        !layout.root.exists(),
        "a shared trail wrote to the data directory"
    );
    Gateways { shared, a, b }
}

#[test]
fn each_gateway_appends_its_stream_one_seals_and_every_gateway_verifies_and_finds_all() {
    let g = two_gateways();
    for i in 0..5 {
        g.a.record(&event("a", i)).unwrap();
        g.b.record(&event("b", i)).unwrap();
    }
    // A seals: one log file holds both streams' records, and a digest signs it.
    g.a.set_sealing(true);
    g.a.digest().unwrap();
    assert!(
        g.shared.rows.lock().unwrap().is_empty(),
        "the cut left rows"
    );
    for i in 5..8 {
        g.a.record(&event("a", i)).unwrap();
        g.b.record(&event("b", i)).unwrap();
    }
    // A dies; B takes over and seals what both appended since.
    g.a.set_sealing(false);
    g.b.set_sealing(true);
    g.b.cut().unwrap();
    g.a.record(&event("a", 8)).unwrap();
    g.b.digest().unwrap();
    g.b.record(&event("b", 8)).unwrap();

    for (name, log) in [("a", &g.a), ("b", &g.b)] {
        let report = log.verify(None, None);
        assert!(report.passed(), "verify on {name}: {:?}", report.problems);
        assert_eq!(report.records_checked, 18, "on {name}");
        assert_eq!(report.journal_records, 1, "on {name}");
        assert_eq!(report.digests_checked, 2, "on {name}");
        assert_eq!(report.log_files_checked, 3, "on {name}");
    }
    let by_user = |user: &str| Filter {
        user: Some(user.into()),
        ..Default::default()
    };
    // B finds what A recorded, and the other way round.
    assert_eq!(g.b.find(&by_user("a-user"), None, 100).unwrap().0.len(), 9);
    assert_eq!(g.a.find(&by_user("b-user"), None, 100).unwrap().0.len(), 9);

    // A record of A's stream edited where it waits in the journal is named by B.
    {
        let mut rows = g.shared.rows.lock().unwrap();
        let row = rows.get_mut(&("gw-b".to_owned(), 9)).unwrap();
        *row = String::from_utf8(row.clone())
            .unwrap()
            .replace("b-user", "x-user")
            .into_bytes();
    }
    let problems = g.a.verify(None, None).problems;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("record 9 of stream gw-b was changed")),
        "{problems:?}"
    );
}

#[test]
fn two_sealers_cutting_at_once_never_fork_the_trail() {
    let g = two_gateways();
    g.a.set_sealing(true);
    g.b.set_sealing(true);
    for round in 0..20 {
        for i in 0..3 {
            g.a.record(&event("a", round * 3 + i)).unwrap();
            g.b.record(&event("b", round * 3 + i)).unwrap();
        }
        let (a, b) = (g.a.clone(), g.b.clone());
        // Both sign at once now and then, one signs while the other cuts at other times.
        let ta = std::thread::spawn(move || if round % 4 == 3 { a.digest() } else { a.cut() });
        let tb = std::thread::spawn(move || {
            if round % 8 == 7 || round % 5 == 4 {
                b.digest()
            } else {
                b.cut()
            }
        });
        // A sealer that loses a race is refused, never overwrites: either may fail.
        let _ = ta.join().unwrap();
        let _ = tb.join().unwrap();
    }
    g.a.digest().unwrap();
    let report = g.b.verify(None, None);
    assert!(report.passed(), "{:?}", report.problems);
    assert_eq!(report.records_checked, 120);
}
