use std::any::Any;
use std::collections::HashSet;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, mpsc};

use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::blob::BlobId;
use crate::error::{StoreError, StoreResult};
use crate::meta::{ListControl, MetaStore, WriteCondition};
use crate::records::{
    BucketRecord, COMPLETED_UPLOAD_RETENTION_MS, CompletedUploadRecord, ObjectRecord, PartRecord,
    RECORD_VERSION, UploadRecord,
};
use crate::redb_handle::ReopeningDatabase;

const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
/// Key: `<bucket>/<object key>`. Bucket names cannot contain `/`, so a bucket's objects are
/// exactly the keys in [`bucket_range`].
const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads");
/// Key: `<upload id>/<part number, 5 digits>`.
const PARTS: TableDefinition<&str, &[u8]> = TableDefinition::new("parts");
/// How many records name each blob. Copies share blobs, so a blob is freed only at zero.
const BLOB_REFS: TableDefinition<&str, u64> = TableDefinition::new("blob_refs");

/// Key records of the built-in KMS (already sealed by the KMS layer), by key id.
pub(crate) const KMS_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("kms_keys");
/// Uploads completed lately ([`CompletedUploadRecord`]), by upload id.
const COMPLETED: TableDefinition<&str, &[u8]> = TableDefinition::new("completed_uploads");
/// The same, by completion time (`<ms, 16 hex digits>/<upload id>`), for pruning.
const COMPLETED_BY_TIME: TableDefinition<&str, ()> =
    TableDefinition::new("completed_uploads_by_time");
/// Most expired completion records one completion removes: pruning stays cheap per call and
/// still outpaces the rate at which records are added.
const COMPLETED_PRUNE_BATCH: usize = 16;

/// Small server-wide values (e.g. the root key's check value).
pub(crate) const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

/// The embedded metadata store: one `redb` file.
///
/// Writes go through one committer thread that runs every write waiting at that moment in a
/// single transaction and fsync (group commit): under concurrent load, N writers pay for one
/// commit instead of N, and each caller still returns only once its change is durable.
pub struct RedbMetaStore {
    pub(crate) db: Arc<ReopeningDatabase>,
    jobs: mpsc::Sender<WriteRequest>,
}

/// Most writes folded into one transaction.
const MAX_BATCH: usize = 128;

type AnyResult = StoreResult<Box<dyn Any + Send>>;
/// A write. `Fn`, not `FnOnce`, so a batch that fails as a whole can be replayed job by job.
type WriteJob = Box<dyn Fn(&WriteTransaction) -> AnyResult + Send>;

struct WriteRequest {
    job: WriteJob,
    reply: mpsc::SyncSender<AnyResult>,
}

/// Errors a job returns after checking, before writing anything: the batch stays valid.
fn is_refusal(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::BucketExists { .. }
            | StoreError::NoSuchBucket
            | StoreError::BucketNotEmpty
            | StoreError::NoSuchUpload
            | StoreError::NoSuchKey
            | StoreError::PreconditionFailed
            | StoreError::SourceChanged
            | StoreError::PartChanged
            | StoreError::MasterKeyRetired
            | StoreError::KmsConflict(_)
    )
}

fn run_alone(db: &Database, job: &WriteJob) -> AnyResult {
    let txn = db.begin_write()?;
    let out = job(&txn)?;
    txn.commit()?;
    Ok(out)
}

/// Runs a batch and answers each of its writers; returns false if a write failed for a
/// reason other than a refusal (the database may need a reopen).
fn run_batch(db: &Database, batch: Vec<WriteRequest>) -> bool {
    let txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => {
            let e = StoreError::from(e);
            for r in batch {
                let _ = r.reply.send(Err(e.duplicate()));
            }
            return false;
        }
    };
    let mut results = Vec::with_capacity(batch.len());
    for r in &batch {
        let out = (r.job)(&txn);
        if let Err(e) = &out
            && !is_refusal(e)
        {
            // One job failed midway: its partial writes must not be committed. Drop the
            // transaction and give every job a transaction of its own.
            drop(txn);
            let mut all_ok = true;
            for r in batch {
                let out = run_alone(db, &r.job);
                all_ok &= out.as_ref().err().is_none_or(is_refusal);
                let _ = r.reply.send(out);
            }
            return all_ok;
        }
        results.push(out);
    }
    match txn.commit() {
        Ok(()) => {
            for (r, out) in batch.into_iter().zip(results) {
                let _ = r.reply.send(out);
            }
            true
        }
        Err(e) => {
            let e = StoreError::from(e);
            for r in batch {
                let _ = r.reply.send(Err(e.duplicate()));
            }
            false
        }
    }
}

fn committer(db: Arc<ReopeningDatabase>, jobs: mpsc::Receiver<WriteRequest>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let ok = match db.current() {
            Ok(current) => run_batch(&current, batch),
            Err(e) => {
                for r in batch {
                    let _ = r.reply.send(Err(e.duplicate()));
                }
                false
            }
        };
        // A failed write may have left redb refusing all others until it is reopened.
        if !ok && let Err(e) = db.recover_if_poisoned() {
            tracing::error!(error = %e, "metadata database unusable");
        }
    }
}

