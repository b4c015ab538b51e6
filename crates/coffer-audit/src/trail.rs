//! The trail: an append-only journal that is durable before a request is answered (group
//! commit: every record waiting at that moment shares one fsync), cut into gzip log files,
//! and covered by signed, chained digests.
//!
//! One thread owns the files, so appends, cuts and digests never interleave. A crash loses
//! nothing acknowledged: the journal is fsynced before `record` returns; a cut renames the
//! journal aside first and names its log file by content, so finishing it after a crash
//! writes the same file once.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, TryLockError, mpsc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::chain::{CHAIN_MEMBER, ChainKey, Link};
use crate::event::AuditEvent;
use crate::index::{Cursor, IndexFeed, IndexReader, Indexer, Page};
use crate::layout::{
    ANCHOR, CUT_TMP, HEAD, JOURNAL, Layout, PUBLIC_KEY, ROLLING, STATE, gzip, rfc3339, sha256_hex,
    write_durably,
};
use crate::lookup::Filter;
use crate::signing::{SIGNATURE_ALGORITHM, SigningKey, fingerprint};

/// Most records folded into one write and fsync.
const MAX_BATCH: usize = 512;

/// How often the journal is cut into a log file, and how often a digest is signed.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    pub log_file_every: Duration,
    pub digest_every: Duration,
}

impl Default for Cadence {
    fn default() -> Self {
        Self {
            log_file_every: Duration::from_secs(5 * 60),
            digest_every: Duration::from_secs(60 * 60),
        }
    }
}

/// A log file a digest will cover.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogFileEntry {
    pub path: String,
    pub hash: String,
    pub oldest: String,
    pub newest: String,
}

/// What the next digest needs: the log files cut since the last one, and the last one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct DigestState {
    pub sequence: u64,
    pub pending: Vec<LogFileEntry>,
    pub last_end: Option<String>,
    pub previous: Option<PreviousDigest>,
    /// The newest record's link in a log file (`None` before the first chained cut).
    #[serde(default)]
    pub chain_head: Option<Value>,
}

/// Label of the MAC that authenticates `digest-state.json` (its `mac` member).
pub(crate) const STATE_TAG: &str = "digest-state";
/// Label of the MAC that authenticates the chain's anchor.
pub(crate) const ANCHOR_TAG: &str = "chain-anchor";

/// Where the newest link is kept besides the trail's own files, so that removing records at
/// the end (with the anchor file) is still caught: the metadata store, in the server.
pub trait AnchorStore: Send + Sync {
    /// Keeps `anchor` (for chain position `seq`) unless a newer one is kept.
    fn save(&self, seq: u64, anchor: &[u8]) -> Result<(), String>;
    fn load(&self) -> Result<Option<Vec<u8>>, String>;
}

/// An anchor store in memory, for tools and tests that run a trail without a metadata store.
/// A server keeps its anchor in the metadata store instead, so it outlives the process.
#[derive(Default)]
pub struct MemoryAnchorStore(Mutex<Option<(u64, Vec<u8>)>>);

impl AnchorStore for MemoryAnchorStore {
    fn save(&self, seq: u64, anchor: &[u8]) -> Result<(), String> {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.as_ref().is_none_or(|(s, _)| seq > *s) {
            *kept = Some((seq, anchor.to_vec()));
        }
        Ok(())
    }

    fn load(&self) -> Result<Option<Vec<u8>>, String> {
        let kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Ok(kept.as_ref().map(|(_, a)| a.clone()))
    }
}

/// The anchor in the metadata store, as a server keeps it. The lookup index also moves it
/// with each batch it indexes, in the same commit.
pub struct StoreAnchors(pub Arc<dyn coffer_store::AuditStore>);

impl AnchorStore for StoreAnchors {
    fn save(&self, seq: u64, anchor: &[u8]) -> Result<(), String> {
        self.0
            .save_audit_anchor(seq, anchor)
            .map_err(|e| e.to_string())
    }

