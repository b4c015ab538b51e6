//! The root key: it seals every KMS key's material at rest. Where it comes from is
//! [`RootKeySource`]'s business (`root_source.rs`); here is what it is and does.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::{CryptoError, KEY_LEN, KeyEncryptionKey, open_bytes, seal_bytes};
use coffer_store::MetaStore;
use ring::hmac;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::KmsError;

use crate::root_source::RootKeySource;
/// Settings entry holding HMAC(root key, CHECK_LABEL): proves which root key a data
/// directory belongs to without storing anything that would help recover the key.
const CHECK_SETTING: &str = "root_key_check";
/// The same check value, created once by compare-and-swap: what binds a shared store to the
/// first root key that used it.
const CHECK_RECORD: &str = "root-key/check";
const CHECK_LABEL: &[u8] = b"coffer root key check v1";

/// The root key. Never printed, never stored in the metadata store.
pub struct RootKey(KeyEncryptionKey);

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

fn decode(text: &str, source: &str) -> Result<KeyEncryptionKey, KmsError> {
    let raw = Zeroizing::new(
        B64.decode(text.trim())
            .map_err(|_| KmsError::RootKey(format!("{source} is not base64")))?,
    );
    if raw.len() != KEY_LEN {
        return Err(KmsError::RootKey(format!(
            "{source} must hold {KEY_LEN} bytes, it holds {}",
            raw.len()
        )));
    }
    Ok(KeyEncryptionKey::from_bytes(&raw)?)
}

impl RootKey {
    /// Loads the root key for `data_dir` the embedded way: from [`ROOT_KEY_ENV`] when set,
    /// else from `<data_dir>/root.key`, generated (0600) if absent. See [`RootKeySource`] for
    /// the other places a key can come from.
    pub fn load(data_dir: &Path) -> Result<Self, KmsError> {
        RootKeySource::for_data_dir(data_dir).load()
    }

    pub(crate) fn from_base64(text: &str, source: &str) -> Result<Self, KmsError> {
        Ok(Self(decode(text, source)?))
    }

    pub(crate) fn generate() -> Result<(Self, Zeroizing<String>), KmsError> {
        let key = KeyEncryptionKey::generate()?;
        let text = Zeroizing::new(B64.encode(key.expose_secret()));
        Ok((Self(key), text))
    }

    /// Binds the data directory to this key on first use, and refuses a directory that was
    /// created with another key (its sealed records would not open).
    pub fn check_against(&self, meta: &dyn MetaStore) -> Result<(), KmsError> {
        let expected = self.check_value();
        let same = |stored: &[u8]| bool::from(stored.ct_eq(expected.as_ref()));
        match meta.get_setting(CHECK_SETTING)? {
            Some(stored) if same(&stored) => Ok(()),
            Some(_) => Err(KmsError::RootKeyMismatch),
            None => {
                // First use. Two gateways starting at once, with different keys, must not
                // both bind the store: the binding is created by compare-and-swap (a KMS
                // record that must not exist yet), and whoever loses compares with it.
                let created = meta.write_kms_records(vec![coffer_store::KmsWrite::Put {
                    id: CHECK_RECORD.to_owned(),
                    record: expected.as_ref().to_vec(),
                    expected: None,
                }]);
                match created {
                    Ok(()) => {}
                    Err(coffer_store::StoreError::KmsConflict(_)) => {
                        let bound = meta.get_kms_record(CHECK_RECORD)?.map(|(_, v)| v);
                        if !bound.as_deref().is_some_and(same) {
                            return Err(KmsError::RootKeyMismatch);
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
                Ok(meta.put_setting(CHECK_SETTING, expected.as_ref())?)
            }
        }
    }

    fn check_value(&self) -> hmac::Tag {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.0.expose_secret());
        hmac::sign(&key, CHECK_LABEL)
    }

    pub(crate) fn kek(&self) -> &KeyEncryptionKey {
        &self.0
    }

    /// A 256-bit key for one purpose, derived from the root key: HMAC-SHA256(root key,
    /// "coffer derived key v1\n" ‖ `label`), HMAC as a PRF (HKDF-Expand's single block). Someone
    /// with the data directory but not the root key cannot compute it.
    pub fn derive_key(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.0.expose_secret());
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(b"coffer derived key v1\n");
        ctx.update(label.as_bytes());
        let tag = ctx.sign();
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Seals a secret of any length (the audit signing key) under the root key, bound to
    /// `label`: nonce ‖ ciphertext ‖ tag.
    pub fn seal_secret(&self, secret: &[u8], label: &str) -> Result<Vec<u8>, KmsError> {
        seal_bytes(&self.0, secret, label.as_bytes()).map_err(|e| match e {
            CryptoError::RandomUnavailable => {
                KmsError::RootKey("the system random source failed".into())
            }
            _ => KmsError::RootKey("sealing failed".into()),
        })
    }

    /// Opens what [`RootKey::seal_secret`] sealed with the same label.
    pub fn open_secret(&self, sealed: &[u8], label: &str) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        open_bytes(&self.0, sealed, label.as_bytes())
            .map_err(|_| KmsError::Unsealable(label.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A secret sealed before sealing moved to `coffer-crypto` (computed independently with
    /// Python `cryptography`: root key 00..1f, nonce 20..2b) still opens, and only under its
    /// label: sealed secrets on disk stay readable.
    #[test]
    fn a_secret_sealed_in_the_fixed_format_still_opens() {
        let hex = "202122232425262728292a2bb34fc21918b869677d122ba0a638879cb33b89e8dc728268420d33b94e6d65a82e93fbc3";
        let sealed: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let root = RootKey(KeyEncryptionKey::from_bytes(&(0..32).collect::<Vec<u8>>()).unwrap());
        let label = "coffer audit signing key v1";
        assert_eq!(
            root.open_secret(&sealed, label).unwrap().as_slice(),
            b"audit signing secret"
        );
        assert!(matches!(
            root.open_secret(&sealed, "another label"),
            Err(KmsError::Unsealable(_))
        ));
        assert!(matches!(
            root.open_secret(&sealed[..8], label),
            Err(KmsError::Unsealable(_))
        ));
        let again = root.seal_secret(b"audit signing secret", label).unwrap();
        assert_eq!(again.len(), sealed.len());
        assert_eq!(
            root.open_secret(&again, label).unwrap().as_slice(),
            b"audit signing secret"
        );
    }
}