fn encode<T: Serialize>(v: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    let version: Versioned =
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if version.v > RECORD_VERSION {
        return Err(StoreError::Corrupt(format!(
            "record schema version {} is newer than this server's {}",
            version.v, RECORD_VERSION
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[derive(serde::Deserialize)]
struct Versioned {
    #[serde(default)]
    v: u32,
}

fn object_key(bucket: &str, key: &str) -> String {
    format!("{bucket}/{key}")
}

/// `[bucket/, bucket0)`: `0` is the byte after `/`.
fn bucket_range(bucket: &str) -> (String, String) {
    (format!("{bucket}/"), format!("{bucket}0"))
}

fn part_key(upload_id: &str, number: u32) -> String {
    format!("{upload_id}/{number:05}")
}

fn add_refs<'a>(
    refs: &mut Table<&str, u64>,
    blobs: impl Iterator<Item = &'a BlobId>,
) -> StoreResult<()> {
    for b in blobs {
        let n = refs.get(b.as_str())?.map(|g| g.value()).unwrap_or(0);
        refs.insert(b.as_str(), n + 1)?;
    }
    Ok(())
}

/// Drops one reference per blob and returns those that reached zero.
fn drop_refs<'a>(
    refs: &mut Table<&str, u64>,
    blobs: impl Iterator<Item = &'a BlobId>,
) -> StoreResult<Vec<BlobId>> {
    let mut freed = Vec::new();
    for b in blobs {
        let n = refs.get(b.as_str())?.map(|g| g.value()).unwrap_or(0);
        if n <= 1 {
            refs.remove(b.as_str())?;
            freed.push(b.clone());
        } else {
            refs.insert(b.as_str(), n - 1)?;
        }
    }
    Ok(freed)
}

/// Checks a write condition against the current record at `k`, before anything is written.
fn check_condition(
    objects: &Table<&str, &[u8]>,
    k: &str,
    condition: &WriteCondition,
) -> StoreResult<()> {
    if *condition == WriteCondition::Always {
        return Ok(());
    }
    let current: Option<ObjectRecord> = match objects.get(k)? {
        Some(v) => Some(decode(v.value())?),
        None => None,
    };
    match (condition, current) {
        (WriteCondition::IfAbsent, Some(_)) => Err(StoreError::PreconditionFailed),
        (WriteCondition::IfMatch(_), None) => Err(StoreError::NoSuchKey),
        (WriteCondition::IfMatch(etag), Some(c)) if c.etag != *etag => {
            Err(StoreError::PreconditionFailed)
        }
        _ => Ok(()),
    }
}

/// Setting: SSE-S3 master-key versions below this one are retired (u32, big-endian).
const MASTER_FLOOR: &str = "sse_s3_master_floor";

fn master_floor(txn: &WriteTransaction) -> StoreResult<u32> {
    let settings = txn.open_table(SETTINGS)?;
    let floor = settings
        .get(MASTER_FLOOR)?
        .and_then(|v| <[u8; 4]>::try_from(v.value()).ok())
        .map_or(0, u32::from_be_bytes);
    Ok(floor)
}

/// Refuses a record whose data key is sealed under a retired master-key version: its material
/// is gone (or about to be), so the record would never open.
fn check_master_version(
    txn: &WriteTransaction,
    encryption: Option<&crate::records::EncryptionRecord>,
) -> StoreResult<()> {
    match encryption.and_then(|e| e.needs_master_version()) {
        Some(v) if v < master_floor(txn)? => Err(StoreError::MasterKeyRetired),
        _ => Ok(()),
    }
}

/// Puts `object` at `k` (its blob references already taken) and releases the old record's.
fn replace_object(
    objects: &mut Table<&str, &[u8]>,
    refs: &mut Table<&str, u64>,
    k: &str,
    object: &ObjectRecord,
) -> StoreResult<Vec<BlobId>> {
    let old = objects.insert(k, encode(object)?.as_slice())?;
    match old {
        Some(old) => {
            let old: ObjectRecord = decode(old.value())?;
            drop_refs(refs, old.blobs())
        }
        None => Ok(Vec::new()),
    }
}

fn completed_time_key(completed_ms: i64, upload_id: &str) -> String {
    format!("{:016x}/{upload_id}", completed_ms.max(0))
}

/// Stores a completion record and drops a few that have expired (oldest first).
fn remember_completed(
    txn: &WriteTransaction,
    completed: &CompletedUploadRecord,
) -> StoreResult<()> {
    let mut by_id = txn.open_table(COMPLETED)?;
    let mut by_time = txn.open_table(COMPLETED_BY_TIME)?;
    let cutoff = completed_time_key(completed.completed_ms - COMPLETED_UPLOAD_RETENTION_MS, "");
    let expired: Vec<String> = by_time
        .range(..cutoff.as_str())?
        .take(COMPLETED_PRUNE_BATCH)
        .map(|e| e.map(|(k, _)| k.value().to_owned()))
        .collect::<Result<_, _>>()?;
    for k in expired {
        by_time.remove(k.as_str())?;
        if let Some((_, id)) = k.split_once('/') {
            by_id.remove(id)?;
        }
    }
    let id = completed.upload_id.as_str();
    by_id.insert(id, encode(completed)?.as_slice())?;
    by_time.insert(completed_time_key(completed.completed_ms, id).as_str(), ())?;
    Ok(())
}

impl RedbMetaStore {
    pub fn open(path: &Path) -> StoreResult<Self> {
        // Created here owner-only (redb would use 0666 less the umask); an existing file
        // is opened as it is.
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(BUCKETS)?;
            txn.open_table(OBJECTS)?;
            txn.open_table(UPLOADS)?;
            txn.open_table(PARTS)?;
            txn.open_table(BLOB_REFS)?;
            txn.open_table(KMS_KEYS)?;
            txn.open_table(crate::kms_versions::KMS_VERSIONS)?;
            txn.open_table(SETTINGS)?;
            txn.open_table(crate::redb_audit::AUDIT_OUTBOX)?;
            txn.open_table(crate::redb_audit::AUDIT_RECORDS)?;
            txn.open_table(crate::redb_audit::AUDIT_TERMS)?;
            txn.open_table(COMPLETED)?;
            txn.open_table(COMPLETED_BY_TIME)?;
        }
        txn.commit()?;
        let db = Arc::new(ReopeningDatabase::new(path, db));
        let (jobs, rx) = mpsc::channel();
        let for_thread = db.clone();
        std::thread::Builder::new()
            .name("coffer-meta-commit".into())
            .spawn(move || committer(for_thread, rx))?;
        Ok(Self { db, jobs })
    }

    /// How many records name each blob, as the store counts them: what a consistency check
    /// compares with the records themselves.
    pub fn blob_reference_counts(&self) -> StoreResult<std::collections::HashMap<BlobId, u64>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(BLOB_REFS)?;
        let mut out = std::collections::HashMap::new();
        for entry in t.iter()? {
            let (k, n) = entry?;
            let id = BlobId::parse(k.value())
                .ok_or_else(|| StoreError::Corrupt(format!("blob reference {:?}", k.value())))?;
            out.insert(id, n.value());
        }
        Ok(out)
    }

    /// Runs `f` in a write transaction (possibly shared with other writers) and returns once
    /// it is durable. `f` must check before it writes: an error it returns after writing
    /// is treated as fatal for the batch, which is then replayed job by job.
    pub(crate) fn write<T: Send + 'static>(
        &self,
        f: impl Fn(&WriteTransaction) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (reply, result) = mpsc::sync_channel(1);
        let job: WriteJob = Box::new(move |txn| f(txn).map(|v| Box::new(v) as Box<dyn Any + Send>));
        self.jobs
            .send(WriteRequest { job, reply })
            .map_err(|_| StoreError::Database("the commit thread has stopped".into()))?;
        let out = result
            .recv()
            .map_err(|_| StoreError::Database("the commit thread has stopped".into()))??;
        out.downcast::<T>()
            .map(|b| *b)
            .map_err(|_| StoreError::Database("write result of unexpected type".into()))
    }

    fn get<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> StoreResult<Option<T>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(table)?;
        match t.get(key)? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// Changes one bucket's record in a transaction (`NoSuchBucket` if it is gone).
    fn update_bucket(
        &self,
        name: &str,
        change: impl Fn(&mut BucketRecord) + Send + 'static,
    ) -> StoreResult<()> {
        let name = name.to_owned();
        self.write(move |txn| {
            let mut buckets = txn.open_table(BUCKETS)?;
            let mut record: BucketRecord = match buckets.get(name.as_str())? {
                Some(v) => decode(v.value())?,
                None => return Err(StoreError::NoSuchBucket),
            };
            change(&mut record);
            buckets.insert(name.as_str(), encode(&record)?.as_slice())?;
            Ok(())
        })
    }

    fn remove_upload_in(txn: &WriteTransaction, upload_id: &str) -> StoreResult<Vec<BlobId>> {
        let mut uploads = txn.open_table(UPLOADS)?;
        if uploads.remove(upload_id)?.is_none() {
            return Err(StoreError::NoSuchUpload);
        }
        let mut parts = txn.open_table(PARTS)?;
        let (lo, hi) = (format!("{upload_id}/"), format!("{upload_id}0"));
        let mut blobs = Vec::new();
        for entry in parts.extract_from_if(lo.as_str()..hi.as_str(), |_, _| true)? {
            let (_, v) = entry?;
            let part: PartRecord = decode(v.value())?;
            blobs.push(part.part.blob);
        }
        let mut refs = txn.open_table(BLOB_REFS)?;
        drop_refs(&mut refs, blobs.iter())
    }
}

