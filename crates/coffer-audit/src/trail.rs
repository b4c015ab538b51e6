//! The trail: an append-only journal that is durable before a request is answered (group
//! commit: every record waiting at that moment shares one fsync), cut into gzip log files,
//! and covered by signed, chained digests.
//!
//! One thread owns the files (`writer.rs`), so appends, cuts and digests never interleave. A
//! crash loses nothing acknowledged: the journal is fsynced before `record` returns; a cut
//! renames the journal aside first and names its log file by content, so finishing it after
//! a crash writes the same file once.

use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::oneshot;

use crate::anchor::AnchorStore;
use crate::chain::{ChainKey, Link};
use crate::error::{AuditError, AuditResult};
use crate::event::AuditEvent;
use crate::index::{Cursor, IndexReader, Indexer, Page};
use crate::layout::{Layout, PUBLIC_KEY, rfc3339};
use crate::lookup::Filter;
use crate::receipt::{Receipt, Reply};
use crate::rendered::Rendered;
use crate::signing::SigningKey;
use crate::stores::Stores;
use crate::writer::{Job, Writer};

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

/// The audit trail of one server.
pub struct AuditLog {
    layout: Layout,
    stores: Stores,
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
    /// Whether this process seals the trail (see [`AuditLog::set_sealing`]).
    sealing: Arc<std::sync::atomic::AtomicBool>,
}

impl AuditLog {
    /// Opens (or starts) the trail under `layout.root` (`<data>/audit`): [`Self::open_in`]
    /// with the journal and the files kept there.
    pub fn open(
        layout: Layout,
        key: SigningKey,
        chain: ChainKey,
        anchors: Arc<dyn AnchorStore>,
        index: Option<Arc<dyn coffer_store::AuditStore>>,
        cadence: Cadence,
    ) -> AuditResult<Self> {
        crate::local_files::private_dir(&layout.root)
            .map_err(|e| AuditError::io("the audit folder", e))?;
        let stores = Stores::local(&layout);
        Self::open_in(layout, stores, key, chain, anchors, index, cadence)
    }

    /// Opens (or starts) the trail kept in `stores` and named by `layout` (its account and
    /// region), finishing a cut a crash interrupted, and starts the thread that owns it and
    /// the timer that cuts and signs on `cadence`. With an `index`, lookups read it instead
    /// of every file.
    pub fn open_in(
        layout: Layout,
        stores: Stores,
        key: SigningKey,
        chain: ChainKey,
        anchors: Arc<dyn AnchorStore>,
        index: Option<Arc<dyn coffer_store::AuditStore>>,
        cadence: Cadence,
    ) -> AuditResult<Self> {
        let public_key = key.public_key();
        stores
            .files
            .write_durably(PUBLIC_KEY, hex::encode(&public_key).as_bytes())
            .map_err(|e| AuditError::io("cannot publish the audit public key", e))?;
        let chain = Arc::new(chain);
        let writer = Writer::open(&layout, &stores, key, chain.clone(), anchors.clone())?;
        let (index_feed, index) = match index {
            Some(index) => {
                let (feed, reader) = Indexer::start(index, &layout, &stores, chain.clone())?;
                (Some(feed), Some(reader))
            }
            None => (None, None),
        };
        let (head, maintenance, sealing) = writer.shared();
        let jobs = writer.start(index_feed, cadence)?;
        Ok(Self {
            layout,
            stores,
            jobs,
            chain,
            anchors,
            head,
            public_key,
            maintenance,
            index,
            sealing,
        })
    }

    /// Whether this process seals the trail: cuts its journal into log files and signs its
    /// digests. Always on for the embedded trail; for one several gateways share, switched
    /// on while this gateway holds the sealer's lease.
    pub fn set_sealing(&self, on: bool) {
        self.sealing.store(on, std::sync::atomic::Ordering::Release);
    }

