//! Byte strings of any length sealed under a [`KeyEncryptionKey`]: `nonce (12) ‖ ciphertext ‖
//! tag (16)`, AES-256-GCM with a random nonce and caller-chosen AAD. The KMS ciphertext blob
//! (after its header) and secrets sealed under the root key use this layout; it never changes,
//! since both are stored.

use aws_lc_rs::aead::{Aad, Nonce};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::format::{NONCE_LEN, TAG_LEN};
use crate::keys::{KeyEncryptionKey, SEAL_CANNOT_FAIL, aead_key, random_array};

/// Bytes [`seal_bytes`] adds to its input: the nonce and the tag.
pub const SEALED_BYTES_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Seals `plaintext` under `kek` with a fresh random nonce, binding `aad`; returns
/// `nonce ‖ ciphertext ‖ tag`. The same `aad` must be given to [`open_bytes`].
///
/// Random nonces bound one key to about 2^32 seals (NIST SP 800-38D §8.3).
pub fn seal_bytes(
    kek: &KeyEncryptionKey,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let nonce: [u8; NONCE_LEN] = random_array()?;
    let mut out = Vec::with_capacity(SEALED_BYTES_OVERHEAD + plaintext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = aead_key(kek.expose_secret())
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[NONCE_LEN..],
        )
        .expect(SEAL_CANNOT_FAIL);
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Opens what [`seal_bytes`] sealed under the same `kek` and `aad`. A wrong key, wrong `aad`,
/// any altered byte or an input too short to hold a nonce and tag is
/// [`CryptoError::Tampered`], and no plaintext is returned.
pub fn open_bytes(
    kek: &KeyEncryptionKey,
    sealed: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < SEALED_BYTES_OVERHEAD {
        return Err(CryptoError::Tampered);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Tampered)?;
    let mut buf = Zeroizing::new(body.to_vec());
    let len = aead_key(kek.expose_secret())
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf[..],
        )
        .map_err(|_| CryptoError::Tampered)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Known answer computed independently (Python `cryptography`, AESGCM): key 00..1f,
    /// nonce 20..2b, AAD "coffer audit signing key v1". Bytes sealed before this function
    /// existed must keep opening.
    #[test]
    fn opens_a_fixed_vector() {
        let kek = KeyEncryptionKey::from_bytes(&(0..32).collect::<Vec<u8>>()).unwrap();
        let sealed = unhex(
            "202122232425262728292a2bb34fc21918b869677d122ba0a638879cb33b89e8dc728268420d33b94e6d65a82e93fbc3",
        );
        let opened = open_bytes(&kek, &sealed, b"coffer audit signing key v1").unwrap();
        assert_eq!(opened.as_slice(), b"audit signing secret");
    }

    #[test]
    fn round_trip_and_every_alteration_is_refused() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let sealed = seal_bytes(&kek, b"secret", b"label").unwrap();
        assert_eq!(sealed.len(), SEALED_BYTES_OVERHEAD + 6);
        assert_eq!(
            open_bytes(&kek, &sealed, b"label").unwrap().as_slice(),
            b"secret"
        );
        assert_ne!(sealed, seal_bytes(&kek, b"secret", b"label").unwrap());
        assert_eq!(
            open_bytes(&kek, &sealed, b"other").unwrap_err(),
            CryptoError::Tampered
        );
        let other = KeyEncryptionKey::generate().unwrap();
        assert!(open_bytes(&other, &sealed, b"label").is_err());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open_bytes(&kek, &bad, b"label").is_err(), "byte {i}");
        }
        assert!(open_bytes(&kek, &sealed[..SEALED_BYTES_OVERHEAD - 1], b"label").is_err());
        let empty = seal_bytes(&kek, b"", b"").unwrap();
        assert!(open_bytes(&kek, &empty, b"").unwrap().is_empty());
    }
}
