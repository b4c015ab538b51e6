//! Looking at what a server left on disk: windows of known plaintext, and data keys opened
//! the way an attacker holding the root key would open them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use coffer_crypto::{DataKey, KeyEncryptionKey, SealedKey, open_key};
use coffer_kms::{MasterKeyring, RootKey};
use coffer_store::{EncryptionRecord, ListControl, RedbMetaStore};

/// Finds any 32-byte window of `plaintext` inside `haystack`.
pub struct WindowIndex<'a> {
    plaintext: &'a [u8],
    by_prefix: HashMap<u64, usize>,
}

impl<'a> WindowIndex<'a> {
    pub fn new(plaintext: &'a [u8]) -> Self {
        let mut by_prefix = HashMap::with_capacity(plaintext.len());
        for i in 0..plaintext.len().saturating_sub(31) {
            let p = u64::from_le_bytes(plaintext[i..i + 8].try_into().unwrap());
            by_prefix.entry(p).or_insert(i);
        }
        Self {
            plaintext,
            by_prefix,
        }
    }

    pub fn found_in(&self, haystack: &[u8]) -> bool {
        (0..haystack.len().saturating_sub(31)).any(|i| {
            let p = u64::from_le_bytes(haystack[i..i + 8].try_into().unwrap());
            self.by_prefix
                .get(&p)
                .is_some_and(|&at| haystack[i..i + 32] == self.plaintext[at..at + 32])
        })
    }
}

/// The data keys of every SSE-S3 object and upload in a stopped server's data directory,
/// unsealed with its root key (the test's stand-in for a thief who has everything).
pub fn unsealed_data_keys(data_dir: &Path) -> Vec<[u8; 32]> {
    let meta = RedbMetaStore::open(&data_dir.join("meta.redb")).unwrap();
    let root = Arc::new(RootKey::load(data_dir).unwrap());
    let ring = MasterKeyring::open(&meta, root).unwrap();
    let mut sealed: Vec<(String, EncryptionRecord)> = Vec::new();
    for bucket in meta.list_buckets().unwrap() {
        meta.list_objects(&bucket.name, "", "", &mut |key, r| {
            if let Some(e) = &r.encryption {
                sealed.push((format!("{}/{key}", bucket.name), e.clone()));
            }
            ListControl::Continue
        })
        .unwrap();
        for u in meta.list_uploads(&bucket.name).unwrap() {
            if let Some(e) = u.template.encryption {
                sealed.push((format!("{}/{}", u.bucket, u.key), e));
            }
        }
    }
    sealed
        .into_iter()
        .filter_map(|(object, e)| Some((object, e.needs_master_version()?, e)))
        .map(|(object, master_version, e)| {
            let master: Arc<KeyEncryptionKey> = ring.version(master_version).unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(e.sealed_key())
                .unwrap();
            let dek: DataKey = open_key(
                master.as_ref(),
                &SealedKey::from_bytes(&bytes).unwrap(),
                format!("arn:aws:s3:::{object}").as_bytes(),
            )
            .unwrap();
            *dek.expose_secret()
        })
        .collect()
}
