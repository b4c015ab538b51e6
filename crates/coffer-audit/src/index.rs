//! The lookup index: every chained record under the terms it is found by (user, key, event
//! name, event source, event id, access key, bucket and object), ordered by time, kept in the
//! metadata store so that a lookup reads only what it returns.
//!
//! The trail's files stay the authority; the index is a copy built beside them. It is fed
//! by its own thread after each append is on disk, so it never delays an acknowledgement,
//! and caught up from the files at start. Appended records wait in a shared buffer that
//! the indexer takes at its deadlines; the writer wakes it only when it finds the buffer
//! empty, not once per fsync (that was 2,300-2,700 wake-ups over 5,000 SSE-KMS GETs). It
//! also keeps the chain's anchor in the metadata store at most [`ANCHOR_WITHIN`] behind the
//! journal: each batch it indexes moves the anchor in the same commit, and records held
//! longer than that are anchored on their own.
//! A lookup first waits for the index to hold every record acknowledged before it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use coffer_store::{AuditStore, IndexCursor, IndexScan, IndexedRecord};

use crate::chain::{CHAIN_MEMBER, ChainKey, Link};
use crate::error::{AuditError, AuditResult};
use crate::event::AuditEvent;
use crate::layout::Layout;
use crate::lookup::Filter;
use crate::stores::Stores;

/// A place in the index: (event time, chain position). Lookups page by it, newest first.
pub type Cursor = IndexCursor;

/// A page of records, newest first, and where the next one starts if there may be more.
pub type Page = (Vec<Value>, Option<Cursor>);

/// Every record, whatever it holds.
const ALL: &str = "*";

