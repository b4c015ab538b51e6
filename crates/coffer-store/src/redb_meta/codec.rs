//! Records are stored as versioned JSON.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{StoreError, StoreResult};
use crate::records::RECORD_VERSION;

pub(super) fn encode<T: Serialize>(v: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
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

#[derive(serde::Deserialize)]
struct Versioned {
    #[serde(default)]
    v: u32,
}
