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
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::event::AuditEvent;
use crate::layout::{
    HEAD, JOURNAL, Layout, PUBLIC_KEY, ROLLING, STATE, gzip, rfc3339, sha256_hex, write_durably,
};
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PreviousDigest {
    pub path: String,
    pub hash: String,
    pub signature: String,
}

enum Job {
    Append(Vec<u8>, mpsc::SyncSender<Result<(), String>>),
    Cut(mpsc::SyncSender<Result<(), String>>),
    Digest(mpsc::SyncSender<Result<(), String>>),
}

/// The audit trail of one server.
pub struct AuditLog {
    layout: Layout,
    jobs: mpsc::Sender<Job>,
}

struct Writer {
    layout: Layout,
    journal: File,
    key: SigningKey,
}

impl AuditLog {
    /// Opens (or starts) the trail under `layout`, finishing a cut a crash interrupted, and
    /// starts the thread that owns it and the timer that cuts and signs on `cadence`.
    pub fn open(layout: Layout, key: SigningKey, cadence: Cadence) -> Result<Self, String> {
        crate::layout::private_dir(&layout.root).map_err(|e| e.to_string())?;
        write_durably(
            &layout.file(PUBLIC_KEY),
            hex::encode(key.public_key()).as_bytes(),
        )
        .map_err(|e| format!("cannot publish the audit public key: {e}"))?;
        let journal = open_journal(&layout)?;
        let mut writer = Writer {
            layout: layout.clone(),
            journal,
            key,
        };
        writer.finish_cut()?;
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
        Ok(Self { layout, jobs: tx })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Records `event`; returns once it is on disk. A caller whose event could not be
    /// recorded must fail its request: an unrecorded key use has not happened.
    pub fn record(&self, event: &AuditEvent) -> Result<(), String> {
        let now = OffsetDateTime::now_utc();
        let record = event.to_record(&self.layout.account_id, &self.layout.region, &rfc3339(now));
        let mut line = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
        line.push(b'\n');
        self.call(|reply| Job::Append(line, reply))
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

fn open_journal(layout: &Layout) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(layout.file(JOURNAL))
        .map_err(|e| format!("cannot open the audit journal: {e}"))
}

fn tick(jobs: mpsc::Sender<Job>, cadence: Cadence) {
    let step = cadence.log_file_every.min(cadence.digest_every);
    let mut since_cut = Duration::ZERO;
    let mut since_digest = Duration::ZERO;
    loop {
        std::thread::sleep(step);
        since_cut += step;
        since_digest += step;
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
        while let Ok(first) = jobs.recv() {
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
                let result = self.append(appended.iter().map(|(l, _)| l.as_slice()));
                for (_, reply) in appended {
                    let _ = reply.send(result.clone());
                }
            }
            for job in others {
                match job {
                    Job::Cut(reply) => {
                        let _ = reply.send(self.cut());
                    }
                    Job::Digest(reply) => {
                        let _ = reply.send(self.digest());
                    }
                    Job::Append(..) => {}
                }
            }
        }
    }

    fn append<'a>(&mut self, lines: impl Iterator<Item = &'a [u8]>) -> Result<(), String> {
        let mut buf = Vec::new();
        for l in lines {
            buf.extend_from_slice(l);
        }
        let before = self.journal.metadata().map(|m| m.len()).ok();
        let result = self
            .journal
            .write_all(&buf)
            .and_then(|()| self.journal.sync_data());
        if let Err(e) = result {
            // A partial write would glue the next batch's first record to its fragment:
            // take the fragment back so later acknowledged records stay whole.
            if let Some(len) = before {
                let _ = self.journal.set_len(len);
            }
            return Err(format!("audit journal write failed: {e}"));
        }
        Ok(())
    }

    fn state(&self) -> Result<DigestState, String> {
        match std::fs::read(self.layout.file(STATE)) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| format!("digest state: {e}")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DigestState::default()),
            Err(e) => Err(format!("digest state: {e}")),
        }
    }

    fn save_state(&self, state: &DigestState) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
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
        let bytes = match std::fs::read(&rolling) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        // A torn last line (a crash mid-append, never acknowledged) is dropped. Anything
        // else that does not parse was acknowledged once and is now damaged: kept out of the
        // log file, but said loudly.
        let lines: Vec<&[u8]> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let mut records: Vec<Value> = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_slice(line) {
                Ok(r) => records.push(r),
                Err(_) if i + 1 == lines.len() && !bytes.ends_with(b"\n") => {}
                Err(e) => tracing::error!(
                    target: "coffer::integrity",
                    line = i + 1,
                    error = %e,
                    "integrity alert: a damaged record in the audit journal"
                ),
            }
        }
        if !records.is_empty() {
            let times: Vec<&str> = records
                .iter()
                .filter_map(|r| r["eventTime"].as_str())
                .collect();
            let oldest = times.iter().min().copied().unwrap_or_default().to_owned();
            let newest = times.iter().max().copied().unwrap_or_default().to_owned();
            let content =
                serde_json::to_vec(&json!({ "Records": records })).map_err(|e| e.to_string())?;
            let hash = sha256_hex(&content);
            // Named by its content (newest record's time and hash), so finishing a cut after
            // a crash names the file it may already have written, not a second copy.
            let stamp =
                OffsetDateTime::parse(&newest, &time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|_| OffsetDateTime::now_utc());
            let path = self.layout.log_file(stamp, &hash[..16]);
            let mut state = self.state()?;
            if !state.pending.iter().any(|p| p.hash == hash) {
                let full = self.layout.root.join(&path);
                if !full.exists() {
                    write_durably(&full, &gzip(&content).map_err(|e| e.to_string())?)
                        .map_err(|e| e.to_string())?;
                }
                state.pending.push(LogFileEntry {
                    path,
                    hash,
                    oldest,
                    newest,
                });
                self.save_state(&state)?;
            }
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
        write_durably(&full, &gzip(&bytes).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        write_durably(&signature_path(&full), signature.as_bytes()).map_err(|e| e.to_string())?;
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
