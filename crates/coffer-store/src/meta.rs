//! The `MetaStore` seam: buckets, objects, multipart uploads and blob reference counts, with
//! the conditional writes S3 promises; `KeyStore` for the KMS's versioned records.

use async_trait::async_trait;

use crate::blob::BlobId;
use crate::error::StoreResult;
use crate::records::{BucketRecord, CompletedUploadRecord, ObjectRecord, PartRecord, UploadRecord};

/// A condition a write checks inside its transaction, so check and write are atomic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WriteCondition {
    #[default]
    Always,
    /// `If-None-Match: *`: only if no object has the key.
    IfAbsent,
    /// `If-Match: <etag>`: only if the current object has this ETag (`NoSuchKey` if none).
    IfMatch(String),
}

/// What a listing callback wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListControl {
    Continue,
    Stop,
}

/// A KMS record as one read of the metadata store saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsRecordSnapshot {
    /// The record's id (for a key, [`KMS_KEY_RECORD_PREFIX`] and the key id).
    pub id: String,
    /// Its version and bytes; `None` when there was no such record.
    pub found: Option<(u64, Vec<u8>)>,
}

/// What [`MetaStore::get_object_for_read`] returns.
#[derive(Debug, Clone, Default)]
pub struct ObjectRead {
    pub bucket: Option<BucketRecord>,
    pub object: Option<ObjectRecord>,
    /// The record of the KMS key the object is sealed under, read with it (`None`: not read).
    pub kms_key: Option<KmsRecordSnapshot>,
}

/// Where the KMS keeps a key's record: this prefix and the key id. The store knows it so
/// that a read of an object can bring the record of its key along.
pub const KMS_KEY_RECORD_PREFIX: &str = "key/";

