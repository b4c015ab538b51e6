//! The SSE-S3 master key: an internal KMS key users cannot see or call. Every version is kept
//! (sealed under the root key) so every object's data key stays openable after rotation, until
//! the operator retires the versions no record needs any more.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::{KeyEncryptionKey, SealedKey, open_key, seal_key};
use coffer_store::{KmsWrite, MetaStore, StoreError};
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
    /// The store version of the record this state was made from: a state is never replaced
    /// by one made from an older record.
    stored: u64,
    current: MasterVersion,
    keys: BTreeMap<MasterVersion, Arc<KeyEncryptionKey>>,
    created: BTreeMap<MasterVersion, i64>,
}

/// How many times a rotation or retirement runs again after losing a race to another gateway.
const MAX_ATTEMPTS: u32 = 64;

/// All versions of the SSE-S3 master key, unsealed in memory.
///
/// Several gateways may share one store: the record changes only by compare-and-swap on its
/// store version, so concurrent rotations never lose a version, and a keyring asked for a
/// version it does not know reads the record again once before failing (another gateway may
/// have rotated).
pub struct MasterKeyring {
    state: RwLock<State>,
    root: Arc<RootKey>,
    /// Where to look for versions made by other gateways; `None` for a keyring opened on a
    /// borrowed store (tools, tests), which knows only what it loaded and made.
    store: Option<Arc<dyn MetaStore>>,
}

impl MasterKeyring {
    /// Loads every version, creating version 1 on first start.
    pub fn open(meta: &dyn MetaStore, root: Arc<RootKey>) -> Result<Self, KmsError> {
        let mut attempt = 0;
        let (stored, record) = loop {
            if let Some(loaded) = load(meta)? {
                break loaded;
            }
            let record = KeyRecord {
                v: 1,
                id: MASTER_KEY_ID.into(),
                versions: vec![new_version(&root, 1)?],
            };
            // Expects no record: of two gateways starting at once, one creates it and the
            // other loads it.
            match store(meta, &record, None) {
                Err(KmsError::Store(StoreError::KmsConflict(_))) if attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
                // The first write of a record gives it version 1.
                Ok(()) => break (1, record),
            }
        };
        let state = unseal(&root, stored, &record, &BTreeMap::new())?;
        Ok(Self {
            state: RwLock::new(state),
            root,
            store: None,
        })
    }

