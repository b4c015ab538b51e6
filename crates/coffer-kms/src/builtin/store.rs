//! Storage and resolution: key and alias records in the metadata store, and key material sealed under the root key.
//!
//! Records are read with their store version and saved expecting it (see `change`), so a save
//! over a record another writer changed meanwhile commits nothing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::{KeyEncryptionKey, SealedKey, open_key, seal_key};
use coffer_store::KmsWrite;

use super::{BuiltinKms, Caller, now_ms};
use crate::api_error::KmsApiError;
use crate::key_ref::KeyRef;
use crate::records::{
    ALIAS_PREFIX, AliasRecord, KEY_PREFIX, KeyRecord, MaterialVersion, StoredVersion,
};

/// A stored record, remembering the version it was read at.
fn decode<R: serde::de::DeserializeOwned + StoredVersion>(
    version: u64,
    bytes: &[u8],
) -> Result<R, KmsApiError> {
    let mut record: R = serde_json::from_slice(bytes).map_err(KmsApiError::internal)?;
    record.set_stored_version(version);
    Ok(record)
}

impl BuiltinKms {
    /// Stages a KMS write in the change this thread is running; outside any change, commits
    /// it alone (a conflict then fails the call).
    pub(super) fn apply(&self, write: KmsWrite) -> Result<(), KmsApiError> {
        match super::change::stage(write) {
            None => Ok(()),
            Some(w) => Ok(self.meta.write_kms_records(vec![w])?),
        }
    }

    pub(super) fn load_key(&self, key_id: &str) -> Result<Option<KeyRecord>, KmsApiError> {
        metrics::counter!("coffer_kms_key_reads_total", "via" => "store").increment(1);
        let id = KeyRecord::store_id(key_id);
        self.meta
            .get_kms_record(&id)?
            .map(|(version, b)| self.decode_key(&id, version, &b))
            .transpose()
    }

    /// A key record as stored under `id`, decoded once per distinct bytes.
    fn decode_key(&self, id: &str, version: u64, bytes: &[u8]) -> Result<KeyRecord, KmsApiError> {
        self.decoded
            .get(id, version, bytes, || decode(version, bytes))
    }

    /// [`BuiltinKms::load_key`] for a cryptographic use by `caller`: from the record the
    /// caller's request already read with its object or bucket, when that is this key's.
    pub(super) fn load_key_for_use(
        &self,
        caller: &Caller,
        key_id: &str,
    ) -> Result<Option<KeyRecord>, KmsApiError> {
        self.load_key_from(caller.key_read.as_deref(), key_id)
    }

    /// [`BuiltinKms::load_key`], from `key_read` when that is this key's record.
    pub(super) fn load_key_from(
        &self,
        key_read: Option<&coffer_store::KmsRecordSnapshot>,
        key_id: &str,
    ) -> Result<Option<KeyRecord>, KmsApiError> {
        match key_read {
            Some(read) if read.id == KeyRecord::store_id(key_id) => {
                metrics::counter!("coffer_kms_key_reads_total", "via" => "request_read")
                    .increment(1);
                read.found
                    .as_ref()
                    .map(|(version, b)| self.decode_key(&read.id, *version, b))
                    .transpose()
            }
            _ => self.load_key(key_id),
        }
    }

    /// Saves a key record, expecting it still at the version it was read at.
    pub(super) fn save_key(&self, record: &KeyRecord) -> Result<(), KmsApiError> {
        let bytes = serde_json::to_vec(record).map_err(KmsApiError::internal)?;
        self.apply(KmsWrite::Put {
            id: KeyRecord::store_id(&record.key_id),
            record: bytes,
            expected: record.stored_version,
        })
    }

    /// Deletes a key record, expecting it still at the version it was read at.
    pub(super) fn delete_key(&self, record: &KeyRecord) -> Result<(), KmsApiError> {
        self.apply(KmsWrite::Delete {
            id: KeyRecord::store_id(&record.key_id),
            expected: record.stored_version,
        })
    }

    pub(super) fn load_alias(&self, name: &str) -> Result<Option<AliasRecord>, KmsApiError> {
        self.meta
            .get_kms_record(name)?
            .map(|(version, b)| decode(version, &b))
            .transpose()
    }

