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
    /// The sealed bytes themselves, for a small object's only part ([`crate::INLINE_MAX`]):
    /// then `blob` names nothing in the blob store, and the bytes live and die with the
    /// record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<crate::InlineBytes>,
}

/// How an object's data key is protected: one variant per mode, each holding exactly the
/// fields that mode uses. The data key itself is never stored unsealed; every sealed key is
/// bound to the object's ARN.
///
/// On disk it keeps the flat shape it has always had ([`FlatEncryptionRecord`]), so records
/// written before this type existed decode, and re-encode, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FlatEncryptionRecord", into = "FlatEncryptionRecord")]
pub enum EncryptionRecord {
    /// SSE-S3: the data key sealed under an SSE-S3 master key.
    SseS3 {
        /// The master-key version that sealed the data key.
        master_version: u32,
        /// The sealed data key, base64.
        sealed_key: String,
    },
    /// SSE-C: the data key sealed under a key-encryption key derived from the customer's key.
    Customer {
        /// The sealed data key, base64.
        sealed_key: String,
        /// The random salt (base64) of the key-encryption key. Nothing else derived from the
        /// customer's key is stored.
        customer_salt: String,
    },
    /// SSE-KMS: the data key is the KMS's ciphertext.
    Kms {
        /// The ARN of the KMS key whose ciphertext `sealed_key` is.
        key_arn: String,
        /// The KMS ciphertext of the data key, base64.
        sealed_key: String,
        /// The caller's encryption-context pairs (JSON object), which Decrypt needs again;
        /// S3's own `aws:s3:arn` pair is implied.
        context: Option<String>,
    },
    /// SSE-KMS with an S3 Bucket Key: the data key is sealed under a key derived from the
    /// bucket key, not by the KMS itself. Such a write takes no caller context.
    KmsBucketKey {
        /// The ARN of the KMS key whose ciphertext `bucket_key` is.
        key_arn: String,
        /// The bucket key's KMS ciphertext, base64.
        bucket_key: String,
        /// The sealed data key, base64.
        sealed_key: String,
    },
}

/// The `mode` of SSE-S3 on disk (also its `x-amz-server-side-encryption` value).
const MODE_SSE_S3: &str = "AES256";
/// The `mode` of SSE-C on disk.
const MODE_SSE_C: &str = "SSE-C";
/// The `mode` of SSE-KMS on disk, with or without a bucket key (also its header value).
const MODE_SSE_KMS: &str = "aws:kms";

impl EncryptionRecord {
    /// The SSE-S3 master-key version this record needs to open its data key, if any.
    pub fn needs_master_version(&self) -> Option<u32> {
        match self {
            EncryptionRecord::SseS3 { master_version, .. } => Some(*master_version),
            _ => None,
        }
    }

    /// The sealed data key, base64 (whatever seals it).
    pub fn sealed_key(&self) -> &str {
        match self {
            EncryptionRecord::SseS3 { sealed_key, .. }
            | EncryptionRecord::Customer { sealed_key, .. }
            | EncryptionRecord::Kms { sealed_key, .. }
            | EncryptionRecord::KmsBucketKey { sealed_key, .. } => sealed_key,
        }
    }

    /// The `x-amz-server-side-encryption` value S3 reports for this mode; none for SSE-C,
    /// whose responses name the customer algorithm instead.
    pub fn server_side_encryption(&self) -> Option<&'static str> {
        match self {
            EncryptionRecord::SseS3 { .. } => Some(MODE_SSE_S3),
            EncryptionRecord::Customer { .. } => None,
            EncryptionRecord::Kms { .. } | EncryptionRecord::KmsBucketKey { .. } => {
                Some(MODE_SSE_KMS)
            }
        }
    }

    /// Whether the customer's key (SSE-C) is needed to open the data key.
    pub fn is_customer(&self) -> bool {
        matches!(self, EncryptionRecord::Customer { .. })
    }

    /// Whether ETags under this mode are opaque (not the plaintext's MD5): all but SSE-S3's.
    pub fn has_opaque_etags(&self) -> bool {
        !matches!(self, EncryptionRecord::SseS3 { .. })
    }

    /// SSE-KMS: the id of the KMS record of the key (see [`crate::KMS_KEY_RECORD_PREFIX`]),
    /// taken from its ARN (`arn:aws:kms:<region>:<account>:key/<id>`).
    pub fn kms_key_record_id(&self) -> Option<String> {
        let (arn, _) = self.kms_key()?;
        let (_, id) = arn.rsplit_once(":key/")?;
        Some(format!("{}{id}", crate::KMS_KEY_RECORD_PREFIX))
    }

    /// SSE-KMS: the KMS key's ARN, and whether an S3 Bucket Key is used.
    pub fn kms_key(&self) -> Option<(&str, bool)> {
        match self {
            EncryptionRecord::Kms { key_arn, .. } => Some((key_arn, false)),
            EncryptionRecord::KmsBucketKey { key_arn, .. } => Some((key_arn, true)),
            _ => None,
        }
    }
}