/// Structured state. Every mutating call is one transaction, durable when it returns.
///
/// Mutations that drop references to blobs return the blobs no record names any more: the
/// caller deletes them from the [`crate::BlobStore`] after the call returns (a crash before
/// that leaves orphans for [`crate::collect_orphans`], never a record without its blob).
///
/// The object plane (buckets, objects, uploads, blob references) is async: it is on every S3
/// request's path, and a database reached over the network must not hold a thread per
/// request while it waits. The KMS's records ([`KeyStore`]) and the audit trail's
/// ([`crate::AuditStore`]) are synchronous: their callers already run on blocking threads (a
/// KMS operation is a compare-and-swap plus an audited, fsynced record), and a network
/// backend implements them by blocking on its async client there.
#[async_trait]
pub trait MetaStore: KeyStore + crate::AuditStore + Send + Sync + 'static {
    async fn create_bucket(&self, bucket: &BucketRecord) -> StoreResult<()>;
    async fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketRecord>>;
    async fn list_buckets(&self) -> StoreResult<Vec<BucketRecord>>;
    /// Sets (or, with `None`, resets) a bucket's default encryption.
    async fn set_bucket_encryption(
        &self,
        name: &str,
        encryption: Option<crate::records::BucketEncryption>,
    ) -> StoreResult<()>;
    /// Sets (or, with `None`, removes) a bucket's policy.
    async fn set_bucket_policy(&self, name: &str, policy: Option<String>) -> StoreResult<()>;
    /// Replaces a bucket's tag set (empty: removes it).
    async fn set_bucket_tags(&self, name: &str, tags: crate::records::Tags) -> StoreResult<()>;
    /// Fails with `BucketNotEmpty` while objects remain; aborts the bucket's uploads.
    async fn delete_bucket(&self, name: &str) -> StoreResult<Vec<BlobId>>;

    /// Stores (or replaces) an object whose blobs were just written; the bucket must exist.
    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>>;
    /// Stores `object` at the destination, sharing the source's blobs, provided the source
    /// still names exactly `source_blobs` (else `SourceChanged`: a concurrent write may have
    /// freed them).
    async fn copy_object(
        &self,
        source: (&str, &str),
        source_blobs: &[BlobId],
        destination: (&str, &str),
        object: &ObjectRecord,
    ) -> StoreResult<Vec<BlobId>>;
    async fn get_object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectRecord>>;
    /// A bucket and one of its objects, read together: what every GET and HEAD needs first
    /// (the bucket for its policy and encryption, the object for its record). A backend across
    /// a network answers in one round trip; the default reads one, then the other.
    async fn get_bucket_and_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> StoreResult<(Option<BucketRecord>, Option<ObjectRecord>)> {
        let b = self.get_bucket(bucket).await?;
        let o = match b {
            Some(_) => self.get_object(bucket, key).await?,
            None => None,
        };
        Ok((b, o))
    }
    /// The bucket as a write is about to use it, to be committed with
    /// [`MetaStore::put_object_in_bucket`], which checks that it is still so. A backend
    /// across a network may answer from what it read before, saving the round trip: the
    /// check at commit, not this read, is what keeps a stale answer from being acted on.
    async fn get_bucket_for_write(&self, name: &str) -> StoreResult<Option<BucketRecord>> {
        self.get_bucket(name).await
    }
    /// [`MetaStore::put_object`] for a write decided on `bucket`, as
    /// [`MetaStore::get_bucket_for_write`] gave it: fails with
    /// [`StoreError::BucketChanged`](crate::StoreError::BucketChanged), writing nothing,
    /// if the bucket is no longer that record. The default reads fresh, so it just puts.
    async fn put_object_in_bucket(
        &self,
        bucket: &BucketRecord,
        key: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
    ) -> StoreResult<Vec<BlobId>> {
        self.put_object(&bucket.name, key, object, condition).await
    }
    /// [`MetaStore::delete_object`] for a delete decided on `bucket`, as
    /// [`MetaStore::get_bucket_for_write`] gave it: fails with
    /// [`StoreError::BucketChanged`](crate::StoreError::BucketChanged), removing nothing, if
    /// the bucket is no longer that record.
    async fn delete_object_in_bucket(
        &self,
        bucket: &BucketRecord,
        key: &str,
        condition: &WriteCondition,
    ) -> StoreResult<(Option<ObjectRecord>, Vec<BlobId>)> {
        self.delete_object(&bucket.name, key, condition).await
    }
    /// What a write under SSE-KMS reads before it can seal, together: the bucket and the
    /// record `kms_id` names (the key the request is expected to use), as of the same read.
    /// A backend across a network answers in one round trip; the default reads the bucket
    /// and leaves the key record to the KMS (`None`), which then reads it itself.
    async fn get_bucket_and_kms_record(
        &self,
        bucket: &str,
        kms_id: &str,
    ) -> StoreResult<(Option<BucketRecord>, Option<KmsRecordSnapshot>)> {
        let _ = kms_id;
        Ok((self.get_bucket(bucket).await?, None))
    }
    /// What a GET reads before it can decrypt, together: [`MetaStore::get_bucket_and_object`]
    /// and, for an object sealed under a KMS key, that key's record as of the same read. A
    /// backend across a network answers in one round trip; the default leaves the key record
    /// to the KMS (`kms_key: None`), which then reads it itself.
    async fn get_object_for_read(&self, bucket: &str, key: &str) -> StoreResult<ObjectRead> {
        let (bucket, object) = self.get_bucket_and_object(bucket, key).await?;
        Ok(ObjectRead {
            bucket,
            object,
            kms_key: None,
        })
    }
    /// Replaces the tag set of the object now stored at the key, leaving everything else as
    /// it is. Returns false if there is no such object.
    async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &crate::records::Tags,
    ) -> StoreResult<bool>;
    /// Returns the removed record, if there was one, and the freed blobs.
    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> StoreResult<(Option<ObjectRecord>, Vec<BlobId>)>;
    /// Removes several objects in one transaction; returns which keys existed and the freed
    /// blobs.
    async fn delete_objects(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> StoreResult<(Vec<bool>, Vec<BlobId>)>;
    /// Visits a bucket's objects in key order (UTF-8 byte order, as S3 lists), starting after
    /// `start_after`, restricted to keys beginning with `prefix`.
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        visit: &mut (dyn for<'k, 'r> FnMut(&'k str, &'r ObjectRecord) -> ListControl + Send),
    ) -> StoreResult<()>;

    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<()>;
    async fn get_upload(&self, upload_id: &str) -> StoreResult<Option<UploadRecord>>;
    /// All uploads of a bucket, ordered by key then upload id.
    async fn list_uploads(&self, bucket: &str) -> StoreResult<Vec<UploadRecord>>;
    /// Stores a part, replacing an earlier upload of the same number.
    async fn put_part(&self, upload_id: &str, part: &PartRecord) -> StoreResult<Vec<BlobId>>;
    async fn list_parts(&self, upload_id: &str) -> StoreResult<Vec<PartRecord>>;
    async fn abort_upload(&self, upload_id: &str) -> StoreResult<Vec<BlobId>>;
    /// Atomically turns an upload into an object: stores `object` (whose parts reference the
    /// upload's part blobs), removes the upload and its parts.
    /// Fails with `PartChanged` if a part the object names was replaced meanwhile.
    /// `completed` is remembered (for [`MetaStore::get_completed_upload`]) in the same
    /// transaction, and records older than their retention are dropped, a few per call.
    async fn complete_upload(
        &self,
        upload_id: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
        completed: &CompletedUploadRecord,
    ) -> StoreResult<Vec<BlobId>>;
    /// What an upload completed earlier answered, if it is still remembered (the caller
    /// checks its age: expired records may linger until pruned).
    async fn get_completed_upload(
        &self,
        upload_id: &str,
    ) -> StoreResult<Option<CompletedUploadRecord>>;

    /// Replaces an object's sealed data key, if it is still `expected` (else returns false:
    /// the object changed meanwhile). Data and everything else stay as they are.
    async fn reseal_object(
        &self,
        bucket: &str,
        key: &str,
        expected: &str,
        encryption: &crate::records::EncryptionRecord,
    ) -> StoreResult<bool>;
    /// The same for an upload in progress.
    async fn reseal_upload(
        &self,
        upload_id: &str,
        expected: &str,
        encryption: &crate::records::EncryptionRecord,
    ) -> StoreResult<bool>;

    /// Retires every SSE-S3 master-key version below `floor`: succeeds (returns 0) only if no
    /// object or upload needs one, and from then on refuses records that would
    /// (`MasterKeyRetired`). Otherwise returns how many records still need one and changes
    /// nothing.
    async fn retire_master_versions_below(&self, floor: u32) -> StoreResult<u64>;

    /// Every blob some record names, all at once: for consistency checks and tests, not for
    /// garbage collection (see [`MetaStore::blobs_in_use`]).
    async fn referenced_blobs(&self) -> StoreResult<std::collections::HashSet<BlobId>>;

    /// Records, before blob `id` becomes visible, that a writer is about to name it in a
    /// record (`at_ms`: milliseconds since the Unix epoch). Garbage collection on any gateway
    /// spares a blob whose intent is live, however old the blob. The transaction that first
    /// names the blob removes its intent.
    async fn record_blob_intent(&self, id: &BlobId, at_ms: i64) -> StoreResult<()>;
    /// Removes the intent for a blob that will never be named (its write failed, or its
    /// record was refused). A missing intent is not an error.
    async fn forget_blob_intent(&self, id: &BlobId) -> StoreResult<()>;
    /// Which of `ids` are still needed, read in one snapshot: named by a record, or covered by
    /// an intent recorded at or after `intents_since_ms`.
    async fn blobs_in_use(
        &self,
        ids: &[BlobId],
        intents_since_ms: i64,
    ) -> StoreResult<std::collections::HashSet<BlobId>>;
    /// Removes up to `limit` intents recorded before `before_ms`, whose writers are presumed
    /// dead; returns how many it removed.
    async fn drop_stale_blob_intents(&self, before_ms: i64, limit: usize) -> StoreResult<usize>;
}