    /// [`MasterKeyring::open`], keeping `meta` to find versions other gateways make.
    pub fn open_shared(meta: Arc<dyn MetaStore>, root: Arc<RootKey>) -> Result<Self, KmsError> {
        let mut ring = Self::open(meta.as_ref(), root)?;
        ring.store = Some(meta);
        Ok(ring)
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

    /// A version, for opening data keys sealed under it. A version this keyring does not
    /// know is looked for once in the store (another gateway may have made it).
    pub fn version(&self, v: MasterVersion) -> Option<Arc<KeyEncryptionKey>> {
        if let Some(key) = self.known(v) {
            return Some(key);
        }
        let meta = self.store.as_ref()?;
        if let Err(e) = self.reload(meta.as_ref()) {
            tracing::warn!(error = %e, version = v, "cannot reload the SSE-S3 master keyring");
            return None;
        }
        self.known(v)
    }

    fn known(&self, v: MasterVersion) -> Option<Arc<KeyEncryptionKey>> {
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        s.keys.get(&v).cloned()
    }

    /// Reads the record again: versions other gateways made or retired since.
    pub fn reload(&self, meta: &dyn MetaStore) -> Result<(), KmsError> {
        let (stored, record) = load(meta)?.ok_or_else(missing)?;
        self.adopt(stored, &record)
    }

    /// Makes the keyring what `record` (at store version `stored`) says, unsealing only
    /// versions it does not hold, unless it holds a newer record already.
    fn adopt(&self, stored: u64, record: &KeyRecord) -> Result<(), KmsError> {
        let known = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys
            .clone();
        let state = unseal(&self.root, stored, record, &known)?;
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        if state.stored >= s.stored {
            *s = state;
        }
        Ok(())
    }

    /// Adds a new version and makes it current. Durable before it is used. Made by
    /// compare-and-swap: if another gateway rotated meanwhile, this one reads its version
    /// and makes the next.
    pub fn rotate(&self, meta: &dyn MetaStore) -> Result<MasterVersion, KmsError> {
        let (_, record) = load(meta)?.ok_or_else(missing)?;
        self.rotate_from(meta, newest(&record))
    }

    /// Rotates away from version `seen`: makes a new version if `seen` is still the newest,
    /// and otherwise takes the rotation that another gateway (or thread) committed since as
    /// this one. So two gateways rotating at once make one new version, not two. Returns
    /// the newest version afterwards.
    pub fn rotate_from(
        &self,
        meta: &dyn MetaStore,
        seen: MasterVersion,
    ) -> Result<MasterVersion, KmsError> {
        let root = self.root.as_ref();
        let made = self.compare_and_swap(meta, |record| {
            let newest = newest(record);
            if newest != seen {
                return Ok(None);
            }
            record.versions.push(new_version(root, newest + 1)?);
            Ok(Some(newest + 1))
        })?;
        Ok(made.unwrap_or_else(|| self.current().0))
    }

    /// Destroys the material of every version below `floor` (never the current one). The
    /// caller has made sure that no record needs them (`MetaStore::retire_master_versions_below`).
    pub fn retire_below(
        &self,
        meta: &dyn MetaStore,
        floor: MasterVersion,
    ) -> Result<Vec<MasterVersion>, KmsError> {
        self.compare_and_swap(meta, |record| {
            let current = record.versions.iter().map(|v| v.version).max().unwrap_or(0);
            let floor = floor.min(current);
            let retired: Vec<MasterVersion> = record
                .versions
                .iter()
                .map(|v| v.version)
                .filter(|&v| v < floor)
                .collect();
            record.versions.retain(|v| v.version >= floor);
            Ok((!retired.is_empty()).then_some(retired))
        })
        .map(Option::unwrap_or_default)
    }

    /// Reads the record, lets `change` edit it, and stores it expecting the version read;
    /// runs again on a conflict. `change` returning `None` means nothing to store.
    fn compare_and_swap<T>(
        &self,
        meta: &dyn MetaStore,
        change: impl Fn(&mut KeyRecord) -> Result<Option<T>, KmsError>,
    ) -> Result<Option<T>, KmsError> {
        let mut attempt = 0;
        loop {
            let (version, mut record) = load(meta)?.ok_or_else(missing)?;
            let Some(out) = change(&mut record)? else {
                self.adopt(version, &record)?;
                return Ok(None);
            };
            match store(meta, &record, Some(version)) {
                Err(KmsError::Store(StoreError::KmsConflict(_))) if attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
                Ok(()) => {
                    // Each write gives the record the next version.
                    self.adopt(version + 1, &record)?;
                    return Ok(Some(out));
                }
            }
        }
    }
}

/// The newest version a keyring record holds.
fn newest(record: &KeyRecord) -> MasterVersion {
    record.versions.iter().map(|v| v.version).max().unwrap_or(0)
}

/// Unseals every version `record` holds (reusing those in `known`).
fn unseal(
    root: &RootKey,
    stored: u64,
    record: &KeyRecord,
    known: &BTreeMap<MasterVersion, Arc<KeyEncryptionKey>>,
) -> Result<State, KmsError> {
    let mut keys = BTreeMap::new();
    let mut created = BTreeMap::new();
    for v in &record.versions {
        let key = match known.get(&v.version) {
            Some(key) => key.clone(),
            None => {
                let sealed = B64
                    .decode(&v.sealed)
                    .ok()
                    .and_then(|b| SealedKey::from_bytes(&b).ok())
                    .ok_or_else(|| {
                        KmsError::Malformed(MASTER_KEY_ID.into(), "sealed material".into())
                    })?;
                let key: KeyEncryptionKey = open_key(root.kek(), &sealed, &aad(v.version))
                    .map_err(|_| KmsError::Unsealable(MASTER_KEY_ID.into()))?;
                Arc::new(key)
            }
        };
        keys.insert(v.version, key);
        created.insert(v.version, v.created_ms);
    }
    let current = *keys
        .keys()
        .next_back()
        .ok_or_else(|| KmsError::Malformed(MASTER_KEY_ID.into(), "no versions".into()))?;
    Ok(State {
        stored,
        current,
        keys,
        created,
    })
}

fn missing() -> KmsError {
    KmsError::Malformed(MASTER_KEY_ID.into(), "missing".into())
}

/// The record and its store version, if there is one.
fn load(meta: &dyn MetaStore) -> Result<Option<(u64, KeyRecord)>, KmsError> {
    meta.get_kms_record(MASTER_KEY_ID)?
        .map(|(version, bytes)| {
            serde_json::from_slice::<KeyRecord>(&bytes)
                .map(|record| (version, record))
                .map_err(|e| KmsError::Malformed(MASTER_KEY_ID.into(), e.to_string()))
        })
        .transpose()
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

/// Stores the record if it is still at `expected` (`None`: absent); else `KmsConflict`.
fn store(meta: &dyn MetaStore, record: &KeyRecord, expected: Option<u64>) -> Result<(), KmsError> {
    let bytes = serde_json::to_vec(record)
        .map_err(|e| KmsError::Malformed(MASTER_KEY_ID.into(), e.to_string()))?;
    Ok(meta.write_kms_records(vec![KmsWrite::Put {
        id: MASTER_KEY_ID.into(),
        record: bytes,
        expected,
    }])?)
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

    /// Two gateways rotating the master key over one store at once: every rotation gets
    /// its own version, and each keyring finds the other's versions.
    #[test]
    fn racing_rotations_from_two_keyrings_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let meta: Arc<dyn MetaStore> =
            Arc::new(RedbMetaStore::open(&dir.path().join("m.redb")).unwrap());
        let root = Arc::new(RootKey::load(dir.path()).unwrap());
        let rings = [
            Arc::new(MasterKeyring::open_shared(meta.clone(), root.clone()).unwrap()),
            Arc::new(MasterKeyring::open_shared(meta.clone(), root.clone()).unwrap()),
        ];
        const ROTATIONS: usize = 5;
        let handles: Vec<_> = rings
            .iter()
            .flat_map(|ring| [ring.clone(), ring.clone()])
            .map(|ring| {
                let meta = meta.clone();
                std::thread::spawn(move || {
                    (0..ROTATIONS)
                        .map(|_| ring.rotate(meta.as_ref()).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut made: Vec<MasterVersion> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        made.sort_unstable();
        // Rotations that raced took one another's version; none was lost or made twice.
        let newest = *made.last().unwrap();
        let all: Vec<MasterVersion> = (2..=newest).collect();
        made.dedup();
        assert_eq!(made, all, "every version made was returned to someone");
        assert!(newest > ROTATIONS as MasterVersion, "{newest}");
        // Each keyring finds every version, its own or the other's, reloading when asked
        // for one it does not know.
        for ring in &rings {
            for &v in &all {
                assert!(ring.version(v).is_some(), "version {v}");
            }
            ring.reload(meta.as_ref()).unwrap();
            assert_eq!(ring.current().0, *all.last().unwrap());
            assert_eq!(ring.versions().len(), all.len() + 1);
        }
        assert_eq!(
            rings[0].version(newest).unwrap().expose_secret(),
            rings[1].version(newest).unwrap().expose_secret()
        );
        // A keyring on a borrowed store cannot reload: it knows what it loaded.
        let local = MasterKeyring::open(meta.as_ref(), root.clone()).unwrap();
        let next = rings[0].rotate(meta.as_ref()).unwrap();
        assert_eq!(next, newest + 1);
        assert!(local.version(next).is_none());
        assert!(rings[1].version(next).is_some());
        // Two gateways that both saw `next` and rotate from it make one new version.
        assert_eq!(rings[0].rotate_from(meta.as_ref(), next).unwrap(), next + 1);
        assert_eq!(rings[1].rotate_from(meta.as_ref(), next).unwrap(), next + 1);
        rings[1].reload(meta.as_ref()).unwrap();
        assert_eq!(rings[1].versions().len(), (next + 1) as usize);
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