impl MetaStore for RedbMetaStore {
    fn create_bucket(&self, bucket: &BucketRecord) -> StoreResult<()> {
        let bucket = bucket.clone();
        self.write(move |txn| {
            let mut t = txn.open_table(BUCKETS)?;
            if let Some(existing) = t.get(bucket.name.as_str())? {
                let existing: BucketRecord = decode(existing.value())?;
                return Err(StoreError::BucketExists {
                    owner: existing.owner,
                });
            }
            t.insert(bucket.name.as_str(), encode(&bucket)?.as_slice())?;
            Ok(())
        })
    }

    fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketRecord>> {
        self.get(BUCKETS, name)
    }

    fn list_buckets(&self) -> StoreResult<Vec<BucketRecord>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(BUCKETS)?;
        let mut out = Vec::new();
        for entry in t.iter()? {
            let (_, v) = entry?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    fn set_bucket_encryption(
        &self,
        name: &str,
        encryption: Option<crate::records::BucketEncryption>,
    ) -> StoreResult<()> {
        self.update_bucket(name, move |record| record.encryption = encryption.clone())
    }

    fn set_bucket_policy(&self, name: &str, policy: Option<String>) -> StoreResult<()> {
        self.update_bucket(name, move |record| record.policy = policy.clone())
    }

    fn set_bucket_tags(&self, name: &str, tags: crate::records::Tags) -> StoreResult<()> {
        self.update_bucket(name, move |record| record.tags = tags.clone())
    }

    fn delete_bucket(&self, name: &str) -> StoreResult<Vec<BlobId>> {
        let name = name.to_owned();
        self.write(move |txn| {
            let name = name.as_str();
            let mut buckets = txn.open_table(BUCKETS)?;
            if buckets.get(name)?.is_none() {
                return Err(StoreError::NoSuchBucket);
            }
            let objects = txn.open_table(OBJECTS)?;
            let (lo, hi) = bucket_range(name);
            if objects.range(lo.as_str()..hi.as_str())?.next().is_some() {
                return Err(StoreError::BucketNotEmpty);
            }
            let upload_ids: Vec<String> = {
                let uploads = txn.open_table(UPLOADS)?;
                let mut ids = Vec::new();
                for entry in uploads.iter()? {
                    let (k, v) = entry?;
                    let u: UploadRecord = decode(v.value())?;
                    if u.bucket == name {
                        ids.push(k.value().to_owned());
                    }
                }
                ids
            };
            let mut freed = Vec::new();
            for id in upload_ids {
                freed.extend(Self::remove_upload_in(txn, &id)?);
            }
            buckets.remove(name)?;
            Ok(freed)
        })
    }

    fn put_object(
        &self,
        bucket: &str,
        key: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        let (bucket, k) = (bucket.to_owned(), object_key(bucket, key));
        let (object, condition) = (object.clone(), condition.clone());
        coffer_faults::io_step("put.meta.commit")?;
        let freed = self.write(move |txn| {
            if txn.open_table(BUCKETS)?.get(bucket.as_str())?.is_none() {
                return Err(StoreError::NoSuchBucket);
            }
            check_master_version(txn, object.encryption.as_ref())?;
            let mut objects = txn.open_table(OBJECTS)?;
            check_condition(&objects, &k, &condition)?;
            let mut refs = txn.open_table(BLOB_REFS)?;
            add_refs(&mut refs, object.blobs())?;
            replace_object(&mut objects, &mut refs, &k, &object)
        })?;
        coffer_faults::crash_step("put.meta.committed");
        Ok(freed)
    }

    fn copy_object(
        &self,
        source: (&str, &str),
        source_blobs: &[BlobId],
        destination: (&str, &str),
        object: &ObjectRecord,
    ) -> StoreResult<Vec<BlobId>> {
        let src = object_key(source.0, source.1);
        let (dst_bucket, dst) = (
            destination.0.to_owned(),
            object_key(destination.0, destination.1),
        );
        let (expected, object) = (source_blobs.to_vec(), object.clone());
        self.write(move |txn| {
            if txn.open_table(BUCKETS)?.get(dst_bucket.as_str())?.is_none() {
                return Err(StoreError::NoSuchBucket);
            }
            check_master_version(txn, object.encryption.as_ref())?;
            let mut objects = txn.open_table(OBJECTS)?;
            // The source's blobs are shared only while the source still holds them, so a
            // concurrent overwrite or delete cannot free what the copy is about to name.
            let current: Option<ObjectRecord> = match objects.get(src.as_str())? {
                Some(v) => Some(decode(v.value())?),
                None => None,
            };
            if !current.is_some_and(|c| c.blobs().eq(expected.iter())) {
                return Err(StoreError::SourceChanged);
            }
            let mut refs = txn.open_table(BLOB_REFS)?;
            add_refs(&mut refs, object.blobs())?;
            replace_object(&mut objects, &mut refs, &dst, &object)
        })
    }

    fn get_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectRecord>> {
        self.get(OBJECTS, &object_key(bucket, key))
    }

    fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> StoreResult<(Option<ObjectRecord>, Vec<BlobId>)> {
        let (k, condition) = (object_key(bucket, key), condition.clone());
        self.write(move |txn| {
            let mut objects = txn.open_table(OBJECTS)?;
            check_condition(&objects, &k, &condition)?;
            let old = objects.remove(k.as_str())?;
            match old {
                Some(old) => {
                    let old: ObjectRecord = decode(old.value())?;
                    let mut refs = txn.open_table(BLOB_REFS)?;
                    let freed = drop_refs(&mut refs, old.blobs())?;
                    Ok((Some(old), freed))
                }
                None => Ok((None, Vec::new())),
            }
        })
    }

    fn delete_objects(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> StoreResult<(Vec<bool>, Vec<BlobId>)> {
        let full: Vec<String> = keys.iter().map(|k| object_key(bucket, k)).collect();
        self.write(move |txn| {
            let mut objects = txn.open_table(OBJECTS)?;
            let mut refs = txn.open_table(BLOB_REFS)?;
            let mut existed = Vec::with_capacity(full.len());
            let mut freed = Vec::new();
            for k in &full {
                match objects.remove(k.as_str())? {
                    Some(old) => {
                        let old: ObjectRecord = decode(old.value())?;
                        freed.extend(drop_refs(&mut refs, old.blobs())?);
                        existed.push(true);
                    }
                    None => existed.push(false),
                }
            }
            Ok((existed, freed))
        })
    }

    fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        visit: &mut dyn FnMut(&str, &ObjectRecord) -> ListControl,
    ) -> StoreResult<()> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(OBJECTS)?;
        let (_, hi) = bucket_range(bucket);
        let from = object_key(bucket, prefix.max(start_after));
        let skip_from_itself = start_after >= prefix;
        let base = bucket.len() + 1;
        for entry in t.range(from.as_str()..hi.as_str())? {
            let (k, v) = entry?;
            let full = k.value();
            let key = &full[base..];
            if skip_from_itself && key == start_after {
                continue;
            }
            if !key.starts_with(prefix) {
                break;
            }
            let record: ObjectRecord = decode(v.value())?;
            if visit(key, &record) == ListControl::Stop {
                break;
            }
        }
        Ok(())
    }

