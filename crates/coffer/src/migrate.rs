//! `coffer admin migrate --to CONFIG`: copies a data directory's metadata and sealed blobs
//! into the backends another configuration names (PostgreSQL, an object store, or another
//! embedded directory).
//!
//! Nothing is decrypted: blobs are copied byte for byte and records verbatim, so no key is
//! opened and the destination needs the same root key (carried over when it is a file). The
//! source must be at rest (its server stopped) so the copy is one consistent state.
//!
//! Resumable until the destination starts serving: every step first asks whether the
//! destination already holds what it would write (the same KMS record, a bucket, an object
//! with the same ETag and date, an upload, a part with the same ETag) and skips it. A run cut
//! short leaves at most some copied blobs that no record names yet, which the destination's
//! garbage collection removes. (Once the destination serves, a new run would bring back what
//! was deleted or completed there since; it is a move, not a sync.)
//!
//! Not carried: completed-upload receipts (they only let a retried CompleteMultipartUpload
//! answer again, for a day) and the audit lookup index (rebuilt from the trail's files).

use std::collections::HashMap;
use std::path::Path;

use coffer_store::{
    BlobId, KmsWrite, ListControl, MetaStore, ObjectRecord, StoredPart, WriteCondition,
    run_blocking,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{MigrateArgs, Target};
use crate::config::ServeConfig;
use crate::datadir::{self, Backends, OpenError};

/// Bytes read from the source and handed to the destination per call.
const COPY_CHUNK: u64 = 1 << 20;
/// Objects listed per metadata read: memory stays bounded whatever the bucket holds.
const LIST_PAGE: usize = 1000;
/// The setting that binds a metadata store to its root key (a MAC, not the key).
const ROOT_CHECK_SETTING: &str = "root_key_check";

pub async fn run(args: MigrateArgs) -> Result<(), String> {
    let from = ServeConfig::for_target(&args.target)?;
    let to = ServeConfig::for_target(&Target {
        config: Some(args.to.clone()),
        data_dir: None,
    })?;
    if same_place(&from, &to) {
        return Err("the destination is the source: nothing to migrate".into());
    }
    if crate::listening::server_alive(&from.data_dir) {
        return Err(format!(
            "a server holds {}: stop it first (a migration copies a directory at rest)",
            from.data_dir.display()
        ));
    }
    let src = datadir::open_backends(&from.storage, &from.data_dir)
        .await
        .map_err(|e| match e {
            OpenError::InUse => format!(
                "a server holds {}: stop it first (a migration copies a directory at rest)",
                from.data_dir.display()
            ),
            other => String::from(other),
        })?;
    crate::private_files::create_private_dir(&to.data_dir)?;
    carry_root_key(&from.data_dir, &to.data_dir)?;
    let dst = datadir::open_backends(&to.storage, &to.data_dir)
        .await
        .map_err(String::from)?;
    let mut m = Migration {
        src,
        dst,
        counts: Counts::default(),
        ids: HashMap::new(),
        bar: ProgressBar::hidden(),
    };
    m.keys()?;
    let total = m.plan().await?;
    m.bar = progress_bar(total);
    m.buckets_and_objects().await?;
    m.uploads().await?;
    m.bar.finish_and_clear();
    match &m.dst.shared_audit {
        // A shared metadata store keeps one trail for every gateway: the embedded trail
        // moves into it, and its signing key into the store's secrets.
        Some(shared) => move_trail_into(shared, &m.dst.meta, &from)?,
        None if from.data_dir != to.data_dir => {
            copy_tree(&from.data_dir.join("audit"), &to.data_dir.join("audit"))?;
        }
        None => {}
    }
    let c = &m.counts;
    println!(
        "coffer: migrated {} KMS records, {} buckets, {} objects, {} uploads with {} parts ({} blobs, {} bytes copied; {} already there)",
        c.kms_records, c.buckets, c.objects, c.uploads, c.parts, c.blobs, c.bytes, c.skipped
    );
    Ok(())
}

fn same_place(a: &ServeConfig, b: &ServeConfig) -> bool {
    a.data_dir == b.data_dir
        && a.storage.metadata.backend == b.storage.metadata.backend
        && a.storage.metadata.url == b.storage.metadata.url
        && a.storage.blobs.backend == b.storage.blobs.backend
        && a.storage.blobs.endpoint == b.storage.blobs.endpoint
        && a.storage.blobs.bucket == b.storage.blobs.bucket
        && a.storage.blobs.prefix == b.storage.blobs.prefix
}

/// Records are sealed under the root key, so the destination must use the same one. When it
/// comes from `COFFER_ROOT_KEY` both sides already share it; a key file is copied (0600) to
/// a destination that has none. A destination with another key is refused by the
/// destination server's own check at its first start (and by [`Migration::keys`] here).
fn carry_root_key(from: &Path, to: &Path) -> Result<(), String> {
    if std::env::var_os(coffer_kms::ROOT_KEY_ENV).is_some() {
        return Ok(());
    }
    let (src, dst) = (from.join("root.key"), to.join("root.key"));
    if dst.exists() || !src.exists() {
        return Ok(());
    }
    let key = zeroize::Zeroizing::new(
        std::fs::read(&src).map_err(|e| format!("cannot read {}: {e}", src.display()))?,
    );
    crate::config::write_private(&dst, &key)
}

#[derive(Default)]
struct Counts {
    kms_records: u64,
    buckets: u64,
    objects: u64,
    uploads: u64,
    parts: u64,
    blobs: u64,
    bytes: u64,
    skipped: u64,
}

struct Migration {
    src: Backends,
    dst: Backends,
    counts: Counts,
    /// Source blob → its copy, so blobs several records share (copies, completed uploads)
    /// are copied once per run.
    ids: HashMap<BlobId, BlobId>,
    bar: ProgressBar,
}

fn store(what: &str) -> impl Fn(coffer_store::StoreError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl Migration {
    /// KMS records (keys, aliases, the master keyring), the root key's check value, the
    /// audit outbox and anchor: copied first, before anything that needs them.
    fn keys(&mut self) -> Result<(), String> {
        let (src, dst) = (self.src.meta.clone(), self.dst.meta.clone());
        run_blocking(|| -> Result<(), String> {
            if let Some(check) = src
                .get_setting(ROOT_CHECK_SETTING)
                .map_err(store("source"))?
            {
                match dst
                    .get_setting(ROOT_CHECK_SETTING)
                    .map_err(store("destination"))?
                {
                    None => dst
                        .put_setting(ROOT_CHECK_SETTING, &check)
                        .map_err(store("destination"))?,
                    Some(other) if other == check => {}
                    Some(_) => {
                        return Err(
                            "the destination belongs to another root key: its records would not open"
                                .into(),
                        );
                    }
                }
            }
            for (id, _, record) in src.list_kms_records("").map_err(store("source"))? {
                match dst.get_kms_record(&id).map_err(store("destination"))? {
                    Some((_, existing)) if existing == record => self.counts.skipped += 1,
                    Some(_) => {
                        return Err(format!(
                            "the destination already holds another KMS record {id}: it has been used on its own, so merging would lose keys"
                        ));
                    }
                    None => {
                        dst.write_kms_records(vec![KmsWrite::Put {
                            id,
                            record,
                            expected: None,
                        }])
                        .map_err(store("destination"))?;
                        self.counts.kms_records += 1;
                    }
                }
            }
            let pending: Vec<String> = dst
                .audit_outbox()
                .map_err(store("destination"))?
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            for (id, record) in src.audit_outbox().map_err(store("source"))? {
                if !pending.contains(&id) {
                    dst.commit_kms_change(Vec::new(), &id, &record)
                        .map_err(store("destination"))?;
                }
            }
            for anchor in src.audit_anchors().map_err(store("source"))? {
                // Copied verbatim (its MAC stays valid); the store keeps the newer of two.
                let link = serde_json::from_slice::<serde_json::Value>(&anchor)
                    .ok()
                    .map(|v| v["link"].clone())
                    .unwrap_or_default();
                let seq = link["seq"]
                    .as_u64()
                    .ok_or("the source's audit anchor is malformed")?;
                let stream = link["stream"].as_str().unwrap_or_default();
                dst.save_audit_anchor(stream, seq, &anchor)
                    .map_err(store("destination"))?;
            }
            Ok(())
        })
    }

    /// How many bytes of blobs the source holds, for the progress bar.
    async fn plan(&self) -> Result<u64, String> {
        let mut total = 0u64;
        let src = self.src.meta.clone();
        for bucket in src.list_buckets().await.map_err(store("source"))? {
            let mut after = String::new();
            loop {
                let page = object_page(src.as_ref(), &bucket.name, &after).await?;
                total += page
                    .iter()
                    .flat_map(|(_, r)| r.parts.iter())
                    .map(|p| p.size)
                    .sum::<u64>();
                match page.last() {
                    Some((k, _)) if page.len() == LIST_PAGE => after = k.clone(),
                    _ => break,
                }
            }
            for upload in src
                .list_uploads(&bucket.name)
                .await
                .map_err(store("source"))?
            {
                for p in src
                    .list_parts(&upload.upload_id)
                    .await
                    .map_err(store("source"))?
                {
                    total += p.part.size;
                }
            }
        }
        Ok(total)
    }

    async fn buckets_and_objects(&mut self) -> Result<(), String> {
        let (src, dst) = (self.src.meta.clone(), self.dst.meta.clone());
        for bucket in src.list_buckets().await.map_err(store("source"))? {
            if dst
                .get_bucket(&bucket.name)
                .await
                .map_err(store("destination"))?
                .is_none()
            {
                dst.create_bucket(&bucket)
                    .await
                    .map_err(store("destination"))?;
                self.counts.buckets += 1;
            } else {
                self.counts.skipped += 1;
            }
            let mut after = String::new();
            loop {
                let page = object_page(src.as_ref(), &bucket.name, &after).await?;
                for (key, record) in &page {
                    self.object(&bucket.name, key, record).await?;
                }
                match page.last() {
                    Some((k, _)) if page.len() == LIST_PAGE => after = k.clone(),
                    _ => break,
                }
            }
        }
        Ok(())
    }

    async fn object(
        &mut self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
    ) -> Result<(), String> {
        let dst = self.dst.meta.clone();
        if let Some(there) = dst
            .get_object(bucket, key)
            .await
            .map_err(store("destination"))?
            && there.etag == record.etag
            && there.last_modified_ms == record.last_modified_ms
        {
            self.counts.skipped += 1;
            self.bar
                .inc(record.parts.iter().map(|p| p.size).sum::<u64>());
            return Ok(());
        }
        let mut copy = record.clone();
        let sealed = record.encryption.is_some();
        for part in &mut copy.parts {
            match part.inline {
                // Inline bytes travel in the record itself.
                Some(_) => self.bar.inc(part.size),
                None => part.blob = self.blob(part, sealed).await?,
            }
        }
        dst.put_object(bucket, key, &copy, &WriteCondition::Always)
            .await
            .map_err(store("destination"))?;
        self.counts.objects += 1;
        Ok(())
    }

    async fn uploads(&mut self) -> Result<(), String> {
        let (src, dst) = (self.src.meta.clone(), self.dst.meta.clone());
        for bucket in src.list_buckets().await.map_err(store("source"))? {
            for upload in src
                .list_uploads(&bucket.name)
                .await
                .map_err(store("source"))?
            {
                if dst
                    .get_upload(&upload.upload_id)
                    .await
                    .map_err(store("destination"))?
                    .is_none()
                {
                    dst.create_upload(&upload)
                        .await
                        .map_err(store("destination"))?;
                    self.counts.uploads += 1;
                }
                let done: HashMap<u32, String> = dst
                    .list_parts(&upload.upload_id)
                    .await
                    .map_err(store("destination"))?
                    .into_iter()
                    .map(|p| (p.part.number, p.part.md5_hex))
                    .collect();
                let sealed = upload.template.encryption.is_some();
                for mut part in src
                    .list_parts(&upload.upload_id)
                    .await
                    .map_err(store("source"))?
                {
                    if done.get(&part.part.number) == Some(&part.part.md5_hex) {
                        self.counts.skipped += 1;
                        self.bar.inc(part.part.size);
                        continue;
                    }
                    part.part.blob = self.blob(&part.part, sealed).await?;
                    dst.put_part(&upload.upload_id, &part)
                        .await
                        .map_err(store("destination"))?;
                    self.counts.parts += 1;
                }
            }
        }
        Ok(())
    }

    /// The destination's copy of a part's blob, copied now unless this run already did.
    async fn blob(&mut self, part: &StoredPart, sealed: bool) -> Result<BlobId, String> {
        if let Some(copied) = self.ids.get(&part.blob) {
            self.bar.inc(part.size);
            return Ok(copied.clone());
        }
        let len = if sealed {
            coffer_crypto::sealed_len(part.size).map_err(|e| e.to_string())?
        } else {
            part.size
        };
        let mut reader = self
            .src
            .blobs
            .open(&part.blob, len)
            .await
            .map_err(store("source blob"))?;
        let mut writer = self
            .dst
            .blobs
            .create()
            .await
            .map_err(store("destination blob"))?;
        let mut at = 0u64;
        while at < len {
            let n = COPY_CHUNK.min(len - at);
            let bytes = reader
                .read_at(at, n as usize)
                .await
                .map_err(store("source blob"))?;
            writer
                .write(bytes)
                .await
                .map_err(store("destination blob"))?;
            at += n;
        }
        let id = writer.commit().await.map_err(store("destination blob"))?;
        // In plaintext bytes, as the plan counted them.
        self.bar.inc(part.size);
        self.counts.blobs += 1;
        self.counts.bytes += len;
        self.ids.insert(part.blob.clone(), id.clone());
        Ok(id)
    }
}

/// Up to [`LIST_PAGE`] objects of a bucket after `after`, in key order.
async fn object_page(
    meta: &dyn MetaStore,
    bucket: &str,
    after: &str,
) -> Result<Vec<(String, ObjectRecord)>, String> {
    let mut page = Vec::new();
    meta.list_objects(bucket, "", after, &mut |key, record| {
        page.push((key.to_owned(), record.clone()));
        if page.len() == LIST_PAGE {
            ListControl::Stop
        } else {
            ListControl::Continue
        }
    })
    .await
    .map_err(store("source"))?;
    Ok(page)
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} migrating [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// The embedded trail of `from` into the shared stores, and its sealed signing key into the
/// metadata store's secrets (the first one kept there wins, as when gateways start).
fn move_trail_into(
    shared: &datadir::SharedAudit,
    meta: &std::sync::Arc<dyn coffer_store::MetaStore>,
    from: &ServeConfig,
) -> Result<(), String> {
    use crate::sealed_secrets::SealedSecrets;
    let layout = coffer_audit::Layout::new(&from.data_dir, &from.account_id, &from.region);
    let files = coffer_audit::StoreTrailFiles::new(shared.bulk.clone(), shared.small.clone());
    let (files, records) = coffer_audit::import_local(&layout, shared.journal.as_ref(), &files)
        .map_err(|e| format!("cannot move the audit trail: {e}"))?;
    let key = layout.root.join(crate::datadir::SIGNING_KEY_NAME);
    if let Ok(sealed) = std::fs::read(&key) {
        let secrets = crate::sealed_secrets::StoreSecrets { meta: meta.clone() };
        let kept = secrets.create(crate::datadir::SIGNING_KEY_NAME, &sealed)?;
        if kept != sealed {
            return Err(
                "the destination already holds another audit signing key: it has a trail of its own"
                    .into(),
            );
        }
    }
    tracing::info!(
        files,
        records,
        "moved the audit trail into the shared stores"
    );
    Ok(())
}

/// The audit trail's files (journal, log files, digests, the sealed signing key), copied as
/// they are: they stay with the data directory. Files already at the destination are kept.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    if !from.exists() {
        return Ok(());
    }
    crate::private_files::create_private_dir(to)?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", src.display()))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_file() && !dst.exists() {
            let bytes = std::fs::read(&src).map_err(|e| format!("{}: {e}", src.display()))?;
            crate::config::write_private(&dst, &bytes)?;
        }
    }
    Ok(())
}
