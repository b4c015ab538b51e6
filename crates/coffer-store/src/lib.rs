//! Persistence for Coffer, behind two traits.
//!
//! [`MetaStore`] holds everything small and structured (buckets, object records, multipart
//! state); [`BlobStore`] holds object bytes. The embedded default keeps both under one data
//! directory: a `redb` database and a folder of blob files.
//!
//! Invariants this crate protects:
//! - A blob is durable (file and directory fsynced) before any record may name it.
//! - A record change is one metadata transaction: a crash leaves the old state or the new one.
//! - A blob is deleted only once no record names it; a crash in between leaves an orphan,
//!   which [`collect_orphans`] removes at start-up. Nothing here deletes a blob a record names.
//!
//! Callers are the S3 layer and, later, the KMS and audit layers. This crate knows nothing of
//! HTTP or S3 semantics beyond the shape of the records.
#![forbid(unsafe_code)]

mod audit_store;
mod blob;
mod error;
mod fs_blob;
mod gc;
mod kms_versions;
mod meta;
mod records;
mod redb_audit;
mod redb_handle;
mod redb_meta;

pub use audit_store::{AuditStore, IndexCursor, IndexScan, IndexedRecord, KmsWrite};
pub use blob::{BlobId, BlobReader, BlobStore, BlobWriter};
pub use error::{StoreError, StoreResult};
pub use fs_blob::FsBlobStore;
pub use gc::{GcReport, collect_orphans};
pub use meta::{ListControl, MetaStore, WriteCondition};
pub use records::{
    BucketEncryption, BucketRecord, COMPLETED_UPLOAD_RETENTION_MS, ChecksumRecord,
    CompletedUploadRecord, EncryptionRecord, ObjectRecord, PartRecord, RECORD_VERSION, StoredPart,
    Tags, UploadRecord,
};
pub use redb_meta::RedbMetaStore;
