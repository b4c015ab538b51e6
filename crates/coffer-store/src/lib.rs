//! Persistence for Coffer, behind two traits.
//!
//! [`MetaStore`] holds everything small and structured (buckets, object records, multipart
//! state, KMS key records, settings and the audit index); [`BlobStore`] holds object bytes.
//! The embedded default keeps both under one data directory: a `redb` database
//! ([`RedbMetaStore`]) and a folder of blob files ([`FsBlobStore`]).
//!
//! Invariants this crate protects:
//! - A blob is durable (file and directory fsynced) before any record may name it. A small
//!   object's sealed bytes may instead ride in its record ([`INLINE_MAX`]).
//! - A record change is one metadata transaction: a crash leaves the old state or the new one.
//! - A blob is deleted only once no record names it; a crash in between leaves an orphan,
//!   which [`collect_orphans`] removes. Nothing here deletes a blob a record names, nor,
//!   under [`GcPolicy::default`], one younger than the grace period or covered by a write
//!   intent ([`IntentRecordingBlobStore`]) whose record may still be on its way.
//!
//! Callers are the S3 layer (objects and uploads), the KMS layer (key records, settings and
//! its audit outbox) and the audit trail (its anchors and lookup index). This crate knows
//! nothing of HTTP or S3 semantics beyond the shape of the records.
#![forbid(unsafe_code)]

mod audit_store;
mod blob;
mod blocking;
#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;
mod error;
mod fs_blob;
mod gc;
mod inline;
mod intent_blobs;
mod kms_versions;
mod meta;
mod records;
mod redb_audit;
mod redb_handle;
mod redb_meta;
mod reply;
mod shared_audit;

pub use audit_store::{AuditStore, IndexCursor, IndexScan, IndexedRecord, KmsWrite};
pub use blob::{BlobId, BlobReader, BlobStore, BlobWriter, ListedBlob};
pub use blocking::run_blocking;
pub use error::{StoreError, StoreResult};
pub use fs_blob::FsBlobStore;
pub use gc::{GcPolicy, GcReport, collect_orphans};
pub use inline::{INLINE_MAX, InlineBytes, open_part};
pub use intent_blobs::IntentRecordingBlobStore;
pub use meta::{
    KMS_KEY_RECORD_PREFIX, KeyStore, KmsRecordSnapshot, ListControl, MetaStore, ObjectRead,
    WriteCondition,
};
pub use records::{
    BucketEncryption, BucketRecord, COMPLETED_UPLOAD_RETENTION_MS, ChecksumRecord,
    CompletedUploadRecord, EncryptionRecord, ObjectRecord, PartRecord, RECORD_VERSION, StoredPart,
    Tags, UploadRecord,
};
pub use redb_meta::RedbMetaStore;
pub use reply::Reply;
pub use shared_audit::{AuditFileStore, AuditJournalStore, StreamLine};