    /// Saves an alias record, expecting it still at the version it was read at.
    pub(super) fn save_alias(&self, alias: &AliasRecord) -> Result<(), KmsApiError> {
        let bytes = serde_json::to_vec(alias).map_err(KmsApiError::internal)?;
        self.apply(KmsWrite::Put {
            id: alias.name.clone(),
            record: bytes,
            expected: alias.stored_version,
        })
    }

    /// Deletes an alias record, expecting it still at the version it was read at.
    pub(super) fn delete_alias_record(&self, alias: &AliasRecord) -> Result<(), KmsApiError> {
        self.apply(KmsWrite::Delete {
            id: alias.name.clone(),
            expected: alias.stored_version,
        })
    }

    /// Every key record, in key-id order.
    pub fn all_keys(&self) -> Result<Vec<KeyRecord>, KmsApiError> {
        self.meta
            .list_kms_records(KEY_PREFIX)?
            .into_iter()
            .map(|(_, version, b)| decode(version, &b))
            .collect()
    }

    /// Every alias record, in name order.
    pub fn all_aliases(&self) -> Result<Vec<AliasRecord>, KmsApiError> {
        self.meta
            .list_kms_records(ALIAS_PREFIX)?
            .into_iter()
            .map(|(_, version, b)| decode(version, &b))
            .collect()
    }

    /// The key a reference names. An alias that does not exist, or a key that does not, is
    /// `NotFoundException` with AWS's wording.
    pub fn resolve(&self, given: &str) -> Result<KeyRecord, KmsApiError> {
        self.resolve_with(given, |id| self.load_key(id))
    }

    /// [`BuiltinKms::resolve`] for a cryptographic use by `caller` (see
    /// [`BuiltinKms::load_key_for_use`]).
    pub(crate) fn resolve_for_use(
        &self,
        caller: &Caller,
        given: &str,
    ) -> Result<KeyRecord, KmsApiError> {
        self.resolve_with(given, |id| self.load_key_for_use(caller, id))
    }

    fn resolve_with(
        &self,
        given: &str,
        load: impl FnOnce(&str) -> Result<Option<KeyRecord>, KmsApiError>,
    ) -> Result<KeyRecord, KmsApiError> {
        let key_id = match KeyRef::parse(given, &self.identity)? {
            KeyRef::Id(id) => id,
            KeyRef::Alias(name) => match self.load_alias(&name)? {
                Some(a) => a.target_key_id,
                None => {
                    return Err(KmsApiError::not_found(format!(
                        "Alias {} is not found.",
                        self.identity.alias_arn(&name)
                    )));
                }
            },
        };
        load(&key_id)?
            .ok_or_else(|| KmsApiError::key_does_not_exist(&self.identity.key_arn(&key_id)))
    }

    fn material_aad(&self, key_id: &str, version: u32) -> Vec<u8> {
        format!("{}#{version}", self.identity.key_arn(key_id)).into_bytes()
    }

    pub(super) fn new_material(
        &self,
        key_id: &str,
        version: u32,
        rotation_type: Option<&str>,
    ) -> Result<MaterialVersion, KmsApiError> {
        let material = KeyEncryptionKey::generate()?;
        let sealed = seal_key(
            self.root.kek(),
            &material,
            &self.material_aad(key_id, version),
        )?;
        Ok(MaterialVersion {
            version,
            created_ms: now_ms(),
            rotation_type: rotation_type.map(str::to_owned),
            sealed: B64.encode(sealed.as_bytes()),
        })
    }

    pub(super) fn material(
        &self,
        record: &KeyRecord,
        version: u32,
    ) -> Result<KeyEncryptionKey, KmsApiError> {
        let v = record
            .versions
            .iter()
            .find(|v| v.version == version)
            .ok_or_else(KmsApiError::invalid_ciphertext)?;
        let sealed = B64
            .decode(&v.sealed)
            .ok()
            .and_then(|b| SealedKey::from_bytes(&b).ok())
            .ok_or_else(|| KmsApiError::internal("sealed key material is malformed"))?;
        open_key(
            self.root.kek(),
            &sealed,
            &self.material_aad(&record.key_id, version),
        )
        .map_err(|_| KmsApiError::internal("key material does not open under the root key"))
    }
}