/// The terms a record is found by.
pub(crate) fn terms(record: &Value) -> Vec<String> {
    let identity = &record["userIdentity"];
    term_list(
        identity["userName"].as_str(),
        identity["accessKeyId"].as_str(),
        record["eventName"].as_str(),
        record["eventID"].as_str(),
        record["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["ARN"].as_str()),
        &record["requestParameters"],
    )
}

/// The terms of `event`'s record named `event_id`, from its fields: the same as [`terms`]
/// of the record (a test in `rendered.rs` holds them to it).
pub(crate) fn event_terms(event: &AuditEvent, event_id: &str) -> Vec<String> {
    let identity = event.identity.as_ref();
    term_list(
        identity.map(|i| i.user_name.as_str()),
        identity.and_then(|i| i.access_key_id.as_deref()),
        Some(&event.event_name),
        Some(event_id),
        event.resources.iter().map(|arn| Some(arn.as_str())),
        &event.request_parameters,
    )
}

fn term_list<'a>(
    user: Option<&str>,
    access_key_id: Option<&str>,
    event_name: Option<&str>,
    event_id: Option<&str>,
    resources: impl Iterator<Item = Option<&'a str>>,
    request_parameters: &Value,
) -> Vec<String> {
    let mut out = Vec::with_capacity(10);
    out.push(ALL.to_owned());
    let mut add = |name: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            // Not `format!`: on every audited call, its machinery cost more than the copy.
            let mut term = String::with_capacity(name.len() + 1 + v.len());
            term.push_str(name);
            term.push('=');
            term.push_str(v);
            out.push(term);
        }
    };
    add("user", user);
    add("akid", access_key_id);
    add("event", event_name);
    add("id", event_id);
    // A resource by the last part of its ARN (a key's id): a lookup by ARN or by id reads
    // the same term, and the filter tells them apart.
    for arn in resources {
        add("res", arn.map(resource_tail));
    }
    if let Some(target) = request_parameters["encryptionContext"]["aws:s3:arn"]
        .as_str()
        .map(|a| a.trim_start_matches("arn:aws:s3:::"))
    {
        let bucket = target.split('/').next();
        add("object", bucket);
        if Some(target) != bucket {
            add("object", Some(target));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn resource_tail(arn: &str) -> &str {
    arn.rsplit_once('/').map_or(arn, |(_, tail)| tail)
}

/// The most selective term a filter names; the filter itself then checks the rest. An
/// event source is no term (a handful of values): it is checked on the records read.
fn term_for(filter: &Filter) -> String {
    let user = filter
        .user
        .as_deref()
        .map(|u| u.rsplit_once(":user/").map_or(u, |(_, name)| name));
    let object = filter.object.as_deref().map(|o| match o.split_once('/') {
        // A key prefix is not a term: its bucket is, and the filter checks the prefix.
        Some((bucket, rest)) if !rest.is_empty() => bucket,
        _ => o.trim_end_matches('/'),
    });
    [
        ("id", filter.event_id.as_deref()),
        ("res", filter.key.as_deref().map(resource_tail)),
        ("akid", filter.access_key_id.as_deref()),
        ("user", user),
        ("object", object),
        ("event", filter.event_name.as_deref()),
    ]
    .into_iter()
    .find_map(|(name, v)| v.map(|v| format!("{name}={v}")))
    .unwrap_or_else(|| ALL.to_owned())
}

fn entry(seq: u64, record: &Value, bytes: Vec<u8>) -> Option<IndexedRecord> {
    Some(IndexedRecord {
        seq,
        time: record["eventTime"].as_str()?.to_owned(),
        terms: terms(record),
        record: bytes,
    })
}

/// Feeds the index and says how far it is.
pub(crate) struct Indexer {
    index: Arc<dyn AuditStore>,
    through: Arc<(Mutex<u64>, Condvar)>,
    /// Set when entries were lost (an index write failed): the next round catches up from
    /// the files.
    behind: Arc<AtomicBool>,
    layout: Layout,
    /// Where the records it catches up from are kept.
    stores: Stores,
    /// Authenticates the anchor each indexed batch moves in the metadata store.
    chain: Arc<ChainKey>,
    /// The stream this process appends and indexes: each gateway indexes its own records.
    stream: String,
}

/// A record the writer appended: its link, and its index entry (the line as the journal
/// has it, its time and terms).
pub(crate) struct Appended {
    pub link: Link,
    pub entry: IndexedRecord,
}

impl Appended {
    fn seq(&self) -> u64 {
        self.link.seq
    }
}

/// What the indexer's thread is sent.
pub(crate) enum Feed {
    /// Appended records wait in the buffer, which held none before.
    Records,
    /// A lookup is waiting: index what is held now, without waiting out the delay.
    Flush,
    /// Other gateways' records, as the sealer cut them (journal lines): a gateway that died
    /// before indexing its newest records would otherwise leave them out of every lookup.
    Others(Vec<u8>),
}

/// The writer's end: appended records go here once they are on disk.
#[derive(Clone)]
pub(crate) struct IndexFeed {
    held: Held,
    wake: mpsc::Sender<Feed>,
}

/// Records appended and not yet taken by the indexer.
type Held = Arc<Mutex<Vec<Appended>>>;

/// The indexer's thread has stopped.
pub(crate) struct Stopped;

impl IndexFeed {
    /// Queues records that are on disk. The indexer is woken only if it held none: it then
    /// takes everything queued when its gathering or anchoring deadline comes.
    pub(crate) fn records(&self, records: Vec<Appended>) -> Result<(), Stopped> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let was_empty = held.is_empty();
        held.extend(records);
        drop(held);
        if was_empty {
            self.wake.send(Feed::Records).map_err(|_| Stopped)?;
        }
        Ok(())
    }

    /// Hands other gateways' records (journal lines) to the indexer.
    pub(crate) fn others(&self, lines: Vec<u8>) -> Result<(), Stopped> {
        self.wake.send(Feed::Others(lines)).map_err(|_| Stopped)
    }
}

/// How long the indexer gathers records before it commits them, unless a lookup waits. A
/// commit's cost is mostly per commit, not per record (it copies each B-tree page it
/// touches, one per term, and syncs): at 50 ms, sequential KMS calls took 8-11% longer
/// than before the index; at 500 ms, none (`scripts/bench-ab.sh` with AB_KMS_LATENCY=1).
const GATHER_FOR: Duration = Duration::from_millis(500);
/// How far the anchor in the metadata store may trail the journal: records held for the
/// next index commit are anchored on their own (a one-row commit) after this long.
const ANCHOR_WITHIN: Duration = Duration::from_millis(50);
/// Most records indexed in one commit.
const MAX_GATHER: usize = 4096;

/// A lookup waits at most this long for the index before reading the files instead.
const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

/// The lookup side of the index.
#[derive(Clone)]
pub(crate) struct IndexReader {
    index: Arc<dyn AuditStore>,
    through: Arc<(Mutex<u64>, Condvar)>,
    feed: mpsc::Sender<Feed>,
}

/// Moves what the writer queued into `batch`.
fn drain(held: &Held, batch: &mut Vec<Appended>) {
    batch.append(&mut held.lock().unwrap_or_else(|p| p.into_inner()));
}

impl Indexer {
    /// Catches the index up with the trail's files and starts the thread that indexes new
    /// records.
    pub(crate) fn start(
        index: Arc<dyn AuditStore>,
        layout: &Layout,
        stores: &Stores,
        chain: Arc<ChainKey>,
    ) -> AuditResult<(IndexFeed, IndexReader)> {
        let indexer = Indexer {
            index: index.clone(),
            through: Arc::new((Mutex::new(0), Condvar::new())),
            behind: Arc::new(AtomicBool::new(true)),
            layout: layout.clone(),
            stores: stores.clone(),
            chain,
            stream: stores.stream.clone(),
        };
        indexer.catch_up();
        let (wake, rx) = mpsc::channel::<Feed>();
        let held = Held::default();
        let reader = IndexReader {
            index,
            through: indexer.through.clone(),
            feed: wake.clone(),
        };
        let taken = held.clone();
        std::thread::Builder::new()
            .name("coffer-audit-index".into())
            .spawn(move || indexer.run(rx, &taken))
            .map_err(|e| AuditError::io("cannot start the audit indexer", e))?;
        Ok((IndexFeed { held, wake }, reader))
    }

    fn run(self, rx: mpsc::Receiver<Feed>, held: &Held) {
        let mut batch: Vec<Appended> = Vec::new();
        // When the batch's first record came (it is committed GATHER_FOR later), and when
        // its records not yet anchored must be (ANCHOR_WITHIN after the first of them).
        let mut gathering_since: Option<Instant> = None;
        let mut anchor_due: Option<Instant> = None;
        loop {
            let deadline = [gathering_since.map(|t| t + GATHER_FOR), anchor_due]
                .into_iter()
                .flatten()
                .min();
            let feed = match deadline {
                // Nothing held: wait as long as it takes; a closed channel ends the thread.
                None => match rx.recv() {
                    Ok(feed) => feed,
                    Err(_) => {
                        drain(held, &mut batch);
                        self.commit(std::mem::take(&mut batch));
                        return;
                    }
                },
                Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(feed) => feed,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.on_deadline(held, &mut batch, &mut gathering_since, &mut anchor_due);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        drain(held, &mut batch);
                        self.commit(std::mem::take(&mut batch));
                        return;
                    }
                },
            };
            // This message and what else is queued already (a flush asks for all of it).
            let mut records = false;
            let mut flush = false;
            for feed in std::iter::once(feed).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                match feed {
                    Feed::Records => records = true,
                    Feed::Flush => flush = true,
                    Feed::Others(lines) => self.index_others(&lines),
                }
            }
            if records {
                let now = Instant::now();
                gathering_since.get_or_insert(now);
                anchor_due.get_or_insert(now + ANCHOR_WITHIN);
            }
            // The buffer is taken only to commit or anchor its records (see `on_deadline`).
            if flush || batch.len() >= MAX_GATHER {
                drain(held, &mut batch);
                self.commit(std::mem::take(&mut batch));
                (gathering_since, anchor_due) = (None, None);
            } else {
                self.on_deadline(held, &mut batch, &mut gathering_since, &mut anchor_due);
            }
        }
    }

    /// Commits the batch once it has gathered long enough, or else anchors its newest
    /// record once that is due.
    ///
    /// Both take what the writer queued first. A commit clears the deadlines, so nothing may
    /// stay behind in the buffer then (the writer wakes this thread only when it finds the
    /// buffer empty); and the buffer is taken only here and on a flush, not at every wake,
    /// or the writer's next append would find it empty and wake this thread again.
    fn on_deadline(
        &self,
        held: &Held,
        batch: &mut Vec<Appended>,
        gathering_since: &mut Option<Instant>,
        anchor_due: &mut Option<Instant>,
    ) {
        let now = Instant::now();
        if gathering_since.is_some_and(|t| now >= t + GATHER_FOR) {
            drain(held, batch);
            self.commit(std::mem::take(batch));
            (*gathering_since, *anchor_due) = (None, None);
        } else if anchor_due.is_some_and(|t| now >= t) {
            drain(held, batch);
            if let Some((seq, bytes)) = self.anchor_of(batch)
                && let Err(e) = self.index.save_audit_anchor(&self.stream, seq, &bytes)
            {
                tracing::error!(error = %e, "cannot anchor the audit chain in the metadata store");
            }
            *anchor_due = None;
        }
    }

    /// The anchor of the newest link among `batch`'s records.
    fn anchor_of(&self, batch: &[Appended]) -> Option<(u64, Vec<u8>)> {
        batch
            .iter()
            .max_by_key(|a| a.seq())
            .map(|a| a.link)
            .map(|l| {
                let bytes = crate::anchor::anchor_bytes(&self.chain, &self.stream, l);
                (l.seq, bytes)
            })
    }

    /// Indexes `batch` in one commit, moving the anchor to its newest record in it too.
    fn commit(&self, batch: Vec<Appended>) {
        if self.behind.load(Ordering::Acquire) {
            self.catch_up();
            if self.behind.load(Ordering::Acquire) {
                // The catch-up failed too: indexing this batch would move the index's mark
                // past the records it still lacks. The files keep them all; a later round
                // catches up.
                return;
            }
        }
        let newest = batch.iter().map(Appended::seq).max().unwrap_or(0);
        if newest <= self.through() {
            // Nothing new (a flush with nothing held): wake whoever waits anyway.
            self.advance(0);
            return;
        }
        let anchor = self.anchor_of(&batch);
        let through = self.through();
        let entries: Vec<IndexedRecord> = batch
            .into_iter()
            .filter(|a| a.seq() > through)
            .map(|a| a.entry)
            // A record without a time cannot be placed (the catch-up skips it too).
            .filter(|e| !e.time.is_empty())
            .collect();
        match self
            .index
            .index_audit_records(&self.stream, entries, anchor)
        {
            Ok(()) => self.advance(newest),
            Err(e) => {
                tracing::error!(error = %e, "cannot index audit records; catching up from the trail's files");
                self.behind.store(true, Ordering::Release);
            }
        }
    }

    /// Indexes the records of other streams among `lines` that their gateways have not
    /// indexed: each stream's run that continues where its index ends (no gaps).
    fn index_others(&self, lines: &[u8]) {
        let mut by_stream: std::collections::BTreeMap<String, Vec<(u64, Value, Vec<u8>)>> =
            Default::default();
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(record) = serde_json::from_slice::<Value>(line) else {
                continue;
            };
            let stream = Link::stream_of(&record[CHAIN_MEMBER]).to_owned();
            if stream == self.stream {
                continue;
            }
            if let Some(link) = Link::from_json(&record[CHAIN_MEMBER]) {
                by_stream
                    .entry(stream)
                    .or_default()
                    .push((link.seq, record, line.to_vec()));
            }
        }
        for (stream, mut records) in by_stream {
            let Ok(mut through) = self.index.audit_indexed_through(&stream) else {
                continue;
            };
            records.sort_by_key(|r| r.0);
            let mut entries = Vec::new();
            for (seq, record, line) in records {
                if seq == through + 1 {
                    through = seq;
                    entries.extend(entry(seq, &record, line));
                }
            }
            if entries.is_empty() {
                continue;
            }
            match self.index.index_audit_records(&stream, entries, None) {
                Ok(()) => tracing::debug!(%stream, through, "indexed another gateway's records"),
                Err(e) => {
                    tracing::warn!(%stream, error = %e, "cannot index another gateway's records")
                }
            }
        }
    }

    fn through(&self) -> u64 {
        *self.through.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn advance(&self, seq: u64) {
        let mut t = self.through.0.lock().unwrap_or_else(|p| p.into_inner());
        *t = (*t).max(seq);
        self.through.1.notify_all();
    }

    /// Indexes every chained record on disk past what the index holds: the live journal, a
    /// journal moved aside, then log files from the newest back to the first one the index
    /// already covers.
    fn catch_up(&self) {
        let through = match self.index.audit_indexed_through(&self.stream) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the audit index");
                return;
            }
        };
        let mut missing: Vec<(u64, Value)> = Vec::new();
        // Takes the records the index lacks; says whether all of them were already indexed.
        let mut take = |records: Vec<Value>| -> bool {
            let mut all_indexed = true;
            for r in records {
                if Link::stream_of(&r[CHAIN_MEMBER]) != self.stream {
                    continue;
                }
                match Link::from_json(&r[CHAIN_MEMBER]) {
                    Some(l) if l.seq > through => {
                        missing.push((l.seq, r));
                        all_indexed = false;
                    }
                    _ => {}
                }
            }
            all_indexed
        };
        for bytes in crate::lookup::journals(&self.stores, true) {
            take(
                bytes
                    .split(|b| *b == b'\n')
                    .filter_map(|l| serde_json::from_slice(l).ok())
                    .collect(),
            );
        }
        // Log files sort by their newest record's time; two cut in the same minute may sort
        // either way, so the walk stops only after two files the index already covers.
        let mut covered = 0;
        let files = self.stores.files.as_ref();
        for name in files
            .list(&self.layout.logs_dir(), ".json.gz")
            .unwrap_or_default()
            .into_iter()
            .rev()
        {
            if take(crate::lookup::log_file_records(files, &name)) {
                covered += 1;
                if covered >= 2 {
                    break;
                }
            }
        }
        missing.sort_by_key(|(s, _)| *s);
        missing.dedup_by_key(|(s, _)| *s);
        let newest = missing.last().map_or(through, |(s, _)| *s);
        let count = missing.len();
        for chunk in missing.chunks(4096) {
            let entries = chunk
                .iter()
                .filter_map(|(s, r)| entry(*s, r, serde_json::to_vec(r).ok()?))
                .collect();
            if let Err(e) = self.index.index_audit_records(&self.stream, entries, None) {
                tracing::error!(error = %e, "cannot index audit records");
                return;
            }
        }
        if count > 0 {
            tracing::info!(
                records = count,
                "indexed audit records from the trail's files"
            );
        }
        self.behind.store(false, Ordering::Release);
        self.advance(newest);
    }
}

