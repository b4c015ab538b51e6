//! The store itself: constructors for each service, and the BlobStore operations that are
//! one request each (open, delete, clear).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use coffer_store::{
    BlobId, BlobReader, BlobStore, BlobWriter, ListedBlob, StoreError, StoreResult,
};
use opendal::Operator;
use opendal::layers::{RetryLayer, TimeoutLayer};

use crate::error::{Place, store_error};
use crate::reader::OpendalBlobReader;
use crate::settings::S3Settings;
use crate::writer::{Open, OpendalBlobWriter, PART_SIZE, PARTS_IN_FLIGHT, Unfinished};

/// Where blobs live under the service's root: `<prefix>/blobs/<id>`.
pub(crate) const BLOBS_DIR: &str = "blobs/";
/// The fs service's staging directory (under its root): files are written there and
/// renamed into `blobs/` when closed, so a partial blob is never visible under its name.
const FS_STAGING_DIR: &str = "tmp";

/// Control requests (stat, delete) give up after this long; a dead backend costs a caller
/// at most this times the attempts below, never forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Each read, each writer call (which may upload a whole part) and each listing page.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries after the first attempt, for errors OpenDAL marks temporary (5xx, SlowDown,
/// timeouts, reset connections).
const RETRIES: usize = 3;

/// A [`BlobStore`] on an Apache OpenDAL service. See the crate documentation for what the
/// service must provide.
pub struct OpendalBlobStore {
    pub(crate) op: Operator,
    pub(crate) place: Place,
    unfinished: Arc<Unfinished>,
    /// Set for the fs service: the staging directory `clear_unfinished` sweeps.
    staging: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for OpendalBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The operator's own Debug shows its configuration; say only which service and root.
        let info = self.op.info();
        f.debug_struct("OpendalBlobStore")
            .field("scheme", &info.scheme())
            .field("name", &info.name())
            .field("root", &info.root())
            .finish_non_exhaustive()
    }
}

impl OpendalBlobStore {
    /// Blobs in an S3-compatible bucket, under `<prefix>/blobs/`. Makes no request: a wrong
    /// endpoint or key shows at the first operation.
    pub fn s3(settings: S3Settings) -> StoreResult<Self> {
        let root = format!("/{}", settings.prefix.trim_matches('/'));
        let mut builder = opendal::services::S3::default()
            .bucket(&settings.bucket)
            .root(&root)
            .region(settings.region.as_deref().unwrap_or("us-east-1"));
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.endpoint(endpoint);
        }
        if let Some(key) = &settings.access_key {
            builder = builder.access_key_id(key);
        }
        if let Some(secret) = &settings.secret_key {
            builder = builder.secret_access_key(secret.expose());
        }
        // No checksum option is set: OpenDAL (reqsign) then sends plain PUT and UploadPart
        // bodies with `x-amz-content-sha256: UNSIGNED-PAYLOAD`: no aws-chunked encoding and
        // no trailing checksum, which Ceph RGW Pacific/Quincy reject, and no hashing of
        // every byte. Blobs are AEAD-sealed, so damage in transit fails their opening.
        let op = Operator::new(builder).map_err(|e| config_error("S3", e))?;
        // Given to this operator rather than installed process-wide (as OpenDAL's
        // `auto-register-services` would, before `main`).
        let ctx = op.base_context().with_http_transport(http_transport()?);
        let op = op.with_context(ctx);
        Ok(Self::with_operator(op, Place::Remote, None))
    }

    /// Blobs as files under `root/blobs/`, staged in `root/tmp/`. For development and tests
    /// of this crate: the embedded `FsBlobStore` stays Coffer's local default (it also syncs
    /// the directory after each rename, which OpenDAL's fs service does not).
    pub fn fs(root: &Path) -> StoreResult<Self> {
        let staging = root.join(FS_STAGING_DIR);
        for dir in [root.join(BLOBS_DIR), staging.clone()] {
            private_dir(&dir)?;
        }
        let builder = opendal::services::Fs::default()
            .root(&root.to_string_lossy())
            .atomic_write_dir(&staging.to_string_lossy());
        let op = Operator::new(builder).map_err(|e| config_error("fs", e))?;
        Ok(Self::with_operator(op, Place::Local, Some(staging)))
    }

    fn with_operator(op: Operator, place: Place, staging: Option<std::path::PathBuf>) -> Self {
        // Timeout first, then retry: each attempt has its own deadline, and a timed-out
        // attempt is retried like any other temporary failure.
        let op = op
            .layer(
                TimeoutLayer::new()
                    .with_timeout(REQUEST_TIMEOUT)
                    .with_io_timeout(IO_TIMEOUT),
            )
            .layer(
                RetryLayer::new()
                    .with_max_times(RETRIES)
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(2))
                    .with_jitter(),
            );
        OpendalBlobStore {
            op,
            place,
            unfinished: Arc::default(),
            staging,
        }
    }

    pub(crate) fn path_of(id: &BlobId) -> String {
        format!("{BLOBS_DIR}{id}")
    }
}

