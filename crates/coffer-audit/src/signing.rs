//! The audit signing key: ECDSA P-256 with SHA-256. CloudTrail signs digests with RSA; `ring`
//! can verify RSA but not generate RSA keys, and an elliptic-curve key is as strong at a
//! fraction of the size. The private half reaches the disk only sealed (by the caller, under
//! the root key); the public half is published in `<data>/audit/signing-key.pub`.

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use zeroize::Zeroizing;

use crate::error::{AuditError, AuditResult};

/// Name of the algorithm in digest files.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withECDSA";

pub struct SigningKey {
    pair: EcdsaKeyPair,
}

impl SigningKey {
    /// A new key, as PKCS#8 (to be sealed and stored by the caller).
    pub fn generate() -> AuditResult<Zeroizing<Vec<u8>>> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
            .map(|d| Zeroizing::new(d.as_ref().to_vec()))
            .map_err(|_| AuditError::Signing("cannot generate the audit signing key"))
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> AuditResult<Self> {
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &SystemRandom::new())
            .map(|pair| Self { pair })
            .map_err(|_| AuditError::Signing("the audit signing key is malformed"))
    }

    /// The public key (an uncompressed P-256 point).
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    pub fn sign(&self, message: &[u8]) -> AuditResult<Vec<u8>> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| AuditError::Signing("signing failed"))
    }
}

/// Hex SHA-256 of a public key, as digests name the key that signed them.
pub fn fingerprint(public_key: &[u8]) -> String {
    crate::layout::sha256_hex(public_key)
}

pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, public_key)
        .verify(message, signature)
        .is_ok()
}
