//! What can go wrong in the trail, typed so that a caller can tell a failing disk from a
//! trail that was tampered with.

use std::sync::Arc;

use coffer_store::StoreError;

/// An error of the audit trail. Cloneable, because one failed group write answers every
/// record waiting in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// Reading or writing one of the trail's files failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Something the trail authenticates does not verify: it was edited or forged.
    #[error("{what}: {detail}")]
    Tampered { what: String, detail: &'static str },
    /// A file or stored value is not in the shape the trail writes.
    #[error("{what}: {detail}")]
    Malformed { what: String, detail: String },
    /// The metadata store that keeps the anchor and the index failed.
    #[error("{0}")]
    Store(#[source] Arc<StoreError>),
    /// The signing key could not be made, read or used.
    #[error("{0}")]
    Signing(&'static str),
    /// Another sealer changed what this one was about to replace: this one lost its lease
    /// (or never had it) and must not write over its successor's work.
    #[error("{0}")]
    Raced(&'static str),
    /// The thread that owns the trail's files is gone (the process is shutting down).
    #[error("the audit writer stopped")]
    WriterStopped,
}

impl AuditError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        AuditError::Io {
            what: what.into(),
            source: Arc::new(source),
        }
    }

    pub(crate) fn malformed(what: impl Into<String>, detail: impl ToString) -> Self {
        AuditError::Malformed {
            what: what.into(),
            detail: detail.to_string(),
        }
    }

    /// Whether this is evidence of tampering rather than a failure to read or write.
    pub fn is_tampering(&self) -> bool {
        matches!(self, AuditError::Tampered { .. })
    }
}

impl From<StoreError> for AuditError {
    fn from(e: StoreError) -> Self {
        AuditError::Store(Arc::new(e))
    }
}

pub type AuditResult<T> = Result<T, AuditError>;
