//! The root key: from `COFFER_ROOT_KEY`, or `<data>/root.key` (generated on first start,
//! mode 0600). It seals every KMS key's material at rest.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::{KEY_LEN, KeyEncryptionKey};
use coffer_store::MetaStore;
use ring::hmac;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::KmsError;

/// The environment variable that may carry the root key (base64 of 32 bytes).
pub const ROOT_KEY_ENV: &str = "COFFER_ROOT_KEY";
const ROOT_KEY_FILE: &str = "root.key";
/// Settings entry holding HMAC(root key, CHECK_LABEL): proves which root key a data
/// directory belongs to without storing anything that would help recover the key.
const CHECK_SETTING: &str = "root_key_check";
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
    /// Loads the root key for `data_dir`: from [`ROOT_KEY_ENV`] when set, else from
    /// `<data_dir>/root.key`, which is generated (0600) if absent. Refuses a key file that
    /// anyone but its owner can read.
    pub fn load(data_dir: &Path) -> Result<Self, KmsError> {
        if let Ok(value) = std::env::var(ROOT_KEY_ENV) {
            let value = Zeroizing::new(value);
            return Ok(Self(decode(&value, ROOT_KEY_ENV)?));
        }
        let path = data_dir.join(ROOT_KEY_FILE);
        if path.exists() {
            let mode = fs::metadata(&path)
                .map_err(|e| KmsError::RootKey(format!("{}: {e}", path.display())))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KmsError::RootKey(format!(
                    "{} is readable by others (mode {:o}); run chmod 600 on it",
                    path.display(),
                    mode & 0o777
                )));
            }
            let text = Zeroizing::new(
                fs::read_to_string(&path)
                    .map_err(|e| KmsError::RootKey(format!("{}: {e}", path.display())))?,
            );
            return Ok(Self(decode(&text, &path.display().to_string())?));
        }
        let key = KeyEncryptionKey::generate()?;
        let text = Zeroizing::new(B64.encode(key.expose_secret()));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| KmsError::RootKey(format!("cannot create {}: {e}", path.display())))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| KmsError::RootKey(format!("cannot write {}: {e}", path.display())))?;
        tracing::info!(path = %path.display(), "generated the root key");
        Ok(Self(key))
    }

    /// Binds the data directory to this key on first use, and refuses a directory that was
    /// created with another key (its sealed records would not open).
    pub fn check_against(&self, meta: &dyn MetaStore) -> Result<(), KmsError> {
        let expected = self.check_value();
        match meta.get_setting(CHECK_SETTING)? {
            Some(stored) if bool::from(stored.as_slice().ct_eq(expected.as_ref())) => Ok(()),
            Some(_) => Err(KmsError::RootKeyMismatch),
            None => Ok(meta.put_setting(CHECK_SETTING, expected.as_ref())?),
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
        use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
        use ring::rand::{SecureRandom, SystemRandom};
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, self.0.expose_secret())
                .map_err(|_| KmsError::RootKey("not an AES-256 key".into()))?,
        );
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| KmsError::RootKey("the system random source failed".into()))?;
        let mut out = nonce.to_vec();
        let mut body = secret.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(label.as_bytes()),
            &mut body,
        )
        .map_err(|_| KmsError::RootKey("sealing failed".into()))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens what [`RootKey::seal_secret`] sealed with the same label.
    pub fn open_secret(&self, sealed: &[u8], label: &str) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, self.0.expose_secret())
                .map_err(|_| KmsError::RootKey("not an AES-256 key".into()))?,
        );
        if sealed.len() < NONCE_LEN {
            return Err(KmsError::Unsealable(label.into()));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| KmsError::Unsealable(label.into()))?;
        let mut body = Zeroizing::new(body.to_vec());
        let len = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut body,
            )
            .map_err(|_| KmsError::Unsealable(label.into()))?
            .len();
        body.truncate(len);
        Ok(body)
    }
}