/// The on-disk shape of [`EncryptionRecord`], unchanged since records were first written:
/// a `mode` string and every mode's fields, the unused ones absent (or 0).
#[derive(Serialize, Deserialize)]
struct FlatEncryptionRecord {
    /// `AES256` (SSE-S3), `SSE-C` or `aws:kms` (SSE-KMS).
    mode: String,
    /// SSE-S3: the master-key version; 0 for other modes.
    master_version: u32,
    sealed_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer_salt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kms_key_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kms_context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bucket_key: Option<String>,
}

impl TryFrom<FlatEncryptionRecord> for EncryptionRecord {
    type Error = String;

    fn try_from(flat: FlatEncryptionRecord) -> Result<Self, String> {
        let FlatEncryptionRecord {
            mode,
            master_version,
            sealed_key,
            customer_salt,
            kms_key_arn,
            kms_context,
            bucket_key,
        } = flat;
        let stray = |field: &str| {
            format!("encryption record in mode {mode:?} has a {field}, which that mode never uses")
        };
        let missing = |field: &str| format!("encryption record in mode {mode:?} lacks its {field}");
        if mode != MODE_SSE_S3 && master_version != 0 {
            return Err(stray("master_version"));
        }
        match mode.as_str() {
            MODE_SSE_S3 => {
                for (field, present) in [
                    ("customer_salt", customer_salt.is_some()),
                    ("kms_key_arn", kms_key_arn.is_some()),
                    ("kms_context", kms_context.is_some()),
                    ("bucket_key", bucket_key.is_some()),
                ] {
                    if present {
                        return Err(stray(field));
                    }
                }
                Ok(EncryptionRecord::SseS3 {
                    master_version,
                    sealed_key,
                })
            }
            MODE_SSE_C => {
                for (field, present) in [
                    ("kms_key_arn", kms_key_arn.is_some()),
                    ("kms_context", kms_context.is_some()),
                    ("bucket_key", bucket_key.is_some()),
                ] {
                    if present {
                        return Err(stray(field));
                    }
                }
                Ok(EncryptionRecord::Customer {
                    sealed_key,
                    customer_salt: customer_salt.ok_or_else(|| missing("customer_salt"))?,
                })
            }
            MODE_SSE_KMS => {
                if customer_salt.is_some() {
                    return Err(stray("customer_salt"));
                }
                let key_arn = kms_key_arn.ok_or_else(|| missing("kms_key_arn"))?;
                match bucket_key {
                    Some(_) if kms_context.is_some() => {
                        Err(stray("kms_context beside a bucket_key"))
                    }
                    Some(bucket_key) => Ok(EncryptionRecord::KmsBucketKey {
                        key_arn,
                        bucket_key,
                        sealed_key,
                    }),
                    None => Ok(EncryptionRecord::Kms {
                        key_arn,
                        sealed_key,
                        context: kms_context,
                    }),
                }
            }
            other => Err(format!("unknown encryption mode {other:?}")),
        }
    }
}

