//! The thread that owns the trail's files: it appends records (every record waiting at that
//! moment shares one write and one fsync), links each to the one before, moves the anchor,
//! cuts the journal into log files and signs digests. One owner means appends, cuts and
//! digests never interleave.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, TryLockError, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::anchor::{ANCHOR_EVERY, AnchorStore, anchor_bytes, anchor_file, parse_anchor};
use crate::chain::{CHAIN_MEMBER, ChainKey, Link};
use crate::digest_state::{
    DigestState, LogFileEntry, PreviousDigest, STATE_TAG, read_state_as_stored, signature_path,
    signed_string,
};
use crate::error::{AuditError, AuditResult};
use crate::index::IndexFeed;
use crate::journal_store::{CutToken, JournalStore};
use crate::layout::{CUT_TMP, HEAD, Layout, ROLLING, STATE, gzip, rfc3339, sha256_hex};
use crate::receipt::Reply;
use crate::rendered::Rendered;
use crate::signing::{SIGNATURE_ALGORITHM, SigningKey, fingerprint};
use crate::stores::Stores;
use crate::trail::Cadence;
use crate::trail_files::TrailFiles;

/// Most records folded into one write and fsync.
const MAX_BATCH: usize = 512;

/// The histogram of how long records wait, from being made to being on disk. A flush takes
/// 0.1-0.5 ms on a virtual disk, so its buckets ([`AUDIT_LATENCY_BUCKETS`]) are finer than
/// the server's default.
pub const RECORD_WAIT_SECONDS: &str = "coffer_audit_record_wait_seconds";

/// The histogram of how long each group commit's write and sync of the journal took: the
/// disk's part of [`RECORD_WAIT_SECONDS`]. The rest is a record waiting for the writer: for
/// the commit before its own, and for a CPU (under load, most of it on a 2-core machine).
pub const JOURNAL_SYNC_SECONDS: &str = "coffer_audit_journal_sync_seconds";

/// Bucket bounds for [`RECORD_WAIT_SECONDS`] and [`JOURNAL_SYNC_SECONDS`], in seconds.
pub const AUDIT_LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5,
];

pub(crate) enum Job {
    Append(Rendered, Reply),
    Cut(mpsc::SyncSender<AuditResult<()>>),
    Digest(mpsc::SyncSender<AuditResult<()>>),
    /// Anchors the head if it moved since it was last anchored.
    Anchor,
}