    fn load(&self) -> Result<Option<Vec<u8>>, String> {
        self.0.audit_anchor().map_err(|e| e.to_string())
    }
}

/// Least time between two anchor writes under load: the window in which the newest records
/// could be removed unnoticed while the server is down. A live server also checks against
/// its in-memory head.
const ANCHOR_EVERY: Duration = Duration::from_secs(1);

/// Reads a state file, checking its MAC. A state without one is accepted only from before the
/// chain existed (no anchor anywhere): anything else was edited.
pub(crate) fn read_state(
    layout: &Layout,
    chain: &ChainKey,
    anchored: bool,
) -> Result<DigestState, String> {
    let bytes = match std::fs::read(layout.file(STATE)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DigestState::default()),
        Err(e) => return Err(format!("{STATE}: {e}")),
    };
    let mut value: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{STATE}: not JSON: {e}"))?;
    let mac = value
        .as_object_mut()
        .and_then(|m| m.remove("mac"))
        .and_then(|m| m.as_str().map(str::to_owned));
    match mac {
        Some(mac) if chain.check_tag(STATE_TAG, &value, &mac) => {}
        Some(_) => return Err(format!("{STATE}: its MAC does not verify: edited")),
        None if anchored => {
            return Err(format!(
                "{STATE}: not authenticated, though the trail is chained: edited"
            ));
        }
        None => {}
    }
    serde_json::from_value(value).map_err(|e| format!("{STATE}: {e}"))
}

/// The anchor as written: the newest link, authenticated.
pub(crate) fn anchor_bytes(chain: &ChainKey, head: Link) -> Vec<u8> {
    let link = head.to_json();
    let tag = chain.tag(ANCHOR_TAG, &link);
    serde_json::to_vec(&json!({ "link": link, "tag": tag })).unwrap_or_default()
}

/// An anchor's link, if its MAC verifies.
pub(crate) fn parse_anchor(chain: &ChainKey, bytes: &[u8]) -> Result<Link, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|_| "not JSON".to_owned())?;
    let tag = v["tag"].as_str().unwrap_or_default();
    if !chain.check_tag(ANCHOR_TAG, &v["link"], tag) {
        return Err("its MAC does not verify: edited or forged".into());
    }
    Link::from_json(&v["link"]).ok_or_else(|| "malformed".into())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PreviousDigest {
    pub path: String,
    pub hash: String,
    pub signature: String,
}

enum Job {
    Append(Value, mpsc::SyncSender<Result<(), String>>),
    Cut(mpsc::SyncSender<Result<(), String>>),
    Digest(mpsc::SyncSender<Result<(), String>>),
    /// Anchors the head if it moved since it was last anchored.
    Anchor,
}

/// The audit trail of one server.
pub struct AuditLog {
    layout: Layout,
    jobs: mpsc::Sender<Job>,
    chain: Arc<ChainKey>,
    anchors: Arc<dyn AnchorStore>,
    /// The newest record's link, as the writer last acknowledged it.
    head: Arc<Mutex<Link>>,
    public_key: Vec<u8>,
    /// Held for writing by cuts and digests, for reading by a verification.
    maintenance: Arc<RwLock<()>>,
    /// The lookup index, when the trail has one.
    index: Option<IndexReader>,
}

struct Writer {
    layout: Layout,
    journal: File,
    key: SigningKey,
    chain: Arc<ChainKey>,
    anchors: Arc<dyn AnchorStore>,
    head: Arc<Mutex<Link>>,
    /// The last link anchored, and when.
    anchored: (Link, Instant),
    maintenance: Arc<RwLock<()>>,
    /// Where appended records go once they are on disk, to be indexed.
    index_feed: Option<IndexFeed>,
}