impl From<EncryptionRecord> for FlatEncryptionRecord {
    fn from(record: EncryptionRecord) -> Self {
        let flat = |mode: &str, sealed_key| FlatEncryptionRecord {
            mode: mode.to_owned(),
            master_version: 0,
            sealed_key,
            customer_salt: None,
            kms_key_arn: None,
            kms_context: None,
            bucket_key: None,
        };
        match record {
            EncryptionRecord::SseS3 {
                master_version,
                sealed_key,
            } => FlatEncryptionRecord {
                master_version,
                ..flat(MODE_SSE_S3, sealed_key)
            },
            EncryptionRecord::Customer {
                sealed_key,
                customer_salt,
            } => FlatEncryptionRecord {
                customer_salt: Some(customer_salt),
                ..flat(MODE_SSE_C, sealed_key)
            },
            EncryptionRecord::Kms {
                key_arn,
                sealed_key,
                context,
            } => FlatEncryptionRecord {
                kms_key_arn: Some(key_arn),
                kms_context: context,
                ..flat(MODE_SSE_KMS, sealed_key)
            },
            EncryptionRecord::KmsBucketKey {
                key_arn,
                bucket_key,
                sealed_key,
            } => FlatEncryptionRecord {
                kms_key_arn: Some(key_arn),
                bucket_key: Some(bucket_key),
                ..flat(MODE_SSE_KMS, sealed_key)
            },
        }
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
    /// The blobs this record names in the blob store (an inline part names none).
    pub fn blobs(&self) -> impl Iterator<Item = &BlobId> {
        self.parts
            .iter()
            .filter(|p| p.inline.is_none())
            .map(|p| &p.blob)
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

    /// Records as written before `EncryptionRecord` was an enum, one per mode.
    const FLAT_RECORDS: [&str; 5] = [
        r#"{"mode":"AES256","master_version":3,"sealed_key":"c2VhbGVk"}"#,
        r#"{"mode":"SSE-C","master_version":0,"sealed_key":"c2VhbGVk","customer_salt":"c2FsdA=="}"#,
        r#"{"mode":"aws:kms","master_version":0,"sealed_key":"Y2lwaGVy","kms_key_arn":"arn:aws:kms:us-east-1:000000000000:key/k"}"#,
        r#"{"mode":"aws:kms","master_version":0,"sealed_key":"Y2lwaGVy","kms_key_arn":"arn:aws:kms:us-east-1:000000000000:key/k","kms_context":"{\"a\":\"b\"}"}"#,
        r#"{"mode":"aws:kms","master_version":0,"sealed_key":"c2VhbGVk","kms_key_arn":"arn:aws:kms:us-east-1:000000000000:key/k","bucket_key":"YmtleQ=="}"#,
    ];

    #[test]
    fn encryption_records_on_disk_decode_and_re_encode_byte_identically() {
        let decoded: Vec<EncryptionRecord> = FLAT_RECORDS
            .iter()
            .map(|json| serde_json::from_str(json).unwrap())
            .collect();
        assert!(matches!(
            decoded[0],
            EncryptionRecord::SseS3 {
                master_version: 3,
                ..
            }
        ));
        assert!(matches!(decoded[1], EncryptionRecord::Customer { .. }));
        assert!(matches!(
            decoded[2],
            EncryptionRecord::Kms { context: None, .. }
        ));
        assert!(matches!(
            decoded[3],
            EncryptionRecord::Kms {
                context: Some(_),
                ..
            }
        ));
        assert!(matches!(decoded[4], EncryptionRecord::KmsBucketKey { .. }));
        for (json, record) in FLAT_RECORDS.iter().zip(&decoded) {
            assert_eq!(&serde_json::to_string(record).unwrap(), json);
        }
    }

    #[test]
    fn impossible_encryption_records_are_refused_on_decode() {
        for (json, says) in [
            (
                r#"{"mode":"AES256","master_version":1,"sealed_key":"x","customer_salt":"s"}"#,
                "customer_salt",
            ),
            (
                r#"{"mode":"SSE-C","master_version":0,"sealed_key":"x"}"#,
                "lacks its customer_salt",
            ),
            (
                r#"{"mode":"SSE-C","master_version":2,"sealed_key":"x","customer_salt":"s"}"#,
                "master_version",
            ),
            (
                r#"{"mode":"aws:kms","master_version":0,"sealed_key":"x"}"#,
                "lacks its kms_key_arn",
            ),
            (
                r#"{"mode":"aws:kms","master_version":0,"sealed_key":"x","kms_key_arn":"a","kms_context":"{}","bucket_key":"b"}"#,
                "kms_context",
            ),
            (
                r#"{"mode":"aws:kms:dsse","master_version":0,"sealed_key":"x"}"#,
                "unknown encryption mode",
            ),
        ] {
            let err = serde_json::from_str::<EncryptionRecord>(json).unwrap_err();
            assert!(err.to_string().contains(says), "{json}: {err}");
        }
    }
}
