//! Key records as last decoded. Every cryptographic call reads its key's record (with the
//! request's object or bucket, or from the store) and decoding that JSON was about 13 µs of
//! each SSE-KMS GET (`perf`, 5,000 GETs at C=16). The record read is still made every time:
//! only its decoding is skipped, when the bytes read are the bytes last decoded, so a key
//! changed by another gateway or by this one is seen exactly as before.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::api_error::KmsApiError;
use crate::records::KeyRecord;

/// Most records kept; past it the cache starts over (a server uses few keys at once).
const MOST: usize = 1024;

#[derive(Default)]
pub(crate) struct DecodedKeys(Mutex<HashMap<String, Decoded>>);

struct Decoded {
    version: u64,
    bytes: Vec<u8>,
    record: KeyRecord,
}

impl DecodedKeys {
    /// The record stored under `id` at `version` as `bytes`, decoded once per distinct bytes.
    pub(crate) fn get(
        &self,
        id: &str,
        version: u64,
        bytes: &[u8],
        decode: impl FnOnce() -> Result<KeyRecord, KmsApiError>,
    ) -> Result<KeyRecord, KmsApiError> {
        {
            let cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(d) = cache.get(id)
                && d.version == version
                && d.bytes == bytes
            {
                return Ok(d.record.clone());
            }
        }
        let record = decode()?;
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MOST && !cache.contains_key(id) {
            cache.clear();
        }
        cache.insert(
            id.to_owned(),
            Decoded {
                version,
                bytes: bytes.to_vec(),
                record: record.clone(),
            },
        );
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn stored(description: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "v": 1, "key_id": "k1", "created_ms": 0, "description": description,
            "state": "Enabled", "manager": "CUSTOMER", "policy": "{}", "versions": [],
        }))
        .unwrap()
    }

    #[test]
    fn a_record_is_decoded_again_only_when_its_bytes_or_version_change() {
        let cache = DecodedKeys::default();
        let decodes = Cell::new(0);
        let get = |version: u64, bytes: &[u8]| {
            cache
                .get("key/k1", version, bytes, || {
                    decodes.set(decodes.get() + 1);
                    let mut r: KeyRecord = serde_json::from_slice(bytes).unwrap();
                    r.stored_version = Some(version);
                    Ok(r)
                })
                .unwrap()
        };
        let (a, b) = (stored("a"), stored("b"));
        assert_eq!(get(1, &a).description, "a");
        assert_eq!(get(1, &a).stored_version, Some(1));
        assert_eq!(
            decodes.get(),
            1,
            "the same bytes at the same version: decoded once"
        );
        assert_eq!(get(2, &b).description, "b");
        assert_eq!(decodes.get(), 2, "changed bytes are decoded");
        assert_eq!(get(3, &b).stored_version, Some(3));
        assert_eq!(
            decodes.get(),
            3,
            "a new version is decoded, whatever its bytes"
        );
    }
}
