//! The SSE-S3 master key: an internal KMS key users cannot see or call. Every version is kept
//! (sealed under the root key) so every object's data key stays openable after rotation, until
//! the operator retires the versions no record needs any more.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::{KeyEncryptionKey, SealedKey, open_key, seal_key};
use coffer_store::MetaStore;
use serde::{Deserialize, Serialize};

use crate::error::KmsError;
use crate::root::RootKey;

/// The record id of the SSE-S3 master key. Never changes: records name it.
const MASTER_KEY_ID: &str = "coffer/sse-s3-master";

/// A master-key version number (1, 2, ...).
pub type MasterVersion = u32;

#[derive(Serialize, Deserialize)]
struct KeyRecord {
    v: u32,
    id: String,
    versions: Vec<VersionRecord>,
}

#[derive(Serialize, Deserialize)]
struct VersionRecord {
    version: MasterVersion,
    created_ms: i64,
    /// The material, sealed under the root key with AAD = key id ‖ version.
    sealed: String,
}

fn aad(version: MasterVersion) -> Vec<u8> {
    format!("{MASTER_KEY_ID}#{version}").into_bytes()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct State {
    current: MasterVersion,
    keys: BTreeMap<MasterVersion, Arc<KeyEncryptionKey>>,
    created: BTreeMap<MasterVersion, i64>,
}

/// All versions of the SSE-S3 master key, unsealed in memory.
pub struct MasterKeyring {
    state: RwLock<State>,
    root: Arc<RootKey>,
}

impl MasterKeyring {
    /// Loads every version, creating version 1 on first start.
    pub fn open(meta: &dyn MetaStore, root: Arc<RootKey>) -> Result<Self, KmsError> {
        let root_ref = root.as_ref();
        let record = match meta.get_kms_key(MASTER_KEY_ID)? {
            Some(bytes) => serde_json::from_slice::<KeyRecord>(&bytes)
                .map_err(|e| KmsError::Malformed(MASTER_KEY_ID.into(), e.to_string()))?,
            None => {
                let record = KeyRecord {
                    v: 1,
                    id: MASTER_KEY_ID.into(),
                    versions: vec![new_version(root_ref, 1)?],
                };
                store(meta, &record)?;
                record
            }
        };
        let mut keys = BTreeMap::new();
        let mut created = BTreeMap::new();
        for v in &record.versions {
            let sealed = B64
                .decode(&v.sealed)
                .ok()
                .and_then(|b| SealedKey::from_bytes(&b).ok())
                .ok_or_else(|| {
                    KmsError::Malformed(MASTER_KEY_ID.into(), "sealed material".into())
                })?;
            let key: KeyEncryptionKey = open_key(root_ref.kek(), &sealed, &aad(v.version))
                .map_err(|_| KmsError::Unsealable(MASTER_KEY_ID.into()))?;
            keys.insert(v.version, Arc::new(key));
            created.insert(v.version, v.created_ms);
        }
        let current = *keys
            .keys()
            .next_back()
            .ok_or_else(|| KmsError::Malformed(MASTER_KEY_ID.into(), "no versions".into()))?;
        Ok(Self {
            state: RwLock::new(State {
                current,
                keys,
                created,
            }),
            root,
        })
    }

    /// Every version with its creation time (Unix ms), oldest first.
    pub fn versions(&self) -> Vec<(MasterVersion, i64)> {
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        s.created.iter().map(|(&v, &t)| (v, t)).collect()
    }

    /// The version new data keys are sealed under.
    pub fn current(&self) -> (MasterVersion, Arc<KeyEncryptionKey>) {
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        (s.current, s.keys[&s.current].clone())
    }

    /// A version, for opening data keys sealed under it.
    pub fn version(&self, v: MasterVersion) -> Option<Arc<KeyEncryptionKey>> {
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        s.keys.get(&v).cloned()
    }

    /// Adds a new version and makes it current. Durable before it is used.
    pub fn rotate(&self, meta: &dyn MetaStore) -> Result<MasterVersion, KmsError> {
        let root = self.root.as_ref();
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        let mut record = load(meta)?;
        let next = s.current + 1;
        let material = KeyEncryptionKey::generate()?;
        let created_ms = now_ms();
        record.versions.push(VersionRecord {
            version: next,
            created_ms,
            sealed: B64.encode(seal_key(root.kek(), &material, &aad(next))?.as_bytes()),
        });
        store(meta, &record)?;
        s.keys.insert(next, Arc::new(material));
        s.created.insert(next, created_ms);
        s.current = next;
        Ok(next)
    }
}

impl MasterKeyring {
    /// Destroys the material of every version below `floor` (never the current one). The
    /// caller has made sure that no record needs them (`MetaStore::retire_master_versions_below`).
    pub fn retire_below(
        &self,
        meta: &dyn MetaStore,
        floor: MasterVersion,
    ) -> Result<Vec<MasterVersion>, KmsError> {
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        let floor = floor.min(s.current);
        let mut record = load(meta)?;
        let retired: Vec<MasterVersion> = record
            .versions
            .iter()
            .map(|v| v.version)
            .filter(|&v| v < floor)
            .collect();
        if retired.is_empty() {
            return Ok(retired);
        }
        record.versions.retain(|v| v.version >= floor);
        store(meta, &record)?;
        for v in &retired {
            s.keys.remove(v);
            s.created.remove(v);
        }
        Ok(retired)
    }
}

fn load(meta: &dyn MetaStore) -> Result<KeyRecord, KmsError> {
    meta.get_kms_key(MASTER_KEY_ID)?
        .map(|bytes| serde_json::from_slice::<KeyRecord>(&bytes))
        .transpose()
        .map_err(|e| KmsError::Malformed(MASTER_KEY_ID.into(), e.to_string()))?
        .ok_or_else(|| KmsError::Malformed(MASTER_KEY_ID.into(), "missing".into()))
}

fn new_version(root: &RootKey, version: MasterVersion) -> Result<VersionRecord, KmsError> {
    let material = KeyEncryptionKey::generate()?;
    let sealed = seal_key(root.kek(), &material, &aad(version))?;
    Ok(VersionRecord {
        version,
        created_ms: now_ms(),
        sealed: B64.encode(sealed.as_bytes()),
    })
}

fn store(meta: &dyn MetaStore, record: &KeyRecord) -> Result<(), KmsError> {
    let bytes = serde_json::to_vec(record)
        .map_err(|e| KmsError::Malformed(MASTER_KEY_ID.into(), e.to_string()))?;
    Ok(meta.put_kms_key(MASTER_KEY_ID, &bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_store::RedbMetaStore;

    #[test]
    fn versions_survive_reopen_and_rotation_and_need_the_same_root() {
        let dir = tempfile::tempdir().unwrap();
        let meta = RedbMetaStore::open(&dir.path().join("m.redb")).unwrap();
        let root = Arc::new(RootKey::load(dir.path()).unwrap());
        root.check_against(&meta).unwrap();
        let ring = MasterKeyring::open(&meta, root.clone()).unwrap();
        let (v1, k1) = ring.current();
        assert_eq!(v1, 1);
        assert_eq!(ring.rotate(&meta).unwrap(), 2);
        let reopened = MasterKeyring::open(&meta, root.clone()).unwrap();
        assert_eq!(reopened.current().0, 2);
        assert_eq!(
            reopened.version(1).unwrap().expose_secret(),
            k1.expose_secret(),
            "old versions are kept"
        );
        assert_eq!(reopened.retire_below(&meta, 9).unwrap(), vec![1]);
        assert!(reopened.version(1).is_none());
        let after_retire = MasterKeyring::open(&meta, root.clone()).unwrap();
        assert_eq!(
            after_retire.current().0,
            2,
            "the current version is never retired"
        );
        assert!(after_retire.version(1).is_none());

        let other_dir = tempfile::tempdir().unwrap();
        let other = RootKey::load(other_dir.path()).unwrap();
        assert!(matches!(
            other.check_against(&meta),
            Err(KmsError::RootKeyMismatch)
        ));
        assert!(MasterKeyring::open(&meta, Arc::new(other)).is_err());
    }

    #[test]
    fn a_root_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        RootKey::load(dir.path()).unwrap();
        let path = dir.path().join("root.key");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            RootKey::load(dir.path()),
            Err(KmsError::RootKey(_))
        ));
    }
}
