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
    #[error("metadata database: {0}")]
    Database(String),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("blob I/O: {0}")]
    Io(#[from] std::io::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

macro_rules! db_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Database(e.to_string())
            }
        }
    )*};
}

db_error_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