    pub fn is_sealing(&self) -> bool {
        self.sealing.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Where the trail is kept.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The newest acknowledged record's link.
    pub fn head(&self) -> Link {
        *self.head.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Verifies the whole trail against this server's keys, its anchor and its live head.
    ///
    /// A trail several gateways share may be cut or signed by another gateway while this
    /// runs (its files are read one after another, not in one snapshot), which can look like
    /// records moved or removed: a failed verification of a shared trail is run again, up
    /// to twice, and only a failure that stays is reported. Tampering stays.
    pub fn verify(&self, from: Option<&str>, to: Option<&str>) -> crate::Report {
        let mut report = self.verify_once(from, to);
        for _ in 0..2 {
            if report.passed() || !self.stores.is_shared() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
            report = self.verify_once(from, to);
        }
        report
    }

    fn verify_once(&self, from: Option<&str>, to: Option<&str>) -> crate::Report {
        let _quiet = self.maintenance.read().unwrap_or_else(|p| p.into_inner());
        crate::verify::verify_in(
            &self.layout,
            &self.stores,
            &crate::verify::Trust {
                signing_key: Some(&self.public_key),
                chain: Some(&self.chain),
                stored_anchors: self.anchors.load_all(),
                live_head: Some((self.stores.stream.clone(), self.head())),
            },
            from,
            to,
        )
    }

    /// Records `event`; returns once it is on disk. A caller whose event could not be
    /// recorded must fail its request: an unrecorded key use has not happened.
    pub fn record(&self, event: &AuditEvent) -> AuditResult<()> {
        let record = self.rendered(event);
        self.call(|reply| Job::Append(record, Reply::Blocked(reply)))
    }

    /// `event`'s record, stamped now and with its own event id, ready for the writer.
    fn rendered(&self, event: &AuditEvent) -> Rendered {
        let now = rfc3339(OffsetDateTime::now_utc());
        let event_id = crate::event::new_event_id();
        let layout = &self.layout;
        Rendered::of_event(event, &layout.account_id, &layout.region, &now, &event_id)
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

    /// [`AuditLog::record`] for a task: hands the record to the writer at once and returns
    /// the receipt to await, rather than blocking a runtime worker (or handing it to another
    /// thread) for the fsync. The caller must not act on what the record attests before the
    /// receipt resolves.
    pub fn record_queued(&self, event: &AuditEvent) -> AuditResult<Receipt> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Append(self.rendered(event), Reply::Awaited(reply)))
            .map_err(|_| AuditError::WriterStopped)?;
        Ok(Receipt(answer))
    }

    /// Appends a rendered record; returns once it is on disk.
    pub fn append(&self, record: Value) -> AuditResult<()> {
        // The writer links it: only it knows the record before.
        let record = Rendered::from_value(record);
        self.call(|reply| Job::Append(record, Reply::Blocked(reply)))
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
        crate::lookup::recent_records(&self.layout, &self.stores, 2)
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
    ) -> AuditResult<Page> {
        if let Some(index) = &self.index
            && let Some(found) = index.find(filter, self.head().seq, before, limit)
        {
            metrics::counter!("coffer_audit_lookups_total", "via" => "index").increment(1);
            return found;
        }
        metrics::counter!("coffer_audit_lookups_total", "via" => "files").increment(1);
        Ok(crate::lookup::page(
            crate::lookup::lookup_in(&self.layout, &self.stores, filter),
            before,
            limit,
        ))
    }

    /// Visits every record matching `filter`, newest first, a page of `page` at a time (so
    /// memory stays one page), until `visit` returns false or the records run out. Returns
    /// whether `visit` stopped it with records still unvisited (without reading them).
    pub fn for_each_found(
        &self,
        filter: &Filter,
        page: usize,
        mut visit: impl FnMut(&serde_json::Value) -> bool,
    ) -> AuditResult<bool> {
        let mut before = None;
        loop {
            let (records, next) = self.find(filter, before.as_ref(), page)?;
            for (i, r) in records.iter().enumerate() {
                if !visit(r) {
                    return Ok(i + 1 < records.len() || next.is_some());
                }
            }
            match next {
                Some(n) => before = Some(n),
                None => return Ok(false),
            }
        }
    }

    /// Cuts the journal into a log file now (if it holds anything).
    pub fn cut(&self) -> AuditResult<()> {
        self.call(Job::Cut)
    }

    /// Cuts, then signs a digest over every log file since the last digest.
    pub fn digest(&self) -> AuditResult<()> {
        self.call(Job::Cut)?;
        self.call(Job::Digest)
    }

    fn call(&self, job: impl FnOnce(mpsc::SyncSender<AuditResult<()>>) -> Job) -> AuditResult<()> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.jobs
            .send(job(reply))
            .map_err(|_| AuditError::WriterStopped)?;
        answer.recv().map_err(|_| AuditError::WriterStopped)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::JOURNAL;
    use crate::{Identity, KMS_SOURCE, MemoryAnchorStore, Origin};
    use std::time::Instant;

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

    /// With no lookup to flush it, the indexer still takes every appended record on its
    /// own deadlines: records appended in bursts across several gathering periods all reach
    /// the index, and its anchor follows the newest. (A wake handled by a commit once left
    /// the records that came with it in the buffer with no deadline set, and the writer,
    /// finding the buffer not empty, never woke the indexer again.)
    #[test]
    fn the_index_takes_every_record_without_a_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let index =
            Arc::new(coffer_store::RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap());
        let log = AuditLog::open(
            Layout::new(dir.path(), "000000000000", "us-east-1"),
            SigningKey::from_pkcs8(&SigningKey::generate().unwrap()).unwrap(),
            ChainKey::new(&zeroize::Zeroizing::new([1u8; 32])),
            Arc::new(MemoryAnchorStore::default()),
            Some(index.clone()),
            Cadence::default(),
        )
        .unwrap();
        // Four threads append without pause for two seconds: a wake is queued right after
        // each drain, so some are taken when a gathered batch is already due.
        let log = Arc::new(log);
        let appenders: Vec<_> = (0..4)
            .map(|_| {
                let log = log.clone();
                std::thread::spawn(move || {
                    let started = Instant::now();
                    let mut n = 0u64;
                    while started.elapsed() < Duration::from_secs(2) {
                        log.record(&event()).unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let appended: u64 = appenders.into_iter().map(|t| t.join().unwrap()).sum();
        let deadline = Instant::now() + Duration::from_secs(3);
        let indexed = loop {
            let through =
                coffer_store::AuditStore::audit_indexed_through(index.as_ref(), "").unwrap();
            if through == appended || Instant::now() > deadline {
                break through;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(indexed, appended, "records left out of the index");
        let anchor = coffer_store::AuditStore::audit_anchor(index.as_ref(), "")
            .unwrap()
            .unwrap();
        let (_, link) = crate::anchor::parse_anchor(&log.chain, &anchor).unwrap();
        assert_eq!(link.seq, appended, "the anchor in the metadata store lags");
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