/// The KMS's records (keys, aliases, the master keyring's versions, sealed by the KMS layer:
/// this store never sees key material) and small server-wide settings.
pub trait KeyStore: Send + Sync {
    /// A KMS key record, sealed by the KMS layer (this store never sees key material).
    fn get_kms_key(&self, id: &str) -> StoreResult<Option<Vec<u8>>>;
    fn put_kms_key(&self, id: &str, record: &[u8]) -> StoreResult<()>;
    /// Removes a KMS record (an alias, or a key whose material is destroyed).
    fn delete_kms_key(&self, id: &str) -> StoreResult<()>;
    /// The KMS records whose ids start with `prefix`, in id order.
    fn list_kms_keys(&self, prefix: &str) -> StoreResult<Vec<(String, Vec<u8>)>>;
    /// A KMS record with its version (0 for a record stored before versions existed), for
    /// a compare-and-swap through [`KeyStore::write_kms_records`].
    fn get_kms_record(&self, id: &str) -> StoreResult<Option<(u64, Vec<u8>)>>;
    /// [`KeyStore::list_kms_keys`], each record with its version.
    fn list_kms_records(&self, prefix: &str) -> StoreResult<Vec<(String, u64, Vec<u8>)>>;
    /// Applies KMS writes in one commit, each only if its record is still at the version it
    /// expects (absent: `None`); else writes nothing and fails with `KmsConflict`. Every
    /// write to a KMS record, this or any other, gives it a new version.
    fn write_kms_records(&self, writes: Vec<crate::KmsWrite>) -> StoreResult<()>;
    /// Small server-wide values, such as the root key's check value.
    fn get_setting(&self, name: &str) -> StoreResult<Option<Vec<u8>>>;
    fn put_setting(&self, name: &str, value: &[u8]) -> StoreResult<()>;
    /// Takes or renews the lease `name` for `holder` for `ttl_ms` from now, if it is free,
    /// expired, or already `holder`'s. Returns the lease's fencing token while `holder`
    /// holds it (the same token as long as it keeps holding it, a greater one each time the
    /// lease changes hands), `None` while another holder's lease runs. Several gateways run
    /// each chore (rotation, deletion windows, collection…) under one lease, so one of them
    /// at a time does it; a backend across a network times leases by its own clock, so that
    /// gateways' clocks need not agree.
    fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: u64) -> StoreResult<Option<u64>>;
}