impl AuditLog {
    /// Opens (or starts) the trail under `layout`, finishing a cut a crash interrupted, and
    /// starts the thread that owns it and the timer that cuts and signs on `cadence`. With
    /// an `index`, lookups read it instead of every file.
    pub fn open(
        layout: Layout,
        key: SigningKey,
        chain: ChainKey,
        anchors: Arc<dyn AnchorStore>,
        index: Option<Arc<dyn coffer_store::AuditStore>>,
        cadence: Cadence,
    ) -> Result<Self, String> {
        crate::layout::private_dir(&layout.root).map_err(|e| e.to_string())?;
        let public_key = key.public_key();
        write_durably(
            &layout.file(PUBLIC_KEY),
            hex::encode(&public_key).as_bytes(),
        )
        .map_err(|e| format!("cannot publish the audit public key: {e}"))?;
        drop_torn_tail(&layout.file(JOURNAL))?;
        let journal = open_journal(&layout)?;
        let chain = Arc::new(chain);
        let mut writer = Writer {
            layout: layout.clone(),
            journal,
            key,
            chain: chain.clone(),
            anchors: anchors.clone(),
            head: Arc::new(Mutex::new(Link::GENESIS)),
            anchored: (Link::GENESIS, Instant::now()),
            maintenance: Arc::new(RwLock::new(())),
            index_feed: None,
        };
        writer.finish_cut()?;
        // A state written before the chain existed carries no MAC: authenticate it now, while
        // nothing is anchored yet, or the first cut after an upgrade would refuse it.
        if layout.file(STATE).exists() {
            let state = writer.state()?;
            writer.save_state(&state)?;
        }
        let mut head = writer.recover_head()?;
        // An anchor newer than the records on disk means records at the end were removed
        // while no server ran. Going on from the anchor keeps that evident (verify names the
        // gap) instead of writing new records over the removed positions.
        for anchor in writer.anchors_on_record() {
            if anchor.seq > head.seq {
                metrics::counter!("coffer_audit_integrity_failures_total").increment(1);
                tracing::error!(
                    target: "coffer::integrity",
                    anchored = anchor.seq,
                    on_disk = head.seq,
                    "integrity alert: the audit trail ends before its anchor: records were removed"
                );
                head = anchor;
            }
        }
        *writer.head.lock().unwrap_or_else(|p| p.into_inner()) = head;
        writer.write_anchor(head)?;
        let index = match index {
            Some(index) => {
                let (feed, reader) = Indexer::start(index, &layout, chain.clone())?;
                writer.index_feed = Some(feed);
                Some(reader)
            }
            None => None,
        };
        let head_cell = writer.head.clone();
        let maintenance = writer.maintenance.clone();
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("coffer-audit".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| e.to_string())?;
        let timer = tx.clone();
        std::thread::Builder::new()
            .name("coffer-audit-timer".into())
            .spawn(move || tick(timer, cadence))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            layout,
            jobs: tx,
            chain,
            anchors,
            head: head_cell,
            public_key,
            maintenance,
            index,
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The newest acknowledged record's link.
    pub fn head(&self) -> Link {
        *self.head.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Verifies the whole trail against this server's keys, its anchor and its live head.
    pub fn verify(&self, from: Option<&str>, to: Option<&str>) -> crate::Report {
        let _quiet = self.maintenance.read().unwrap_or_else(|p| p.into_inner());
        crate::verify::verify(
            &self.layout,
            &crate::verify::Trust {
                signing_key: Some(&self.public_key),
                chain: Some(&self.chain),
                stored_anchor: self.anchors.load(),
                live_head: Some(self.head()),
            },
            from,
            to,
        )
    }

    /// Records `event`; returns once it is on disk. A caller whose event could not be
    /// recorded must fail its request: an unrecorded key use has not happened.
    pub fn record(&self, event: &AuditEvent) -> Result<(), String> {
        self.append(self.render(event))
    }

    /// The CloudTrail record of `event`, stamped now and with its own event id, before it
    /// is chained: what a caller keeps when the record must be committed elsewhere first.
    pub fn render(&self, event: &AuditEvent) -> Value {
        let now = OffsetDateTime::now_utc();
        let mut record =
            event.to_record(&self.layout.account_id, &self.layout.region, &rfc3339(now));
        crate::event::bound_record(&mut record);
        record
    }

    /// Appends a rendered record; returns once it is on disk.
    pub fn append(&self, record: Value) -> Result<(), String> {
        // The writer links it: only it knows the record before.
        self.call(|reply| Job::Append(record, reply))
    }

    /// Whether the newest part of the trail (the journal and the two newest log files)
    /// holds the record with this event id: what replaying a record that may have been
    /// appended just before a crash checks.
    pub fn holds_recent(&self, event_id: &str) -> bool {
        let _quiet = self.maintenance.read().unwrap_or_else(|p| p.into_inner());
        let filter = Filter {
            event_id: Some(event_id.to_owned()),
            ..Default::default()
        };
        crate::lookup::recent_records(&self.layout, 2)
            .iter()
            .any(|r| filter.matches(r))
    }

    /// Up to `limit` records matching `filter`, newest first, strictly older than `before`,
    /// and where the next page starts when there may be more. Served by the index when the
    /// trail has one that is caught up, else by reading every file.
    pub fn find(
        &self,
        filter: &Filter,
        before: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, String> {
        if let Some(index) = &self.index
            && let Some(found) = index.find(filter, self.head().seq, before, limit)
        {
            metrics::counter!("coffer_audit_lookups_total", "via" => "index").increment(1);
            return found;
        }
        metrics::counter!("coffer_audit_lookups_total", "via" => "files").increment(1);
        Ok(crate::lookup::page(
            crate::lookup::lookup(&self.layout, filter),
            before,
            limit,
        ))
    }

    /// Cuts the journal into a log file now (if it holds anything).
    pub fn cut(&self) -> Result<(), String> {
        self.call(Job::Cut)
    }

    /// Cuts, then signs a digest over every log file since the last digest.
    pub fn digest(&self) -> Result<(), String> {
        self.call(Job::Cut)?;
        self.call(Job::Digest)
    }

    fn call(
        &self,
        job: impl FnOnce(mpsc::SyncSender<Result<(), String>>) -> Job,
    ) -> Result<(), String> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.jobs
            .send(job(reply))
            .map_err(|_| "the audit writer stopped".to_owned())?;
        answer
            .recv()
            .map_err(|_| "the audit writer stopped".to_owned())?
    }
}

/// Cuts a journal back to its last complete line. A torn line is a crash mid-append, never
/// acknowledged; left in place, the next record would be glued to it and lost.
fn drop_torn_tail(path: &std::path::Path) -> Result<(), String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("audit journal: {e}")),
    };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| format!("audit journal: {e}"))?;
    f.set_len(keep as u64)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("audit journal: {e}"))?;
    tracing::warn!(
        dropped = bytes.len() - keep,
        "dropped a torn, unacknowledged record at the end of the audit journal"
    );
    Ok(())
}