impl IndexReader {
    /// Waits until the index holds every record through `seq`; false if it did not in time.
    fn wait_for(&self, seq: u64) -> bool {
        let (lock, ready) = &*self.through;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        if *guard < seq {
            let _ = self.feed.send(Feed::Flush);
        }
        let (guard, _) = ready
            .wait_timeout_while(guard, CATCH_UP_WAIT, |t| *t < seq)
            .unwrap_or_else(|p| p.into_inner());
        *guard >= seq
    }

    /// Up to `limit` records matching `filter`, newest first, older than `before`, and the
    /// cursor of the last one when more may follow. `None` if the index is not caught up
    /// with `head`.
    pub(crate) fn find(
        &self,
        filter: &Filter,
        head: u64,
        before: Option<&Cursor>,
        limit: usize,
    ) -> Option<AuditResult<Page>> {
        if !self.wait_for(head) {
            return None;
        }
        let term = term_for(filter);
        let mut found = Vec::new();
        let mut place = before.cloned();
        // Reads in pages: the filter may reject some of what the term returns.
        let page = limit.clamp(16, 1024);
        loop {
            let scan = IndexScan {
                term: &term,
                from: filter.from.as_deref(),
                to: filter.to.as_deref(),
                before: place.as_ref(),
                limit: page,
            };
            let batch = match self.index.scan_audit_index(&scan) {
                Ok(b) => b,
                Err(e) => return Some(Err(e.into())),
            };
            let exhausted = batch.len() < page;
            for (at, bytes) in batch {
                place = Some(at.clone());
                let Ok(record) = serde_json::from_slice::<Value>(&bytes) else {
                    continue;
                };
                if filter.matches(&record) {
                    found.push(record);
                    if found.len() == limit {
                        return Some(Ok((found, place)));
                    }
                }
            }
            if exhausted {
                return Some(Ok((found, None)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_is_found_by_its_user_key_event_object_and_id() {
        let r = json!({
            "eventTime": "2026-01-01T00:00:00Z",
            "eventName": "Decrypt",
            "eventSource": "kms.amazonaws.com",
            "eventID": "e-1",
            "userIdentity": {"userName": "alice", "accessKeyId": "AK"},
            "resources": [{"ARN": "arn:aws:kms:us-east-1:1:key/k-1"}],
            "requestParameters": {"encryptionContext": {"aws:s3:arn": "arn:aws:s3:::b/dir/o"}},
        });
        let t = terms(&r);
        for want in [
            "*",
            "user=alice",
            "akid=AK",
            "event=Decrypt",
            "id=e-1",
            "res=k-1",
            "object=b",
            "object=b/dir/o",
        ] {
            assert!(t.contains(&want.to_owned()), "{want} missing from {t:?}");
        }
    }

    #[test]
    fn a_filter_reads_its_most_selective_term() {
        let f = |filter: Filter| term_for(&filter);
        assert_eq!(f(Filter::default()), "*");
        assert_eq!(
            f(Filter {
                user: Some("arn:aws:iam::1:user/bob".into()),
                event_name: Some("Decrypt".into()),
                ..Default::default()
            }),
            "user=bob"
        );
        assert_eq!(
            f(Filter {
                key: Some("arn:aws:kms:us-east-1:1:key/k-1".into()),
                user: Some("bob".into()),
                ..Default::default()
            }),
            "res=k-1"
        );
        assert_eq!(
            f(Filter {
                object: Some("b/dir/".into()),
                ..Default::default()
            }),
            "object=b"
        );
    }
}