    fn create_upload(&self, upload: &UploadRecord) -> StoreResult<()> {
        let upload = upload.clone();
        self.write(move |txn| {
            if txn
                .open_table(BUCKETS)?
                .get(upload.bucket.as_str())?
                .is_none()
            {
                return Err(StoreError::NoSuchBucket);
            }
            check_master_version(txn, upload.template.encryption.as_ref())?;
            txn.open_table(UPLOADS)?
                .insert(upload.upload_id.as_str(), encode(&upload)?.as_slice())?;
            Ok(())
        })
    }

    fn get_upload(&self, upload_id: &str) -> StoreResult<Option<UploadRecord>> {
        self.get(UPLOADS, upload_id)
    }

    fn list_uploads(&self, bucket: &str) -> StoreResult<Vec<UploadRecord>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(UPLOADS)?;
        let mut out: Vec<UploadRecord> = Vec::new();
        for entry in t.iter()? {
            let (_, v) = entry?;
            let u: UploadRecord = decode(v.value())?;
            if u.bucket == bucket {
                out.push(u);
            }
        }
        out.sort_by(|a, b| {
            (a.key.as_str(), a.upload_id.as_str()).cmp(&(b.key.as_str(), b.upload_id.as_str()))
        });
        Ok(out)
    }

    fn put_part(&self, upload_id: &str, part: &PartRecord) -> StoreResult<Vec<BlobId>> {
        let (upload_id, part) = (upload_id.to_owned(), part.clone());
        self.write(move |txn| {
            let (upload_id, part) = (upload_id.as_str(), &part);
            if txn.open_table(UPLOADS)?.get(upload_id)?.is_none() {
                return Err(StoreError::NoSuchUpload);
            }
            let mut parts = txn.open_table(PARTS)?;
            let mut refs = txn.open_table(BLOB_REFS)?;
            add_refs(&mut refs, std::iter::once(&part.part.blob))?;
            let k = part_key(upload_id, part.part.number);
            let old = parts.insert(k.as_str(), encode(part)?.as_slice())?;
            match old {
                Some(old) => {
                    let old: PartRecord = decode(old.value())?;
                    drop_refs(&mut refs, std::iter::once(&old.part.blob))
                }
                None => Ok(Vec::new()),
            }
        })
    }

    fn list_parts(&self, upload_id: &str) -> StoreResult<Vec<PartRecord>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(PARTS)?;
        let (lo, hi) = (format!("{upload_id}/"), format!("{upload_id}0"));
        let mut out = Vec::new();
        for entry in t.range(lo.as_str()..hi.as_str())? {
            let (_, v) = entry?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    fn abort_upload(&self, upload_id: &str) -> StoreResult<Vec<BlobId>> {
        let upload_id = upload_id.to_owned();
        self.write(move |txn| Self::remove_upload_in(txn, &upload_id))
    }

    fn complete_upload(
        &self,
        upload_id: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
        completed: &CompletedUploadRecord,
    ) -> StoreResult<Vec<BlobId>> {
        let (upload_id, object) = (upload_id.to_owned(), object.clone());
        let (condition, completed) = (condition.clone(), completed.clone());
        coffer_faults::io_step("mpu.complete.commit")?;
        let freed = self.write(move |txn| {
            let (upload_id, object) = (upload_id.as_str(), &object);
            let upload: UploadRecord = {
                let uploads = txn.open_table(UPLOADS)?;
                let v = uploads.get(upload_id)?.ok_or(StoreError::NoSuchUpload)?;
                decode(v.value())?
            };
            if txn
                .open_table(BUCKETS)?
                .get(upload.bucket.as_str())?
                .is_none()
            {
                return Err(StoreError::NoSuchBucket);
            }
            check_master_version(txn, object.encryption.as_ref())?;
            // Every part the object names must still be the upload's current one: a part
            // re-uploaded meanwhile freed the blob the caller saw.
            {
                let parts = txn.open_table(PARTS)?;
                for p in &object.parts {
                    let current: Option<PartRecord> =
                        match parts.get(part_key(upload_id, p.number).as_str())? {
                            Some(v) => Some(decode(v.value())?),
                            None => None,
                        };
                    if current.is_none_or(|c| c.part.blob != p.blob) {
                        return Err(StoreError::PartChanged);
                    }
                }
            }
            let k = object_key(&upload.bucket, &upload.key);
            let mut objects = txn.open_table(OBJECTS)?;
            check_condition(&objects, &k, &condition)?;
            // The object takes its own references first, so blobs it keeps survive the
            // upload's removal below.
            let mut freed = {
                let mut refs = txn.open_table(BLOB_REFS)?;
                add_refs(&mut refs, object.blobs())?;
                replace_object(&mut objects, &mut refs, &k, object)?
            };
            drop(objects);
            freed.extend(Self::remove_upload_in(txn, upload_id)?);
            remember_completed(txn, &completed)?;
            Ok(freed)
        })?;
        coffer_faults::crash_step("mpu.complete.committed");
        Ok(freed)
    }

    fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &crate::records::Tags,
    ) -> StoreResult<bool> {
        let (k, tags) = (object_key(bucket, key), tags.clone());
        self.write(move |txn| {
            let mut objects = txn.open_table(OBJECTS)?;
            let mut record: ObjectRecord = match objects.get(k.as_str())? {
                Some(v) => decode(v.value())?,
                None => return Ok(false),
            };
            record.tags = tags.clone();
            objects.insert(k.as_str(), encode(&record)?.as_slice())?;
            Ok(true)
        })
    }

    fn get_completed_upload(&self, upload_id: &str) -> StoreResult<Option<CompletedUploadRecord>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(COMPLETED)?;
        let got = t.get(upload_id)?;
        got.map(|v| decode(v.value())).transpose()
    }

    fn reseal_object(
        &self,
        bucket: &str,
        key: &str,
        expected: &str,
        encryption: &crate::records::EncryptionRecord,
    ) -> StoreResult<bool> {
        let (k, expected, encryption) = (
            object_key(bucket, key),
            expected.to_owned(),
            encryption.clone(),
        );
        self.write(move |txn| {
            check_master_version(txn, Some(&encryption))?;
            let mut objects = txn.open_table(OBJECTS)?;
            let mut record: ObjectRecord = match objects.get(k.as_str())? {
                Some(v) => decode(v.value())?,
                None => return Ok(false),
            };
            if record.encryption.as_ref().map(|e| e.sealed_key.as_str()) != Some(expected.as_str())
            {
                return Ok(false);
            }
            record.encryption = Some(encryption.clone());
            objects.insert(k.as_str(), encode(&record)?.as_slice())?;
            Ok(true)
        })
    }

    fn reseal_upload(
        &self,
        upload_id: &str,
        expected: &str,
        encryption: &crate::records::EncryptionRecord,
    ) -> StoreResult<bool> {
        let (id, expected, encryption) = (
            upload_id.to_owned(),
            expected.to_owned(),
            encryption.clone(),
        );
        self.write(move |txn| {
            check_master_version(txn, Some(&encryption))?;
            let mut uploads = txn.open_table(UPLOADS)?;
            let mut record: UploadRecord = match uploads.get(id.as_str())? {
                Some(v) => decode(v.value())?,
                None => return Ok(false),
            };
            if record
                .template
                .encryption
                .as_ref()
                .map(|e| e.sealed_key.as_str())
                != Some(expected.as_str())
            {
                return Ok(false);
            }
            record.template.encryption = Some(encryption.clone());
            uploads.insert(id.as_str(), encode(&record)?.as_slice())?;
            Ok(true)
        })
    }

    fn retire_master_versions_below(&self, floor: u32) -> StoreResult<u64> {
        self.write(move |txn| {
            let below = |e: Option<&crate::records::EncryptionRecord>| {
                e.and_then(|e| e.needs_master_version())
                    .is_some_and(|v| v < floor)
            };
            let mut in_use = 0u64;
            for entry in txn.open_table(OBJECTS)?.iter()? {
                let record: ObjectRecord = decode(entry?.1.value())?;
                in_use += u64::from(below(record.encryption.as_ref()));
            }
            for entry in txn.open_table(UPLOADS)?.iter()? {
                let record: UploadRecord = decode(entry?.1.value())?;
                in_use += u64::from(below(record.template.encryption.as_ref()));
            }
            if in_use == 0 && floor > master_floor(txn)? {
                txn.open_table(SETTINGS)?
                    .insert(MASTER_FLOOR, floor.to_be_bytes().as_slice())?;
            }
            Ok(in_use)
        })
    }

    fn get_kms_key(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(KMS_KEYS)?;
        Ok(t.get(id)?.map(|v| v.value().to_vec()))
    }

    fn put_kms_key(&self, id: &str, record: &[u8]) -> StoreResult<()> {
        let (id, record) = (id.to_owned(), record.to_vec());
        self.write(move |txn| {
            txn.open_table(KMS_KEYS)?
                .insert(id.as_str(), record.as_slice())?;
            crate::kms_versions::bump(txn, &id)
        })
    }

    fn delete_kms_key(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |txn| {
            txn.open_table(KMS_KEYS)?.remove(id.as_str())?;
            crate::kms_versions::bump(txn, &id)
        })
    }

    fn list_kms_keys(&self, prefix: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(KMS_KEYS)?;
        let mut out = Vec::new();
        for entry in t.range(prefix..)? {
            let (k, v) = entry?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn get_kms_record(&self, id: &str) -> StoreResult<Option<(u64, Vec<u8>)>> {
        crate::kms_versions::get(&self.db.current()?.begin_read()?, id)
    }

    fn list_kms_records(&self, prefix: &str) -> StoreResult<Vec<(String, u64, Vec<u8>)>> {
        crate::kms_versions::list(&self.db.current()?.begin_read()?, prefix)
    }

    fn write_kms_records(&self, writes: Vec<crate::KmsWrite>) -> StoreResult<()> {
        self.write(move |txn| crate::kms_versions::apply(txn, &writes))
    }

    fn get_setting(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(SETTINGS)?;
        Ok(t.get(name)?.map(|v| v.value().to_vec()))
    }

    fn put_setting(&self, name: &str, value: &[u8]) -> StoreResult<()> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.write(move |txn| {
            txn.open_table(SETTINGS)?
                .insert(name.as_str(), value.as_slice())?;
            Ok(())
        })
    }

    fn referenced_blobs(&self) -> StoreResult<HashSet<BlobId>> {
        let txn = self.db.current()?.begin_read()?;
        let t = txn.open_table(BLOB_REFS)?;
        let mut out = HashSet::new();
        for entry in t.iter()? {
            let (k, _) = entry?;
            if let Some(id) = BlobId::parse(k.value()) {
                out.insert(id);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::StoredPart;

    fn store() -> (tempfile::TempDir, RedbMetaStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = RedbMetaStore::open(&dir.path().join("meta.redb")).unwrap();
        s.create_bucket(&BucketRecord {
            v: 1,
            name: "b".into(),
            owner: "alice".into(),
            region: "us-east-1".into(),
            created_ms: 0,
            encryption: None,
            policy: None,
            tags: Default::default(),
        })
        .unwrap();
        (dir, s)
    }

    fn part(n: u32, blob: &BlobId) -> StoredPart {
        StoredPart {
            number: n,
            size: 1,
            md5_hex: String::new(),
            blob: blob.clone(),
            checksum: None,
            crc64nvme: None,
        }
    }

    fn object(blobs: &[&BlobId]) -> ObjectRecord {
        ObjectRecord {
            v: 1,
            size: blobs.len() as u64,
            etag: "e".into(),
            last_modified_ms: 0,
            parts: blobs
                .iter()
                .enumerate()
                .map(|(i, b)| part(i as u32 + 1, b))
                .collect(),
            multipart: blobs.len() > 1,
            checksum: None,
            content_type: None,
            content_encoding: None,
            content_disposition: None,
            content_language: None,
            cache_control: None,
            expires_ms: None,
            website_redirect_location: None,
            user_metadata: Default::default(),
            storage_class: None,
            encryption: None,
            tags: Default::default(),
        }
    }

    fn sealed_under(version: u32) -> crate::records::EncryptionRecord {
        crate::records::EncryptionRecord {
            mode: "AES256".into(),
            master_version: version,
            sealed_key: format!("sealed-{version}"),
            customer_salt: None,
            kms_key_arn: None,
            kms_context: None,
            bucket_key: None,
        }
    }

    #[test]
    fn master_versions_retire_only_when_unused_and_stay_retired() {
        let (_d, s) = store();
        let mut old = object(&[&BlobId::random()]);
        old.encryption = Some(sealed_under(1));
        s.put_object("b", "k", &old, &WriteCondition::Always)
            .unwrap();

        assert_eq!(s.retire_master_versions_below(2).unwrap(), 1, "k needs v1");
        // Nothing changed: v1 records are still accepted.
        s.put_object("b", "k2", &old, &WriteCondition::Always)
            .unwrap();
        assert!(
            s.reseal_object("b", "k", "sealed-1", &sealed_under(2))
                .unwrap()
        );
        assert!(
            s.reseal_object("b", "k2", "sealed-1", &sealed_under(2))
                .unwrap()
        );
        assert_eq!(s.retire_master_versions_below(2).unwrap(), 0);

        // A writer that sealed under v1 before the retirement cannot commit after it.
        assert!(matches!(
            s.put_object("b", "late", &old, &WriteCondition::Always),
            Err(StoreError::MasterKeyRetired)
        ));
        let mut fresh = old.clone();
        fresh.encryption = Some(sealed_under(2));
        s.put_object("b", "late", &fresh, &WriteCondition::Always)
            .unwrap();
        // A lower floor never lowers the retirement.
        assert_eq!(s.retire_master_versions_below(1).unwrap(), 0);
        assert!(matches!(
            s.put_object("b", "late", &old, &WriteCondition::Always),
            Err(StoreError::MasterKeyRetired)
        ));
    }

    #[test]
    fn shared_blobs_are_freed_only_by_their_last_reference() {
        let (_d, s) = store();
        let blob = BlobId::random();
        assert!(
            s.put_object("b", "orig", &object(&[&blob]), &WriteCondition::Always)
                .unwrap()
                .is_empty()
        );
        assert!(
            s.copy_object(
                ("b", "orig"),
                std::slice::from_ref(&blob),
                ("b", "copy"),
                &object(&[&blob])
            )
            .unwrap()
            .is_empty()
        );
        // A copy whose source changed meanwhile is refused, never left naming a freed blob.
        assert!(matches!(
            s.copy_object(
                ("b", "orig"),
                &[BlobId::random()],
                ("b", "x"),
                &object(&[&blob])
            ),
            Err(StoreError::SourceChanged)
        ));
        let (_, freed) = s
            .delete_object("b", "orig", &WriteCondition::Always)
            .unwrap();
        assert!(freed.is_empty(), "the copy still names the blob");
        let replacement = BlobId::random();
        let freed = s
            .put_object(
                "b",
                "copy",
                &object(&[&replacement]),
                &WriteCondition::Always,
            )
            .unwrap();
        assert_eq!(freed, vec![blob]);
        assert_eq!(
            s.referenced_blobs().unwrap(),
            [replacement].into_iter().collect()
        );
    }

    #[test]
    fn listing_is_in_byte_order_within_one_bucket() {
        let (_d, s) = store();
        s.create_bucket(&BucketRecord {
            v: 1,
            name: "b-2".into(),
            owner: "alice".into(),
            region: "us-east-1".into(),
            created_ms: 0,
            encryption: None,
            policy: None,
            tags: Default::default(),
        })
        .unwrap();
        for k in ["z", "a/2", "a/1", "é", "A"] {
            s.put_object(
                "b",
                k,
                &object(&[&BlobId::random()]),
                &WriteCondition::Always,
            )
            .unwrap();
        }
        s.put_object(
            "b-2",
            "other",
            &object(&[&BlobId::random()]),
            &WriteCondition::Always,
        )
        .unwrap();
        let mut seen = Vec::new();
        s.list_objects("b", "", "", &mut |k, _| {
            seen.push(k.to_owned());
            ListControl::Continue
        })
        .unwrap();
        assert_eq!(seen, ["A", "a/1", "a/2", "z", "é"]);
        seen.clear();
        s.list_objects("b", "a/", "a/1", &mut |k, _| {
            seen.push(k.to_owned());
            ListControl::Continue
        })
        .unwrap();
        assert_eq!(seen, ["a/2"]);
        assert!(matches!(
            s.delete_bucket("b"),
            Err(StoreError::BucketNotEmpty)
        ));
    }

    #[test]
    fn completing_an_upload_keeps_chosen_parts_and_frees_the_rest() {
        let (_d, s) = store();
        let upload = UploadRecord {
            v: 1,
            upload_id: "u1".into(),
            bucket: "b".into(),
            key: "k".into(),
            initiator: "alice".into(),
            initiated_ms: 0,
            template: object(&[]),
            checksum_algorithm: None,
            checksum_type: None,
        };
        s.create_upload(&upload).unwrap();
        let (p1, p2, p2_again) = (BlobId::random(), BlobId::random(), BlobId::random());
        for (n, b) in [(1, &p1), (2, &p2)] {
            s.put_part(
                "u1",
                &PartRecord {
                    v: 1,
                    part: part(n, b),
                    last_modified_ms: 0,
                },
            )
            .unwrap();
        }
        let replaced = s
            .put_part(
                "u1",
                &PartRecord {
                    v: 1,
                    part: part(2, &p2_again),
                    last_modified_ms: 0,
                },
            )
            .unwrap();
        assert_eq!(
            replaced,
            vec![p2.clone()],
            "a re-uploaded part frees the old blob"
        );
        let stale = ObjectRecord {
            parts: vec![part(1, &p1), part(2, &p2)],
            ..object(&[])
        };
        assert!(matches!(
            s.complete_upload("u1", &stale, &WriteCondition::Always, &done("u1", 0)),
            Err(StoreError::PartChanged)
        ));
        let freed = s
            .complete_upload(
                "u1",
                &object(&[&p1]),
                &WriteCondition::Always,
                &done("u1", 5),
            )
            .unwrap();
        assert_eq!(freed, vec![p2_again], "part 2 was not chosen");
        assert!(s.get_upload("u1").unwrap().is_none());
        assert!(s.list_parts("u1").unwrap().is_empty());
        assert!(matches!(
            s.complete_upload(
                "u1",
                &object(&[&p1]),
                &WriteCondition::Always,
                &done("u1", 6)
            ),
            Err(StoreError::NoSuchUpload)
        ));
        assert_eq!(s.get_object("b", "k").unwrap().unwrap().parts[0].blob, p1);
        assert_eq!(
            s.get_completed_upload("u1").unwrap(),
            Some(done("u1", 5)),
            "the successful completion is remembered, the refused ones are not"
        );
    }

    fn done(upload_id: &str, completed_ms: i64) -> CompletedUploadRecord {
        CompletedUploadRecord {
            v: 1,
            upload_id: upload_id.into(),
            bucket: "b".into(),
            key: "k".into(),
            completed_ms,
            parts: vec![(1, "e1".into())],
            etag: "e-1".into(),
            checksum: None,
            server_side_encryption: None,
            kms_key_arn: None,
            bucket_key_enabled: false,
        }
    }

    #[test]
    fn completed_uploads_expire_after_their_retention() {
        let (_d, s) = store();
        let day = 24 * 3600 * 1000;
        let upload = |id: &str| UploadRecord {
            v: 1,
            upload_id: id.into(),
            bucket: "b".into(),
            key: "k".into(),
            initiator: "alice".into(),
            initiated_ms: 0,
            template: object(&[]),
            checksum_algorithm: None,
            checksum_type: None,
        };
        for (id, at) in [("old", 0), ("day", day)] {
            s.create_upload(&upload(id)).unwrap();
            s.complete_upload(id, &object(&[]), &WriteCondition::Always, &done(id, at))
                .unwrap();
        }
        assert_eq!(s.get_completed_upload("old").unwrap(), Some(done("old", 0)));
        // A completion past the first record's retention prunes it, and only it.
        s.create_upload(&upload("late")).unwrap();
        let late = done("late", COMPLETED_UPLOAD_RETENTION_MS + 1);
        s.complete_upload("late", &object(&[]), &WriteCondition::Always, &late)
            .unwrap();
        assert_eq!(s.get_completed_upload("old").unwrap(), None);
        assert_eq!(
            s.get_completed_upload("day").unwrap(),
            Some(done("day", day))
        );
        assert_eq!(s.get_completed_upload("late").unwrap(), Some(late));
    }

    #[test]
    fn concurrent_writers_share_commits_and_each_sees_its_own_outcome() {
        let (_d, s) = store();
        let s = Arc::new(s);
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..40 {
                        let key = format!("t{t}/{i}");
                        s.put_object(
                            "b",
                            &key,
                            &object(&[&BlobId::random()]),
                            &WriteCondition::Always,
                        )
                        .unwrap();
                        // A refusal inside a shared batch fails only its own request.
                        assert!(matches!(
                            s.put_object(
                                "missing",
                                &key,
                                &object(&[&BlobId::random()]),
                                &WriteCondition::Always
                            ),
                            Err(StoreError::NoSuchBucket)
                        ));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut n = 0;
        s.list_objects("b", "", "", &mut |_, _| {
            n += 1;
            ListControl::Continue
        })
        .unwrap();
        assert_eq!(n, 16 * 40);
        assert_eq!(s.referenced_blobs().unwrap().len(), 16 * 40);
    }
}
