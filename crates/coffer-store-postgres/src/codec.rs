//! Records are stored as the same versioned serde JSON the embedded backend writes, so they
//! move between backends byte for byte; a reader refuses a record newer than it knows.

use coffer_store::{
    BlobId, EncryptionRecord, ObjectRecord, RECORD_VERSION, StoreError, StoreResult,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn encode<T: Serialize>(v: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        #[serde(default)]
        v: u32,
    }
    let version: Versioned =
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if version.v > RECORD_VERSION {
        return Err(StoreError::Corrupt(format!(
            "record schema version {} is newer than this server's {}",
            version.v, RECORD_VERSION
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The blobs a record names, as the `blobs` column holds them.
pub(crate) fn blob_names(object: &ObjectRecord) -> Vec<String> {
    object.blobs().map(|b| b.as_str().to_owned()).collect()
}

pub(crate) fn blob_id(name: &str) -> StoreResult<BlobId> {
    BlobId::parse(name).ok_or_else(|| StoreError::Corrupt(format!("blob reference {name:?}")))
}

pub(crate) fn blob_ids(names: Vec<String>) -> StoreResult<Vec<BlobId>> {
    names.iter().map(|n| blob_id(n)).collect()
}

/// The SSE-S3 master-key version a record needs, as the `master_version` column holds it.
pub(crate) fn master_version(encryption: Option<&EncryptionRecord>) -> Option<i64> {
    encryption
        .and_then(EncryptionRecord::needs_master_version)
        .map(i64::from)
}

/// A count or size the database keeps as `bigint`.
pub(crate) fn to_i64(n: impl TryInto<i64>) -> StoreResult<i64> {
    n.try_into()
        .map_err(|_| StoreError::Database("a number beyond the database's bigint".into()))
}