pub(crate) struct Writer {
    layout: Layout,
    /// The stream this writer appends (`""`: the embedded trail's only one).
    stream: String,
    /// Whether this process seals the trail (cuts and digests): always for the embedded
    /// trail; for a shared one, while this gateway holds the sealer's lease.
    sealing: Arc<AtomicBool>,
    /// The trail's state as last read: it is replaced only if still this (compare-and-swap).
    state_seen: Option<Vec<u8>>,
    journal: Arc<dyn JournalStore>,
    files: Arc<dyn TrailFiles>,
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

impl Writer {
    /// Opens the journal in `stores`, finishing a cut a crash interrupted and recovering
    /// the chain's head, and anchors it.
    pub(crate) fn open(
        layout: &Layout,
        stores: &Stores,
        key: SigningKey,
        chain: Arc<ChainKey>,
        anchors: Arc<dyn AnchorStore>,
    ) -> AuditResult<Self> {
        stores.journal.open()?;
        let mut writer = Writer {
            layout: layout.clone(),
            stream: stores.stream.clone(),
            sealing: Arc::new(AtomicBool::new(!stores.is_shared())),
            state_seen: None,
            journal: stores.journal.clone(),
            files: stores.files.clone(),
            key,
            chain,
            anchors,
            head: Arc::new(Mutex::new(Link::GENESIS)),
            anchored: (Link::GENESIS, Instant::now()),
            maintenance: Arc::new(RwLock::new(())),
            index_feed: None,
        };
        // A shared trail's unfinished cut is the sealer's to finish, at its next cut.
        if !stores.is_shared() {
            writer.finish_cut()?;
        }
        // A state written before the chain existed carries no MAC: authenticate it now, while
        // nothing is anchored yet, or the first cut after an upgrade would refuse it.
        if !stores.is_shared() && stores.files.exists(STATE).unwrap_or(false) {
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
        Ok(writer)
    }

    /// The head as the writer moves it, the lock verifications share with maintenance, and
    /// the switch that says whether this process seals the trail.
    pub(crate) fn shared(&self) -> (Arc<Mutex<Link>>, Arc<RwLock<()>>, Arc<AtomicBool>) {
        (
            self.head.clone(),
            self.maintenance.clone(),
            self.sealing.clone(),
        )
    }

    /// Starts the writer's thread, feeding `index` with what it appends, and the timer that
    /// cuts and signs on `cadence`; returns where jobs go.
    pub(crate) fn start(
        mut self,
        index: Option<IndexFeed>,
        cadence: Cadence,
    ) -> AuditResult<mpsc::Sender<Job>> {
        self.index_feed = index;
        let sealing = self.sealing.clone();
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("coffer-audit".into())
            .spawn(move || self.run(rx))
            .map_err(|e| AuditError::io("cannot start the audit writer", e))?;
        let timer = tx.clone();
        std::thread::Builder::new()
            .name("coffer-audit-timer".into())
            .spawn(move || tick(timer, cadence, &sealing))
            .map_err(|e| AuditError::io("cannot start the audit timer", e))?;
        Ok(tx)
    }
}

/// Counts a batch's records once they are on disk, and how long each waited for that since
/// it was made. An audited request waits this long on top of its own work: the part of an
/// SSE-KMS request's time that an SSE-S3 one does not have (`coffer-bench` reports it).
fn appended_metrics(made: &[Instant]) {
    metrics::counter!("coffer_audit_records_appended_total").increment(made.len() as u64);
    let waited = metrics::histogram!(RECORD_WAIT_SECONDS);
    for at in made {
        waited.record(at.elapsed().as_secs_f64());
    }
}

/// Adds `name: value` as the last member of the serialised object `object`.
fn with_member(object: &mut Vec<u8>, name: &str, value: &Value) -> serde_json::Result<()> {
    if object.last() != Some(&b'}') {
        return Err(serde::ser::Error::custom("a record is a JSON object"));
    }
    object.pop();
    if object.len() > 1 {
        object.push(b',');
    }
    serde_json::to_writer(&mut *object, name)?;
    object.push(b':');
    serde_json::to_writer(&mut *object, value)?;
    object.push(b'}');
    Ok(())
}

/// The last link of `stream` among a journal's lines.
fn last_link_in_lines(bytes: &[u8], stream: &str) -> Option<Link> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
        .filter(|r| Link::stream_of(&r[CHAIN_MEMBER]) == stream)
        .filter_map(|r| Link::from_json(&r[CHAIN_MEMBER]))
        .next_back()
}

fn tick(jobs: mpsc::Sender<Job>, cadence: Cadence, sealing: &AtomicBool) {
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
        if !sealing.load(Ordering::Acquire) {
            // Another gateway seals. When this one takes over it cuts at once (a dead
            // sealer's gateway may have left records no one indexed), and signs a digest
            // one period later.
            since_cut = cadence.log_file_every;
            since_digest = Duration::ZERO;
            continue;
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
                let (records, replies): (Vec<Rendered>, Vec<_>) = appended.into_iter().unzip();
                let made: Vec<Instant> = records.iter().map(|r| r.made).collect();
                let result = self.append(records);
                // Before the answers, so that whoever got one finds its record counted.
                if result.is_ok() {
                    appended_metrics(&made);
                }
                for reply in replies {
                    reply.send(result.clone());
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
    fn append(&mut self, records: Vec<Rendered>) -> AuditResult<()> {
        let mut head = *self.head.lock().unwrap_or_else(|p| p.into_inner());
        let first = head.seq + 1;
        let mut buf = Vec::with_capacity(records.iter().map(|r| r.canonical.len() + 160).sum());
        let mut linked = Vec::with_capacity(records.len());
        for record in records {
            // The MAC covers the canonical bytes, and the journal's line is the same bytes
            // with the link added as the last member (any order of members reads back the
            // same, and verification sorts them again).
            let mut line = record.canonical;
            let link = self
                .chain
                .link_canonical(&self.stream, &head, head.seq + 1, &line);
            with_member(&mut line, CHAIN_MEMBER, &link.to_json_in(&self.stream))
                .map_err(|e| AuditError::malformed("audit record", e))?;
            buf.extend_from_slice(&line);
            buf.push(b'\n');
            head = link;
            // The index keeps the line as the journal has it, without serialising it again.
            if self.index_feed.is_some() {
                linked.push(crate::index::Appended {
                    link,
                    entry: coffer_store::IndexedRecord {
                        seq: link.seq,
                        time: record.time,
                        terms: record.terms,
                        record: line,
                    },
                });
            }
        }
        let syncing = Instant::now();
        self.journal.append(first, &buf)?;
        metrics::histogram!(JOURNAL_SYNC_SECONDS).record(syncing.elapsed().as_secs_f64());
        // Queued for the index before the head moves: a lookup that sees the new head and
        // asks the index to flush finds these records already queued.
        if let Some(feed) = &self.index_feed {
            // A stopped indexer is caught up from the files at the next start; lookups read
            // the files meanwhile.
            if feed.records(linked).is_err() {
                tracing::error!("the audit index stopped; lookups read the trail's files");
                self.index_feed = None;
            }
        }
        *self.head.lock().unwrap_or_else(|p| p.into_inner()) = head;
        Ok(())
    }

    /// The newest link of this writer's stream on disk: the journal's last record, else the
    /// last cut's.
    fn recover_head(&mut self) -> AuditResult<Link> {
        let journal = self.journal.read().unwrap_or_default();
        if let Some(link) = last_link_in_lines(&journal, &self.stream) {
            return Ok(link);
        }
        // Records taken by an unfinished cut are still the newest (a shared trail leaves
        // the cut for its sealer to finish).
        let cut = self.journal.read_unfinished_cut()?.unwrap_or_default();
        if let Some(link) = last_link_in_lines(&cut, &self.stream) {
            return Ok(link);
        }
        let state = self.state()?;
        let head = if self.stream.is_empty() {
            state.chain_head.as_ref()
        } else {
            state.streams.get(&self.stream)
        };
        Ok(head.and_then(Link::from_json).unwrap_or(Link::GENESIS))
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
    fn write_anchor(&mut self, head: Link) -> AuditResult<()> {
        if head == Link::GENESIS {
            return Ok(());
        }
        let bytes = anchor_bytes(&self.chain, &self.stream, head);
        let file = anchor_file(&self.stream);
        self.files
            .write_durably(&file, &bytes)
            .map_err(|e| AuditError::io(&file, e))?;
        self.anchors.save(head.seq, &bytes)?;
        self.anchored = (head, Instant::now());
        Ok(())
    }

    /// The links the anchor file and the anchor store hold, where their MACs verify.
    fn anchors_on_record(&self) -> Vec<Link> {
        let file = self.files.read(&anchor_file(&self.stream)).ok().flatten();
        let stored = self.anchors.load().ok().flatten();
        [file, stored]
            .into_iter()
            .flatten()
            .filter_map(|b| parse_anchor(&self.chain, &b).ok())
            .filter(|(stream, _)| *stream == self.stream)
            .map(|(_, link)| link)
            .collect()
    }

    fn anchored_ever(&self) -> bool {
        self.files
            .exists(&anchor_file(&self.stream))
            .unwrap_or(false)
            || matches!(self.anchors.load_all().as_deref(), Ok([_, ..]))
    }

    /// Reads the trail's state, and remembers it as the one a save must replace.
    fn state(&mut self) -> AuditResult<DigestState> {
        let (bytes, state) =
            read_state_as_stored(self.files.as_ref(), &self.chain, self.anchored_ever())
                .inspect_err(|e| {
                    tracing::error!(
                        target: "coffer::integrity",
                        error = %e,
                        "integrity alert: the audit trail's state was changed"
                    )
                })?;
        self.state_seen = bytes;
        Ok(state)
    }

    /// Replaces the state read last, if it is still what is stored: a sealer that lost its
    /// lease and wakes late cannot overwrite what its successor did since.
    fn save_state(&mut self, state: &DigestState) -> AuditResult<()> {
        let mut value = serde_json::to_value(state).map_err(|e| AuditError::malformed(STATE, e))?;
        let mac = self.chain.tag(STATE_TAG, &value);
        value["mac"] = json!(mac);
        let bytes =
            serde_json::to_vec_pretty(&value).map_err(|e| AuditError::malformed(STATE, e))?;
        let swapped = self
            .files
            .swap(STATE, self.state_seen.as_deref(), &bytes)
            .map_err(|e| AuditError::io("digest state", e))?;
        if !swapped {
            metrics::counter!("coffer_audit_state_conflicts_total").increment(1);
            return Err(AuditError::Raced(
                "another sealer changed the trail's state since this one read it",
            ));
        }
        self.state_seen = Some(bytes);
        Ok(())
    }

    /// Moves the journal aside and turns it into a log file.
    fn cut(&mut self) -> AuditResult<()> {
        match self.journal.take_for_cut()? {
            Some(cut) => self.cut_to_log_file(cut),
            None => Ok(()),
        }
    }

    /// Finishes a cut a crash (or a failure) interrupted, if there is one.
    fn finish_cut(&mut self) -> AuditResult<()> {
        match self.journal.unfinished_cut()? {
            Some(cut) => self.cut_to_log_file(cut),
            None => Ok(()),
        }
    }

    /// Writes the log file of a journal moved aside (also after a crash), then forgets it.
    fn cut_to_log_file(&mut self, token: CutToken) -> AuditResult<()> {
        // The local files' names, in errors as before the stores were traits.
        let (rolling, tmp) = (
            self.layout.file(ROLLING).display().to_string(),
            self.layout.file(CUT_TMP).display().to_string(),
        );
        let lines = self.journal.cut_records(&token)?;
        let staged = self
            .files
            .stage(CUT_TMP)
            .map_err(|e| AuditError::io(tmp.as_str(), e))?;
        if let Some(cut) = crate::log_file::write(lines, &rolling, staged, &tmp)? {
            // Named by its content (newest record's time and hash), so finishing a cut after
            // a crash names the file it may already have written, not a second copy.
            let stamp =
                OffsetDateTime::parse(&cut.newest, &time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|_| OffsetDateTime::now_utc());
            let path = self.layout.log_file(stamp, &cut.hash[..16]);
            let mut state = self.state()?;
            // A cut the state already holds (another sealer finished it and may have
            // digested it since, so it is no longer pending): its log file is in the trail
            // already, and listing it again would repeat its records.
            let recorded = |stream: &str| {
                let head = if stream.is_empty() {
                    state.chain_head.as_ref()
                } else {
                    state.streams.get(stream)
                };
                head.and_then(Link::from_json).map_or(0, |l| l.seq)
            };
            let already = !cut.last_links.is_empty()
                && cut
                    .last_links
                    .iter()
                    .all(|(stream, link)| recorded(stream) >= link.seq);
            if already {
                cut.staged
                    .discard()
                    .map_err(|e| AuditError::io(CUT_TMP, e))?;
                return self.journal.finish_cut(token);
            }
            for (stream, link) in &cut.last_links {
                if stream.is_empty() {
                    state.chain_head = Some(link.to_json());
                } else {
                    state
                        .streams
                        .insert(stream.clone(), link.to_json_in(stream));
                }
            }
            if state.pending.iter().any(|p| p.hash == cut.hash)
                || self.files.exists(&path).unwrap_or(false)
            {
                cut.staged
                    .discard()
                    .map_err(|e| AuditError::io(CUT_TMP, e))?;
            } else {
                cut.staged
                    .commit(&path)
                    .map_err(|e| AuditError::io(&path, e))?;
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
            self.index_other_streams(&token);
        }
        self.journal.finish_cut(token)
    }

    /// Hands the cut's records of other gateways to the index, for those their own
    /// gateways did not index (they died first): only a trail several gateways share has any.
    fn index_other_streams(&self, token: &CutToken) {
        let Some(feed) = self.index_feed.as_ref().filter(|_| !self.stream.is_empty()) else {
            return;
        };
        let mut lines = Vec::new();
        if let Ok(mut records) = self.journal.cut_records(token) {
            let _ = std::io::Read::read_to_end(&mut records, &mut lines);
        }
        let _ = feed.others(lines);
    }

    /// Signs a digest over the log files cut since the last digest (even none, as
    /// CloudTrail does), chained to the previous digest's hash and signature.
    fn digest(&mut self) -> AuditResult<()> {
        let mut state = self.state()?;
        // Never before the last digest's end, whichever gateway's clock signed that one:
        // digests sort by their end, and the chain is walked in that order.
        let mut now = OffsetDateTime::now_utc();
        if let Some(last) = state.last_end.as_deref().and_then(|t| {
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        }) {
            now = now.max(last);
        }
        let end = rfc3339(now);
        let start = state.last_end.clone().unwrap_or_else(|| end.clone());
        let sequence = state.sequence + 1;
        let path = self.layout.digest_file(now, sequence, &self.stream);
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
        let bytes = serde_json::to_vec(&content).map_err(|e| AuditError::malformed(&path, e))?;
        let hash = sha256_hex(&bytes);
        let signed = signed_string(&end, &path, &hash, prev.map(|p| p.signature.as_str()));
        let signature = hex::encode(self.key.sign(signed.as_bytes())?);
        // The signature first: a digest is never on disk without it.
        self.files
            .put_new(&signature_path(&path), signature.as_bytes())
            .map_err(|e| AuditError::io(&path, e))?;
        gzip(&bytes)
            .and_then(|gz| self.files.put_new(&path, &gz))
            .map_err(|e| AuditError::io(&path, e))?;
        let head = serde_json::to_vec(&json!({
            "sequence": sequence,
            "digest": path,
            "hash": hash,
            "signedAt": end,
        }))
        .map_err(|e| AuditError::malformed(HEAD, e))?;
        let head_signature = hex::encode(self.key.sign(&head)?);
        state.sequence = sequence;
        state.pending.clear();
        state.last_end = Some(end);
        state.previous = Some(PreviousDigest {
            path: path.clone(),
            hash,
            signature,
        });
        if let Err(e) = self.save_state(&state) {
            if matches!(e, AuditError::Raced(_)) {
                // Another sealer signed the digest after the same one: this one is not in
                // the chain, and left in place it would read as a fork.
                let _ = self.files.remove(&signature_path(&path));
                let _ = self.files.remove(&path);
            }
            return Err(e);
        }
        self.files
            .write_durably(HEAD, &head)
            .map_err(|e| AuditError::io(HEAD, e))?;
        self.files
            .write_durably(&signature_path(HEAD), head_signature.as_bytes())
            .map_err(|e| AuditError::io(HEAD, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::canonical;

    #[test]
    fn a_line_is_the_canonical_record_with_its_link_last() {
        let chain = ChainKey::new(&zeroize::Zeroizing::new([7u8; 32]));
        let record = json!({ "eventName": "Decrypt", "b": [1, { "z": 1, "a": null }] });
        let mut line = Vec::new();
        canonical(&record, &mut line);
        let link = chain.link_canonical("", &Link::GENESIS, 1, &line);
        with_member(&mut line, CHAIN_MEMBER, &link.to_json()).unwrap();
        // The canonical record, then the link (whose own members are in whatever order
        // serde_json keeps: its `preserve_order` feature may be on in a workspace build).
        let text = String::from_utf8(line.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"b":[1,{"a":null,"z":1}],"eventName":"Decrypt","cofferChain":{"#),
            "{text}"
        );
        // Read back, the record verifies as if it had been serialised whole.
        let read: Value = serde_json::from_slice(&line).unwrap();
        let (carried, bare) = Link::split(&read);
        assert_eq!(carried, Some(link));
        assert_eq!(chain.link(&Link::GENESIS, 1, &bare), link);

        let mut empty = b"{}".to_vec();
        with_member(&mut empty, "m", &json!(1)).unwrap();
        assert_eq!(empty, br#"{"m":1}"#);
        assert!(with_member(&mut b"[]".to_vec(), "m", &json!(1)).is_err());
    }
}