/// The HTTP transport for network services: reqwest, built without a TLS crypto provider
/// of its own, on the workspace's rustls with ring. Installing ring as the process's
/// default provider is a no-op when the process (or an earlier store) already installed one.
///
/// One client, and so one connection pool, per store, not the transport's process-wide
/// default: a pooled connection is driven by a task on the runtime that opened it, and dies
/// with that runtime. Shared across stores on different runtimes (the tests' stores), a
/// request sent on such a connection reached Ceph RGW, which answered into a closed socket
/// ("complete_request() returned Broken pipe"); the retry then opened a second multipart
/// upload for the same blob, and the first was left open for good.
fn http_transport() -> StoreResult<opendal::HttpTransporter> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| config_error("S3", format_args!("HTTP client: {e}")))?;
    Ok(opendal::HttpTransporter::new(
        opendal_http_transport_reqwest::ReqwestTransport::new(client),
    ))
}

fn config_error(service: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("{service} blob store configuration: {e}"))
}

/// Blobs are ciphertext, but their sizes and count are the owner's business alone.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[async_trait]
impl BlobStore for OpendalBlobStore {
    async fn create(&self) -> StoreResult<Box<dyn BlobWriter>> {
        let id = BlobId::random();
        let path = Self::path_of(&id);
        let writer = self
            .op
            .writer_with(&path)
            .chunk(PART_SIZE)
            .concurrent(PARTS_IN_FLIGHT)
            .await
            .map_err(|e| store_error(self.place, Some(&id), e))?;
        Ok(Box::new(OpendalBlobWriter::new(
            id,
            // Without a staging directory the service is S3, which writes in parts.
            Open::new(writer, self.staging.is_none(), self.op.clone(), path),
            self.unfinished.clone(),
            self.place,
        )))
    }

    /// One HEAD (stat) per open: the contract wants a blob that was never committed to fail
    /// here with `NoSuchBlob`, and the same answer gives the length to check against the
    /// record, so a damaged blob is `Corrupt` before any byte is served.
    async fn open(&self, id: &BlobId, len: u64) -> StoreResult<Box<dyn BlobReader>> {
        let path = Self::path_of(id);
        let meta = self
            .op
            .stat(&path)
            .await
            .map_err(|e| store_error(self.place, Some(id), e))?;
        if meta.content_length() != len {
            return Err(StoreError::Corrupt(format!(
                "blob {id} holds {} bytes, its record says {len}",
                meta.content_length()
            )));
        }
        Ok(Box::new(OpendalBlobReader::new(
            self.op.clone(),
            path,
            id.clone(),
            len,
            self.place,
        )))
    }

    /// S3's DELETE of a missing key succeeds. OpenDAL's fs service looks before it removes,
    /// so of two deletes racing (a writer's and the collector's) one sees the file vanish
    /// between the two steps: that NotFound is the same success.
    async fn delete(&self, id: &BlobId) -> StoreResult<()> {
        match self.op.delete(&Self::path_of(id)).await {
            Err(e) if e.kind() != opendal::ErrorKind::NotFound => {
                Err(store_error(self.place, Some(id), e))
            }
            _ => Ok(()),
        }
    }

    async fn list_page(
        &self,
        after: Option<&BlobId>,
        limit: usize,
    ) -> StoreResult<Vec<ListedBlob>> {
        crate::list::page(self, after, limit).await
    }

    /// Aborts the writes this handle started and never finished (a writer leaked without
    /// being dropped). For fs it then removes whatever staging files remain, which covers a
    /// crashed process too. For S3 a crashed process's multipart uploads cannot be found:
    /// OpenDAL 0.59 has no ListMultipartUploads, so the bucket needs a lifecycle rule with
    /// `AbortIncompleteMultipartUpload` (see the crate docs); blobs smaller than one part
    /// never start an upload and leave nothing.
    async fn clear_unfinished(&self) -> StoreResult<usize> {
        let mut cleared = self.unfinished.abort_all(self.place).await?;
        if let Some(staging) = &self.staging {
            cleared += coffer_store::run_blocking(|| sweep(staging))?;
        }
        Ok(cleared)
    }
}

/// Removes every file under the fs service's staging directory (its names nest like the
/// target path's).
fn sweep(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            removed += sweep(&entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}