/// The last link among a journal's lines.
fn last_link_in_lines(bytes: &[u8]) -> Option<Link> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
        .filter_map(|r| Link::from_json(&r[CHAIN_MEMBER]))
        .next_back()
}

fn open_journal(layout: &Layout) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(layout.file(JOURNAL))
        .map_err(|e| format!("cannot open the audit journal: {e}"))
}

fn tick(jobs: mpsc::Sender<Job>, cadence: Cadence) {
    // The anchor catches up with the head at least every ANCHOR_EVERY, even when no more
    // records come to trigger it.
    let step = cadence
        .log_file_every
        .min(cadence.digest_every)
        .min(ANCHOR_EVERY);
    let mut since_cut = Duration::ZERO;
    let mut since_digest = Duration::ZERO;
    loop {
        std::thread::sleep(step);
        since_cut += step;
        since_digest += step;
        if jobs.send(Job::Anchor).is_err() {
            return;
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let job = if since_digest >= cadence.digest_every {
            since_digest = Duration::ZERO;
            since_cut = Duration::ZERO;
            // A digest first cuts, through the same queue.
            if jobs.send(Job::Cut(mpsc::sync_channel(1).0)).is_err() {
                return;
            }
            Job::Digest(reply)
        } else if since_cut >= cadence.log_file_every {
            since_cut = Duration::ZERO;
            Job::Cut(reply)
        } else {
            continue;
        };
        if jobs.send(job).is_err() {
            return;
        }
        if let Ok(Err(e)) = answer.recv() {
            tracing::error!(error = %e, "audit trail maintenance failed");
        }
    }
}

impl Writer {
    fn run(mut self, jobs: mpsc::Receiver<Job>) {
        let mut deferred: Vec<Job> = Vec::new();
        loop {
            // With cuts or digests waiting for a verification, wake up to retry them even if
            // nothing else arrives (the timer waits for their answers, so it sends nothing).
            let first = if deferred.is_empty() {
                match jobs.recv() {
                    Ok(j) => j,
                    Err(_) => return,
                }
            } else {
                match jobs.recv_timeout(Duration::from_millis(100)) {
                    Ok(j) => j,
                    Err(mpsc::RecvTimeoutError::Timeout) => Job::Anchor,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(j) => batch.push(j),
                    Err(_) => break,
                }
            }
            // Appends first, in arrival order, with one fsync for all of them.
            let mut appended = Vec::new();
            let mut others = Vec::new();
            for job in batch {
                match job {
                    Job::Append(line, reply) => appended.push((line, reply)),
                    other => others.push(other),
                }
            }
            if !appended.is_empty() {
                let (records, replies): (Vec<Value>, Vec<_>) = appended.into_iter().unzip();
                let result = self.append(records);
                for reply in replies {
                    let _ = reply.send(result.clone());
                }
                // After the answers: the anchor never delays an acknowledgement. The first
                // records are anchored at once, later ones at most a second behind.
                if result.is_ok()
                    && (self.anchored.0 == Link::GENESIS
                        || self.anchored.1.elapsed() >= ANCHOR_EVERY)
                {
                    self.anchor_if_moved();
                }
            }
            // Cuts and digests put off while a verification ran go first, in order.
            let pending: Vec<Job> = deferred.drain(..).chain(others).collect();
            for job in pending {
                let is_cut = matches!(job, Job::Cut(_));
                match job {
                    // A verification sees the trail before or after a cut or a digest,
                    // never halfway (a log file written but not yet listed, say). While one
                    // runs, they wait for a later round (the writer retries them every 100 ms)
                    // instead of blocking this thread, so appends go on. Once one
                    // waits, the ones after it wait too, keeping their order.
                    Job::Cut(reply) | Job::Digest(reply) => {
                        let lock = self.maintenance.clone();
                        let quiet = match lock.try_write() {
                            _ if !deferred.is_empty() => None,
                            Ok(guard) => Some(guard),
                            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                            Err(TryLockError::WouldBlock) => None,
                        };
                        match quiet {
                            Some(_guard) => {
                                let done = if is_cut { self.cut() } else { self.digest() };
                                let _ = reply.send(done);
                            }
                            None if is_cut => deferred.push(Job::Cut(reply)),
                            None => deferred.push(Job::Digest(reply)),
                        }
                    }
                    Job::Anchor => self.anchor_if_moved(),
                    Job::Append(..) => {}
                }
            }
        }
    }

    /// Links each record to the one before and appends them with one fsync. The head moves
    /// only when they are on disk.
    fn append(&mut self, records: Vec<Value>) -> Result<(), String> {
        let mut head = *self.head.lock().unwrap_or_else(|p| p.into_inner());
        let mut buf = Vec::new();
        let mut linked = Vec::with_capacity(records.len());
        for mut record in records {
            let link = self.chain.link(&head, head.seq + 1, &record);
            record[CHAIN_MEMBER] = link.to_json();
            let start = buf.len();
            serde_json::to_writer(&mut buf, &record).map_err(|e| e.to_string())?;
            // The index keeps the record as the journal has it, without serialising it again.
            let line = self.index_feed.as_ref().map(|_| buf[start..].to_vec());
            buf.push(b'\n');
            head = link;
            if let Some(line) = line {
                linked.push(crate::index::Appended {
                    seq: link.seq,
                    record,
                    line,
                });
            }
        }
        let before = self.journal.metadata().map(|m| m.len()).ok();
        let result = coffer_faults::io_step("audit.append.write")
            .and_then(|()| self.journal.write_all(&buf))
            .and_then(|()| coffer_faults::io_step("audit.append.fsync"))
            .and_then(|()| self.journal.sync_data());
        if let Err(e) = result {
            // A partial write would glue the next batch's first record to its fragment:
            // take the fragment back so later acknowledged records stay whole.
            if let Some(len) = before {
                let _ = self.journal.set_len(len);
            }
            return Err(format!("audit journal write failed: {e}"));
        }
        // Queued for the index before the head moves: a lookup that sees the new head and
        // asks the index to flush finds these records already queued.
        if let Some(feed) = &self.index_feed {
            // A stopped indexer is caught up from the files at the next start; lookups read
            // the files meanwhile.
            if feed.send(crate::index::Feed::Records(linked)).is_err() {
                tracing::error!("the audit index stopped; lookups read the trail's files");
                self.index_feed = None;
            }
        }
        *self.head.lock().unwrap_or_else(|p| p.into_inner()) = head;
        Ok(())
    }

    /// The newest link on disk: the journal's last record, else the last cut's.
    fn recover_head(&self) -> Result<Link, String> {
        let journal = std::fs::read(self.layout.file(JOURNAL)).unwrap_or_default();
        if let Some(link) = last_link_in_lines(&journal) {
            return Ok(link);
        }
        let state = self.state()?;
        Ok(state
            .chain_head
            .as_ref()
            .and_then(Link::from_json)
            .unwrap_or(Link::GENESIS))
    }

    fn anchor_if_moved(&mut self) {
        let head = *self.head.lock().unwrap_or_else(|p| p.into_inner());
        if head != self.anchored.0
            && let Err(e) = self.write_anchor(head)
        {
            tracing::error!(error = %e, "cannot anchor the audit chain");
        }
    }

    /// Records `head` in the anchor file and the anchor store (both authenticated).
    fn write_anchor(&mut self, head: Link) -> Result<(), String> {
        if head == Link::GENESIS {
            return Ok(());
        }
        let bytes = anchor_bytes(&self.chain, head);
        write_durably(&self.layout.file(ANCHOR), &bytes).map_err(|e| e.to_string())?;
        self.anchors.save(head.seq, &bytes)?;
        self.anchored = (head, Instant::now());
        Ok(())
    }

    /// The links the anchor file and the anchor store hold, where their MACs verify.
    fn anchors_on_record(&self) -> Vec<Link> {
        let file = std::fs::read(self.layout.file(ANCHOR)).ok();
        let stored = self.anchors.load().ok().flatten();
        [file, stored]
            .into_iter()
            .flatten()
            .filter_map(|b| parse_anchor(&self.chain, &b).ok())
            .collect()
    }

    fn anchored_ever(&self) -> bool {
        self.layout.file(ANCHOR).exists() || matches!(self.anchors.load(), Ok(Some(_)))
    }

    fn state(&self) -> Result<DigestState, String> {
        read_state(&self.layout, &self.chain, self.anchored_ever()).inspect_err(|e| {
            tracing::error!(
                target: "coffer::integrity",
                error = %e,
                "integrity alert: the audit trail's state was changed"
            )
        })
    }

    fn save_state(&self, state: &DigestState) -> Result<(), String> {
        let mut value = serde_json::to_value(state).map_err(|e| e.to_string())?;
        let mac = self.chain.tag(STATE_TAG, &value);
        value["mac"] = json!(mac);
        let bytes = serde_json::to_vec_pretty(&value).map_err(|e| e.to_string())?;
        write_durably(&self.layout.file(STATE), &bytes).map_err(|e| format!("digest state: {e}"))
    }

    /// Moves the journal aside and turns it into a log file.
    fn cut(&mut self) -> Result<(), String> {
        let journal = self.layout.file(JOURNAL);
        let len = std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0);
        if len == 0 {
            return Ok(());
        }
        std::fs::rename(&journal, self.layout.file(ROLLING)).map_err(|e| e.to_string())?;
        self.journal = open_journal(&self.layout)?;
        File::open(&self.layout.root)
            .and_then(|d| d.sync_all())
            .map_err(|e| e.to_string())?;
        self.finish_cut()
    }

    /// Writes the log file of a journal moved aside (also after a crash), then removes it.
    fn finish_cut(&mut self) -> Result<(), String> {
        let rolling = self.layout.file(ROLLING);
        if !rolling.exists() {
            return Ok(());
        }
        let tmp = self.layout.file(CUT_TMP);
        if let Some(cut) = crate::log_file::write(&rolling, &tmp)? {
            // Named by its content (newest record's time and hash), so finishing a cut after
            // a crash names the file it may already have written, not a second copy.
            let stamp =
                OffsetDateTime::parse(&cut.newest, &time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|_| OffsetDateTime::now_utc());
            let path = self.layout.log_file(stamp, &cut.hash[..16]);
            let mut state = self.state()?;
            if let Some(link) = cut.last_link {
                state.chain_head = Some(link.to_json());
            }
            let full = self.layout.root.join(&path);
            if state.pending.iter().any(|p| p.hash == cut.hash) || full.exists() {
                std::fs::remove_file(&cut.tmp).map_err(|e| e.to_string())?;
            } else {
                let dir = full.parent().ok_or("a log file needs a directory")?;
                crate::layout::private_dir(dir).map_err(|e| e.to_string())?;
                std::fs::rename(&cut.tmp, &full).map_err(|e| e.to_string())?;
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| e.to_string())?;
            }
            if !state.pending.iter().any(|p| p.hash == cut.hash) {
                state.pending.push(LogFileEntry {
                    path,
                    hash: cut.hash,
                    oldest: cut.oldest,
                    newest: cut.newest,
                });
            }
            self.save_state(&state)?;
        }
        std::fs::remove_file(&rolling).map_err(|e| e.to_string())
    }

    /// Signs a digest over the log files cut since the last digest (even none, as
    /// CloudTrail does), chained to the previous digest's hash and signature.
    fn digest(&mut self) -> Result<(), String> {
        let mut state = self.state()?;
        let now = OffsetDateTime::now_utc();
        let end = rfc3339(now);
        let start = state.last_end.clone().unwrap_or_else(|| end.clone());
        let sequence = state.sequence + 1;
        let path = self.layout.digest_file(now, sequence);
        let public = self.key.public_key();
        let oldest = state.pending.iter().map(|p| p.oldest.as_str()).min();
        let newest = state.pending.iter().map(|p| p.newest.as_str()).max();
        let prev = state.previous.as_ref();
        let content = json!({
            "awsAccountId": self.layout.account_id,
            "digestStartTime": start,
            "digestEndTime": end,
            "digestS3Bucket": "coffer-audit",
            "digestS3Object": path,
            "digestPublicKeyFingerprint": fingerprint(&public),
            "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
            "newestEventTime": newest,
            "oldestEventTime": oldest,
            "previousDigestS3Bucket": prev.map(|_| "coffer-audit"),
            "previousDigestS3Object": prev.map(|p| p.path.clone()),
            "previousDigestHashValue": prev.map(|p| p.hash.clone()),
            "previousDigestHashAlgorithm": prev.map(|_| "SHA-256"),
            "previousDigestSignature": prev.map(|p| p.signature.clone()),
            "logFiles": state.pending.iter().map(|f| json!({
                "s3Bucket": "coffer-audit",
                "s3Object": f.path,
                "hashValue": f.hash,
                "hashAlgorithm": "SHA-256",
                "newestEventTime": f.newest,
                "oldestEventTime": f.oldest,
            })).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&content).map_err(|e| e.to_string())?;
        let hash = sha256_hex(&bytes);
        let signed = signed_string(&end, &path, &hash, prev.map(|p| p.signature.as_str()));
        let signature = hex::encode(self.key.sign(signed.as_bytes())?);
        let full = self.layout.root.join(&path);
        // The signature first: a digest is never on disk without it.
        write_durably(&signature_path(&full), signature.as_bytes()).map_err(|e| e.to_string())?;
        write_durably(&full, &gzip(&bytes).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        let head = serde_json::to_vec(&json!({
            "sequence": sequence,
            "digest": path,
            "hash": hash,
            "signedAt": end,
        }))
        .map_err(|e| e.to_string())?;
        let head_signature = hex::encode(self.key.sign(&head)?);
        state.sequence = sequence;
        state.pending.clear();
        state.last_end = Some(end);
        state.previous = Some(PreviousDigest {
            path,
            hash,
            signature,
        });
        self.save_state(&state)?;
        write_durably(&self.layout.file(HEAD), &head).map_err(|e| e.to_string())?;
        write_durably(
            &signature_path(&self.layout.file(HEAD)),
            head_signature.as_bytes(),
        )
        .map_err(|e| e.to_string())
    }
}

/// Where a digest's signature is kept (CloudTrail keeps it in S3 object metadata).
pub(crate) fn signature_path(digest: &std::path::Path) -> PathBuf {
    let mut s = digest.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

/// The string a digest's signature covers (SPEC.md §8.6): end time, digest path, the hash
/// of its uncompressed content, and the previous digest's signature.
pub(crate) fn signed_string(end: &str, path: &str, hash: &str, previous: Option<&str>) -> String {
    format!(
        "{end}\ncoffer-audit/{path}\n{hash}\n{}",
        previous.unwrap_or("null")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, KMS_SOURCE, Origin};

    fn event() -> AuditEvent {
        AuditEvent {
            event_source: KMS_SOURCE,
            event_name: "Decrypt".into(),
            identity: Some(Identity {
                arn: "arn:aws:iam::000000000000:user/u".into(),
                user_name: "u".into(),
                access_key_id: None,
            }),
            origin: Origin::Service("s3.amazonaws.com".into()),
            request_parameters: Value::Null,
            response_elements: Value::Null,
            error: None,
            read_only: true,
            resources: vec![],
            request_id: "r".into(),
            data_event: false,
            service_event_details: None,
            additional_event_data: None,
        }
    }

    /// A cut that falls due while a verification runs waits for it without holding up the
    /// appends behind it, and happens once the verification is over.
    #[test]
    fn appends_go_on_while_a_cut_waits_for_a_verification() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(
            AuditLog::open(
                Layout::new(dir.path(), "000000000000", "us-east-1"),
                SigningKey::from_pkcs8(&SigningKey::generate().unwrap()).unwrap(),
                ChainKey::new(&zeroize::Zeroizing::new([1u8; 32])),
                Arc::new(MemoryAnchorStore::default()),
                None,
                Cadence::default(),
            )
            .unwrap(),
        );
        log.record(&event()).unwrap();
        // As a running verification holds it.
        let verifying = log.maintenance.clone();
        let guard = verifying.read().unwrap();
        let cutter = {
            let log = log.clone();
            std::thread::spawn(move || log.cut())
        };
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        for _ in 0..5 {
            log.record(&event()).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "appends waited for the cut: {:?}",
            started.elapsed()
        );
        assert!(!cutter.is_finished(), "the cut ran during the verification");
        drop(guard);
        cutter.join().unwrap().unwrap();
        let journal = std::fs::read(log.layout.file(JOURNAL)).unwrap();
        assert!(
            journal.is_empty(),
            "the cut did not happen after the verification"
        );
    }
}
