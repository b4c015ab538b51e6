//! `StoreError`: what can go wrong below the S3 layer, one variant per thing a caller must
//! tell apart (missing, unavailable, corrupt, conflicting, locked).

use thiserror::Error;

/// What can go wrong below the S3 layer. The S3 layer maps each variant to an S3 error in one
/// place (`coffer-s3`'s `error.rs`).
#[derive(Debug, Error)]
pub enum StoreError {
    /// A bucket with that name already exists (owner given, so the caller can tell
    /// `BucketAlreadyOwnedByYou` from `BucketAlreadyExists`).
    #[error("bucket already exists")]
    BucketExists { owner: String },
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("bucket is not empty")]
    BucketNotEmpty,
    #[error("no such upload")]
    NoSuchUpload,
    #[error("no such key")]
    NoSuchKey,
    /// A write's condition (If-Match / If-None-Match) did not hold at commit.
    #[error("precondition failed")]
    PreconditionFailed,
    /// A copy's source changed between reading it and committing the copy.
    #[error("copy source changed")]
    SourceChanged,
    /// A part named by CompleteMultipartUpload was replaced or is gone.
    #[error("part changed")]
    PartChanged,
    /// The record's data key is sealed under an SSE-S3 master-key version that was retired
    /// meanwhile; the caller seals it again under the current version and retries.
    #[error("master-key version retired")]
    MasterKeyRetired,
    /// Another process holds the metadata database open (embedded store only: its file lock).
    /// Displayed as redb words it, so logs read as before.
    #[error("metadata database: {}", redb::DatabaseError::DatabaseAlreadyOpen)]
    Locked,
    /// A KMS record is no longer at the version its writer read: another writer (maybe
    /// another gateway) changed it. Nothing was written; the caller reads it again and
    /// retries.
    #[error("KMS record {0} changed meanwhile")]
    KmsConflict(String),
    /// A write was decided on a bucket record that changed before it could commit (its
    /// policy, its default encryption…, maybe through another gateway). Nothing was
    /// written; the request is answered 503 and its retry decides on the new record.
    #[error("bucket changed meanwhile")]
    BucketChanged,
    #[error("metadata database: {0}")]
    Database(String),
    /// A blob a record names is not in the blob store: the record was replaced meanwhile
    /// (read it again), or the store lost it.
    #[error("blob {0} is missing")]
    NoSuchBlob(crate::BlobId),
    /// A backend that is reached over the network did not answer, or answered that it is
    /// overloaded or restarting: the request may succeed if tried again (503 at the S3 layer).
    #[error("storage backend unavailable: {0}")]
    Unavailable(String),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("disk I/O: {0}")]
    Io(#[from] std::io::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The same error again, for each writer of a batch that failed as a whole.
    pub(crate) fn duplicate(&self) -> StoreError {
        match self {
            StoreError::Io(e) => StoreError::Io(std::io::Error::new(e.kind(), e.to_string())),
            other => StoreError::Database(other.to_string()),
        }
    }
}

/// A disk error inside the database stays an I/O error, so a full disk is told apart from
/// a damaged database (503 rather than 500 at the S3 layer).
impl From<redb::StorageError> for StoreError {
    fn from(e: redb::StorageError) -> Self {
        match e {
            redb::StorageError::Io(io) => StoreError::Io(io),
            other => StoreError::Database(other.to_string()),
        }
    }
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::Io(io) => StoreError::Io(io),
            redb::Error::DatabaseAlreadyOpen => StoreError::Locked,
            other => StoreError::Database(other.to_string()),
        }
    }
}

macro_rules! storage_error_from {
    ($($t:ident),*) => {$(
        impl From<redb::$t> for StoreError {
            fn from(e: redb::$t) -> Self {
                match e {
                    redb::$t::Storage(s) => s.into(),
                    other => StoreError::Database(other.to_string()),
                }
            }
        }
    )*};
}

storage_error_from!(TransactionError, TableError, CommitError);

impl From<redb::DatabaseError> for StoreError {
    fn from(e: redb::DatabaseError) -> Self {
        match e {
            redb::DatabaseError::Storage(s) => s.into(),
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked,
            other => StoreError::Database(other.to_string()),
        }
    }
}
