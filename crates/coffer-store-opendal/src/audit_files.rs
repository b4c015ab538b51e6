//! [`AuditFileStore`] on the same service as the blobs, under `<prefix>/audit/`: where the
//! audit trail's log files and digests go when several gateways share the trail, so that the
//! bulk of it sits in the object store beside the data it audits, not in the database.
//!
//! Objects are written whole (one PUT), which is atomic on S3-compatible stores; the store
//! has no compare-and-swap, so the trail keeps the files it swaps in the database instead.

use coffer_store::{AuditFileStore, StoreError, StoreResult};
use futures::TryStreamExt;
use opendal::{ErrorKind, Operator};
use tokio::runtime::Handle;

use crate::error::{Place, store_error};
use crate::store::OpendalBlobStore;

/// Where the trail's files are under the service's root.
const AUDIT_DIR: &str = "audit/";

/// The trail's files on an OpenDAL service.
pub struct OpendalAuditFiles {
    op: Operator,
    place: Place,
    /// The runtime the synchronous trait blocks on (the trail's writer is a plain thread).
    runtime: Handle,
}

impl OpendalBlobStore {
    /// The audit trail's files on this store's service, under `audit/` beside `blobs/`.
    /// Needs a multi-threaded tokio runtime to block on.
    pub fn audit_files(&self) -> StoreResult<OpendalAuditFiles> {
        let runtime = Handle::try_current().map_err(|_| {
            StoreError::Unavailable("the audit files on OpenDAL need a tokio runtime".into())
        })?;
        Ok(OpendalAuditFiles {
            op: self.op.clone(),
            place: self.place,
            runtime,
        })
    }
}

impl OpendalAuditFiles {
    fn block<T>(&self, fut: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        coffer_store::run_blocking(|| self.runtime.block_on(fut))
    }

    fn error(&self, e: opendal::Error) -> StoreError {
        store_error(self.place, None, e)
    }
}

impl AuditFileStore for OpendalAuditFiles {
    fn audit_file(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        let path = format!("{AUDIT_DIR}{name}");
        self.block(async {
            match self.op.read(&path).await {
                Ok(buf) => Ok(Some(buf.to_vec())),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(self.error(e)),
            }
        })
    }

    fn put_audit_file(&self, name: &str, bytes: &[u8]) -> StoreResult<()> {
        let path = format!("{AUDIT_DIR}{name}");
        let body = bytes.to_vec();
        self.block(async {
            self.op
                .write(&path, body)
                .await
                .map(|_| ())
                .map_err(|e| self.error(e))
        })
    }

    fn swap_audit_file(&self, name: &str, _: Option<&[u8]>, _: &[u8]) -> StoreResult<bool> {
        Err(StoreError::Database(format!(
            "{name}: an object store cannot compare and swap; the trail keeps it in the database"
        )))
    }

    fn list_audit_files(&self, prefix: &str, suffix: &str) -> StoreResult<Vec<String>> {
        let dir = format!("{AUDIT_DIR}{prefix}");
        self.block(async {
            let mut names = Vec::new();
            let mut entries = match self.op.lister_with(&dir).recursive(true).await {
                Ok(l) => l,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(names),
                Err(e) => return Err(self.error(e)),
            };
            while let Some(entry) = entries.try_next().await.map_err(|e| self.error(e))? {
                let path = entry.path();
                if path.ends_with(suffix)
                    && !path.ends_with('/')
                    && let Some(name) = path.strip_prefix(AUDIT_DIR)
                {
                    names.push(name.to_owned());
                }
            }
            names.sort();
            Ok(names)
        })
    }

    fn remove_audit_file(&self, name: &str) -> StoreResult<()> {
        let path = format!("{AUDIT_DIR}{name}");
        self.block(async { self.op.delete(&path).await.map_err(|e| self.error(e)) })
    }
}
