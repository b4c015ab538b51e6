//! The KMS ciphertext blob: self-describing, so Decrypt needs no key id and rotation never
//! breaks an old blob.
//!
//! ```text
//! 0      1                37               41      53
//! | fmt  | key id (36 B)  | version (u32)  | nonce | ciphertext ‖ tag |
//! ```
//! The AEAD (AES-256-GCM under the named material version) authenticates the header and the
//! encryption context in canonical form (keys sorted), so a blob opens only with the context
//! it was made with, exactly (case-sensitive, order irrelevant).

use std::collections::BTreeMap;

use coffer_crypto::{CryptoError, KeyEncryptionKey, SEALED_BYTES_OVERHEAD, open_bytes, seal_bytes};
use zeroize::Zeroizing;

use crate::api_error::KmsApiError;

const FORMAT: u8 = 1;
const KEY_ID_LEN: usize = 36;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + 4;

/// An encryption context: string pairs bound to a ciphertext.
pub type EncryptionContext = BTreeMap<String, String>;

/// What a blob's header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHeader {
    pub key_id: String,
    pub version: u32,
}

fn aad(header: &[u8], context: &EncryptionContext) -> Vec<u8> {
    let mut aad = header.to_vec();
    // BTreeMap serialises in key order: one canonical form per context.
    aad.extend_from_slice(&serde_json::to_vec(context).unwrap_or_default());
    aad
}

/// Encrypts `plaintext` under one material version of `key_id`.
pub fn seal(
    key_id: &str,
    version: u32,
    material: &KeyEncryptionKey,
    plaintext: &[u8],
    context: &EncryptionContext,
) -> Result<Vec<u8>, KmsApiError> {
    if key_id.len() != KEY_ID_LEN {
        return Err(KmsApiError::internal("key ids are 36 characters"));
    }
    let mut blob = Vec::with_capacity(HEADER_LEN + SEALED_BYTES_OVERHEAD + plaintext.len());
    blob.push(FORMAT);
    blob.extend_from_slice(key_id.as_bytes());
    blob.extend_from_slice(&version.to_be_bytes());
    let aad = aad(&blob[..HEADER_LEN], context);
    // nonce ‖ ciphertext ‖ tag follow the header.
    let sealed = seal_bytes(material, plaintext, &aad).map_err(|e| match e {
        CryptoError::RandomUnavailable => KmsApiError::internal("the system random source failed"),
        _ => KmsApiError::internal("sealing failed"),
    })?;
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// Reads a blob's header; anything that is not one of our blobs is `InvalidCiphertext`.
pub fn header(blob: &[u8]) -> Result<BlobHeader, KmsApiError> {
    if blob.len() < HEADER_LEN + SEALED_BYTES_OVERHEAD || blob[0] != FORMAT {
        return Err(KmsApiError::invalid_ciphertext());
    }
    let key_id = std::str::from_utf8(&blob[1..1 + KEY_ID_LEN])
        .ok()
        .filter(|id| crate::key_ref::is_key_id(id))
        .ok_or_else(KmsApiError::invalid_ciphertext)?
        .to_owned();
    let version = u32::from_be_bytes(
        blob[1 + KEY_ID_LEN..HEADER_LEN]
            .try_into()
            .map_err(|_| KmsApiError::invalid_ciphertext())?,
    );
    Ok(BlobHeader { key_id, version })
}

/// Decrypts a blob with the material its header names. A wrong context, a wrong key or any
/// altered byte is `InvalidCiphertext`, with nothing more said.
pub fn open(
    blob: &[u8],
    material: &KeyEncryptionKey,
    context: &EncryptionContext,
) -> Result<Zeroizing<Vec<u8>>, KmsApiError> {
    header(blob)?;
    let aad = aad(&blob[..HEADER_LEN], context);
    open_bytes(material, &blob[HEADER_LEN..], &aad).map_err(|_| KmsApiError::invalid_ciphertext())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn a_blob_opens_only_with_its_context_material_and_bytes() {
        let m = KeyEncryptionKey::generate().unwrap();
        let ctx: EncryptionContext = [("a".to_owned(), "1".to_owned())].into();
        let blob = seal(ID, 3, &m, b"data key", &ctx).unwrap();
        assert_eq!(
            header(&blob).unwrap(),
            BlobHeader {
                key_id: ID.into(),
                version: 3
            }
        );
        assert_eq!(open(&blob, &m, &ctx).unwrap().as_slice(), b"data key");

        let other_ctx: EncryptionContext = [("a".to_owned(), "2".to_owned())].into();
        assert_eq!(
            open(&blob, &m, &other_ctx).unwrap_err().code,
            "InvalidCiphertextException"
        );
        assert!(open(&blob, &m, &EncryptionContext::new()).is_err());
        let other = KeyEncryptionKey::generate().unwrap();
        assert!(open(&blob, &other, &ctx).is_err());
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 1;
            assert!(open(&bad, &m, &ctx).is_err(), "flipped byte {i}");
        }
        assert!(header(&blob[..20]).is_err());
        assert!(header(b"").is_err());
    }

    /// A blob made before sealing moved to `coffer-crypto` (computed independently with
    /// Python `cryptography`: material 00..1f, version 3, nonce 10..1b, context {"a": "1"})
    /// still opens: stored ciphertexts stay readable.
    #[test]
    fn a_blob_of_the_fixed_format_still_opens() {
        let blob_hex = "0131323334616263642d313261622d333463642d353665662d31323334353637383930616200000003101112131415161718191a1b199fec7769a25fcae4128b50590496cb5a9895d787bb66bd";
        let blob: Vec<u8> = (0..blob_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&blob_hex[i..i + 2], 16).unwrap())
            .collect();
        let m = KeyEncryptionKey::from_bytes(&(0..32).collect::<Vec<u8>>()).unwrap();
        let ctx: EncryptionContext = [("a".to_owned(), "1".to_owned())].into();
        assert_eq!(
            header(&blob).unwrap(),
            BlobHeader {
                key_id: ID.into(),
                version: 3
            }
        );
        assert_eq!(open(&blob, &m, &ctx).unwrap().as_slice(), b"data key");
    }
}
