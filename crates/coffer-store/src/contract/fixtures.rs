//! Records the suites write: small, valid, and otherwise empty.

use super::FreshMeta;
use super::blocking::SyncMeta;
use crate::blob::BlobId;
use crate::records::{BucketRecord, CompletedUploadRecord, ObjectRecord, StoredPart, UploadRecord};

/// A fresh store holding one bucket, `b`; the first value keeps its storage alive.
pub fn with_bucket(fresh: &dyn Fn() -> FreshMeta) -> (FreshMeta, SyncMeta) {
    let f = fresh();
    let s = SyncMeta::new(f.handles[0].clone());
    s.create_bucket(&bucket("b")).unwrap();
    (f, s)
}

/// A bucket owned by `alice`, with no configuration.
pub fn bucket(name: &str) -> BucketRecord {
    BucketRecord {
        v: 1,
        name: name.into(),
        owner: "alice".into(),
        region: "us-east-1".into(),
        created_ms: 0,
        encryption: None,
        policy: None,
        tags: Default::default(),
    }
}

pub fn part(n: u32, blob: &BlobId) -> StoredPart {
    StoredPart {
        number: n,
        size: 1,
        md5_hex: String::new(),
        blob: blob.clone(),
        checksum: None,
        crc64nvme: None,
        inline: None,
    }
}

pub fn object(blobs: &[&BlobId]) -> ObjectRecord {
    ObjectRecord {
        v: 1,
        size: blobs.len() as u64,
        etag: "e".into(),
        last_modified_ms: 0,
        parts: blobs
            .iter()
            .enumerate()
            .map(|(i, b)| part(i as u32 + 1, b))
            .collect(),
        multipart: blobs.len() > 1,
        checksum: None,
        content_type: None,
        content_encoding: None,
        content_disposition: None,
        content_language: None,
        cache_control: None,
        expires_ms: None,
        website_redirect_location: None,
        user_metadata: Default::default(),
        storage_class: None,
        encryption: None,
        tags: Default::default(),
    }
}

pub fn sealed_under(version: u32) -> crate::records::EncryptionRecord {
    crate::records::EncryptionRecord::SseS3 {
        master_version: version,
        sealed_key: format!("sealed-{version}"),
    }
}

pub fn done(upload_id: &str, completed_ms: i64) -> CompletedUploadRecord {
    CompletedUploadRecord {
        v: 1,
        upload_id: upload_id.into(),
        bucket: "b".into(),
        key: "k".into(),
        completed_ms,
        parts: vec![(1, "e1".into())],
        etag: "e-1".into(),
        checksum: None,
        server_side_encryption: None,
        kms_key_arn: None,
        bucket_key_enabled: false,
    }
}

pub fn upload(id: &str) -> UploadRecord {
    UploadRecord {
        v: 1,
        upload_id: id.into(),
        bucket: "b".into(),
        key: "k".into(),
        initiator: "alice".into(),
        initiated_ms: 0,
        template: object(&[]),
        checksum_algorithm: None,
        checksum_type: None,
    }
}
