//! The persisted records. Each carries a schema version `v`; a reader that meets a version it
//! does not know refuses the record rather than guessing.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::blob::BlobId;

/// Current schema version of every record type. Bump it, and add a migration, when a field's
/// meaning changes; adding an optional field does not need a bump.
pub const RECORD_VERSION: u32 = 1;

fn current_version() -> u32 {
    RECORD_VERSION
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    #[serde(default = "current_version")]
    pub v: u32,
    pub name: String,
    /// Name of the user who created the bucket.
    pub owner: String,
    pub region: String,
    /// Unix time in milliseconds.
    pub created_ms: i64,
    /// The bucket's default encryption as last configured; `None` means S3's default
    /// (SSE-S3, no bucket key).
    #[serde(default)]
    pub encryption: Option<BucketEncryption>,
    /// The bucket policy (JSON text, as the owner put it; validated before it is stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The bucket's tag set (PutBucketTagging); empty when it has none.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// A tag set: keys are unique, and S3 lists them in key order. Stored as user metadata is,
/// in the record (S3 encrypts object data, not metadata or tags).
pub type Tags = BTreeMap<String, String>;

/// A bucket's default-encryption rule (PutBucketEncryption).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    /// `AES256`, `aws:kms` or `aws:kms:dsse`.
    pub algorithm: String,
    /// As the client sent it (S3 echoes it unchanged).
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub bucket_key_enabled: bool,
    /// `BlockedEncryptionTypes`: `SSE-C` and/or `NONE`, as configured.
    #[serde(default)]
    pub blocked_types: Vec<String>,
}

/// A checksum the client asked for (or sent), over the whole object or composed from parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksumRecord {
    /// `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1` or `SHA256`.
    pub algorithm: String,
    /// Base64 value as S3 returns it (for composite checksums, with `-N`).
    pub value: String,
    /// `FULL_OBJECT` or `COMPOSITE`.
    pub kind: String,
}

/// One stored part of an object: a single PUT is one part; a multipart object has one per
/// uploaded part, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPart {
    pub number: u32,
    pub size: u64,
    /// The part's ETag: hex MD5 of its bytes, except under SSE-C, where an ETag must not
    /// reveal anything about the plaintext and is random.
    pub md5_hex: String,
    pub blob: BlobId,
    /// The checksum the client asked for on this part, if any.
    #[serde(default)]
    pub checksum: Option<ChecksumRecord>,
    /// CRC64NVME of the part, always computed, so a multipart object gets S3's default
    /// full-object checksum by combining its parts'.
    #[serde(default)]
    pub crc64nvme: Option<u64>,
}

/// How an object's data key is protected. The data key itself is never stored unsealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionRecord {
    /// `AES256` (SSE-S3), `SSE-C` or `aws:kms` (SSE-KMS).
    pub mode: String,
    /// SSE-S3: the master-key version that sealed the data key (0 for other modes).
    pub master_version: u32,
    /// The sealed data key, base64 (AAD: the object's ARN).
    pub sealed_key: String,
    /// SSE-C: the random salt (base64) of the key-encryption key derived from the
    /// customer's key. Nothing else derived from that key is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_salt: Option<String>,
    /// SSE-KMS: the ARN of the KMS key whose ciphertext `sealed_key` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    /// SSE-KMS: the caller's encryption-context pairs (JSON object), which Decrypt needs
    /// again; S3's own `aws:s3:arn` pair is implied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_context: Option<String>,
    /// SSE-KMS with an S3 Bucket Key: the bucket key's KMS ciphertext (base64); the object's
    /// data key is then sealed under a key derived from it, not by KMS itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_key: Option<String>,
}

impl EncryptionRecord {
    /// The SSE-S3 master-key version this record needs to open its data key, if any.
    pub fn needs_master_version(&self) -> Option<u32> {
        (self.mode == "AES256").then_some(self.master_version)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    #[serde(default = "current_version")]
    pub v: u32,
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    pub last_modified_ms: i64,
    pub parts: Vec<StoredPart>,
    /// True when the object was assembled by CompleteMultipartUpload (its parts are real parts
    /// for `partNumber` reads and `PartsCount`).
    pub multipart: bool,
    #[serde(default)]
    pub checksum: Option<ChecksumRecord>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content_encoding: Option<String>,
    #[serde(default)]
    pub content_disposition: Option<String>,
    #[serde(default)]
    pub content_language: Option<String>,
    #[serde(default)]
    pub cache_control: Option<String>,
    /// The `Expires` header, as Unix milliseconds.
    #[serde(default)]
    pub expires_ms: Option<i64>,
    #[serde(default)]
    pub website_redirect_location: Option<String>,
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub storage_class: Option<String>,
    /// `None` only for records written before encryption at rest existed.
    #[serde(default)]
    pub encryption: Option<EncryptionRecord>,
    /// The object's tag set; records written before tagging existed have none.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

impl ObjectRecord {
    /// The blobs this record names.
    pub fn blobs(&self) -> impl Iterator<Item = &BlobId> {
        self.parts.iter().map(|p| &p.blob)
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    #[serde(default = "current_version")]
    pub v: u32,
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiator: String,
    pub initiated_ms: i64,
    /// Headers and metadata the object will carry, fixed at CreateMultipartUpload.
    pub template: ObjectRecord,
    /// Checksum algorithm and type the client declared at CreateMultipartUpload.
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
    #[serde(default)]
    pub checksum_type: Option<String>,
}

/// What a completed multipart upload answered, kept for a while after it completed so a
/// repeated CompleteMultipartUpload (an SDK retrying after a timeout) gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedUploadRecord {
    #[serde(default = "current_version")]
    pub v: u32,
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    /// Unix time in milliseconds; the record expires [`COMPLETED_UPLOAD_RETENTION_MS`] later.
    pub completed_ms: i64,
    /// The part list the upload was completed with: number and ETag (unquoted), in order.
    pub parts: Vec<(u32, String)>,
    pub etag: String,
    #[serde(default)]
    pub checksum: Option<ChecksumRecord>,
    /// `x-amz-server-side-encryption` as answered (none for SSE-C).
    #[serde(default)]
    pub server_side_encryption: Option<String>,
    #[serde(default)]
    pub kms_key_arn: Option<String>,
    #[serde(default)]
    pub bucket_key_enabled: bool,
}

/// How long a completed upload is remembered: two days, so a retry is answered alike for at
/// least a day whatever the clocks do.
pub const COMPLETED_UPLOAD_RETENTION_MS: i64 = 2 * 24 * 3600 * 1000;

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    #[serde(default = "current_version")]
    pub v: u32,
    pub part: StoredPart,
    pub last_modified_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_from_before_tagging_decode_without_tags_and_untagged_records_omit_them() {
        let old = r#"{"v":1,"size":1,"etag":"e","last_modified_ms":0,"parts":[],"multipart":false,"user_metadata":{"a":"b"}}"#;
        let record: ObjectRecord = serde_json::from_str(old).unwrap();
        assert!(record.tags.is_empty());
        assert!(!serde_json::to_string(&record).unwrap().contains("tags"));
        let bucket = r#"{"v":1,"name":"b","owner":"o","region":"r","created_ms":0}"#;
        let mut bucket: BucketRecord = serde_json::from_str(bucket).unwrap();
        assert!(bucket.tags.is_empty());
        bucket.tags.insert("k".into(), "v".into());
        let again: BucketRecord =
            serde_json::from_str(&serde_json::to_string(&bucket).unwrap()).unwrap();
        assert_eq!(again.tags, bucket.tags);
    }
}
