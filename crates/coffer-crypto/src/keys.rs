//! Key types, key derivation and key sealing.
//!
//! Invariants: key bytes live in boxed arrays that are wiped on drop (so moving a key does not
//! leave copies behind), no key type implements `Display`, `Clone` or a revealing `Debug`, and
//! the only way to read a key's bytes is an explicit `expose_secret()`. The expanded AES key
//! schedules live in aws-lc's `EVP_AEAD_CTX` (inside `LessSafeKey`), which aws-lc wipes when it
//! is freed (`OPENSSL_free` cleanses every allocation it made).
//!
//! Why aws-lc-rs and not ring: on this project's machine (VAES, AVX-512) aws-lc-rs 1.19 runs
//! AES-256-GCM over 64 KiB segments about 1.5x as fast as ring 0.17.14, and the TLS listener
//! already links it (see the workspace Cargo.toml); the API and the bytes are the same.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::{hkdf, hmac};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;
use crate::format::{NONCE_LEN, TAG_LEN};

/// Bytes of every key in this crate (256 bits).
pub const KEY_LEN: usize = 32;

/// HKDF info prefix of per-part keys; the part number (u32 big-endian) follows. Never changes:
/// every stored part's key depends on it.
const PART_KEY_INFO: &[u8] = b"coffer part";

/// HKDF info of the key that makes opaque ETags ([`DataKey::etag_mac`]). Never changes: every
/// stored opaque ETag depends on it. Distinct from every part key's info (which is longer).
const ETAG_KEY_INFO: &[u8] = b"coffer etag";

/// HKDF salt of per-part keys: empty, which RFC 5869 defines as 32 zero bytes. A salt adds
/// nothing here because the data key is already uniformly random. Never changes.
const PART_KEY_SALT: &[u8] = b"";

/// Version byte of [`SealedKey`] format 1: AES-256-GCM, random 96-bit nonce. Never reused.
const SEALED_KEY_VERSION: u8 = 1;

/// Bytes of a [`SealedKey`]: version (1) ‖ nonce (12) ‖ sealed key (32) ‖ tag (16).
pub const SEALED_KEY_LEN: usize = 1 + NONCE_LEN + KEY_LEN + TAG_LEN;

/// Draws `N` random bytes from the operating system.
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CryptoError::RandomUnavailable)?;
    Ok(bytes)
}

/// The one representation behind every key type here: 256 bits in a box (so moving a key leaves
/// no copy behind), wiped on drop, printed as `<redacted>`. The public key types wrap it and add
/// only what their role needs, so none of them can forget a wipe or leak through `Debug`.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Secret(Box<[u8; KEY_LEN]>);

impl Secret {
    /// A fresh random key from the operating system's generator.
    fn random() -> Result<Self, CryptoError> {
        let mut key = Box::new([0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(&mut key[..])
            .map_err(|_| CryptoError::RandomUnavailable)?;
        Ok(Self(key))
    }

    /// Copies a 32-byte slice into a box, or fails with [`CryptoError::WrongLength`].
    fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::WrongLength);
        }
        let mut key = Box::new([0u8; KEY_LEN]);
        key.copy_from_slice(bytes);
        Ok(Self(key))
    }

    fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why `expect` on aws-lc-rs's AES-GCM seal is sound: it refuses only inputs longer than GCM's limit
/// (about 64 GiB), and this crate never seals more than one 64 KiB segment or one key at a time.
pub(crate) const SEAL_CANNOT_FAIL: &str = "AES-GCM seals any input up to 64 GiB";

/// The AES-256-GCM key aws-lc-rs uses for `key`.
pub(crate) fn aead_key(key: &[u8; KEY_LEN]) -> LessSafeKey {
    // aws-lc-rs rejects only keys of the wrong length, which the array type rules out.
    let unbound = UnboundKey::new(&AES_256_GCM, key).expect("32 bytes is an AES-256 key");
    LessSafeKey::new(unbound)
}

/// Output length marker for aws-lc-rs's HKDF.
struct KeyLen;

impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        KEY_LEN
    }
}

/// HKDF-SHA256 (RFC 5869) of `ikm` with `salt`, and `info` given as concatenated pieces.
fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[&[u8]]) -> Box<[u8; KEY_LEN]> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let mut key = Box::new([0u8; KEY_LEN]);
    // HKDF fails only for outputs longer than 255 hash lengths; 32 bytes is one.
    prk.expand(info, KeyLen)
        .and_then(|okm| okm.fill(&mut key[..]))
        .expect("HKDF-SHA256 always yields 32 bytes");
    key
}

/// An object's data key (DEK): 256 random bits, one per object, never stored unsealed.
///
/// Parts are not sealed with it directly but with a [`PartKey`] derived from it.
#[derive(Debug, Zeroize)]
pub struct DataKey(Secret);

impl ZeroizeOnDrop for DataKey {}

impl DataKey {
    /// A fresh random data key from the operating system's generator.
    pub fn generate() -> Result<Self, CryptoError> {
        Secret::random().map(Self)
    }

    /// A data key from its 32 bytes (for example the plaintext of a KMS data key).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        Secret::from_slice(bytes).map(Self)
    }

    /// The key's bytes. Only for handing the key to a KMS caller that asked for it
    /// (`GenerateDataKey`); never log or store the result.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        self.0.bytes()
    }

    /// The key of part `part_number` (a single PUT is part 1):
    /// `HKDF-SHA256(ikm = data key, salt = empty, info = "coffer part" ‖ part_number as u32 BE)`.
    /// Distinct parts get independent keys, so parts can be sealed in parallel and in any order,
    /// and a segment moved from one part to another fails to open.
    pub fn part_key(&self, part_number: u32) -> PartKey {
        PartKey(Secret(hkdf_sha256(
            self.0.bytes(),
            PART_KEY_SALT,
            &[PART_KEY_INFO, &part_number.to_be_bytes()],
        )))
    }
}

impl DataKey {
    /// A keyed digest of plaintext for an opaque ETag: HMAC-SHA256 under
    /// `HKDF-SHA256(ikm = data key, salt = empty, info = "coffer etag")`, truncated to 128
    /// bits. The same bytes under the same data key (a retried part of one upload) give the
    /// same digest, and without the data key the digest says nothing about the plaintext, as
    /// an MD5 would (anyone could confirm a guess of the content against it).
    pub fn etag_mac(&self) -> EtagMac {
        let key = hkdf_sha256(self.0.bytes(), PART_KEY_SALT, &[ETAG_KEY_INFO]);
        EtagMac(hmac::Context::with_key(&hmac::Key::new(
            hmac::HMAC_SHA256,
            &key[..],
        )))
    }
}

/// A running opaque-ETag digest (see [`DataKey::etag_mac`]); fed the plaintext as it streams.
#[derive(Clone)]
pub struct EtagMac(hmac::Context);

impl EtagMac {
    /// Adds plaintext.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The 128-bit digest: the first half of the HMAC tag.
    pub fn finish(self) -> [u8; 16] {
        let tag = self.0.sign();
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag.as_ref()[..16]);
        out
    }
}

impl fmt::Debug for EtagMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EtagMac(<redacted>)")
    }
}

/// The AES-256-GCM key of one part, derived with [`DataKey::part_key`]. Used by
/// [`crate::PartSealer`] and [`crate::PartOpener`].
#[derive(Debug, Zeroize)]
pub struct PartKey(Secret);

impl ZeroizeOnDrop for PartKey {}

impl PartKey {
    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        self.0.bytes()
    }
}

/// A 256-bit key that seals other keys: a KMS key's material version (including the SSE-S3
/// master key), the root key, or an SSE-C key-encryption key from [`derive_kek`].
///
/// Each seal draws a random 96-bit nonce, so one KEK should seal at most 2^32 keys (NIST
/// SP 800-38D §8.3); rotation of KMS keys keeps real use far below that.
#[derive(Debug, Zeroize)]
pub struct KeyEncryptionKey(Secret);

impl ZeroizeOnDrop for KeyEncryptionKey {}

impl KeyEncryptionKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Result<Self, CryptoError> {
        Secret::random().map(Self)
    }

    /// A key from its 32 bytes (for example the root key read from its file).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        Secret::from_slice(bytes).map(Self)
    }

    /// The key's bytes. Only for writing a generated root key to its protected file; never log
    /// the result.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        self.0.bytes()
    }
}

/// A key-encryption key derived with HKDF-SHA256 (RFC 5869).
///
/// For SSE-C: `ikm` = the customer's key, `salt` = 32 random bytes stored with the object,
/// `info` = the object ARN. A wrong customer key then yields a KEK under which the object's
/// sealed data key fails to open ([`CryptoError::Tampered`]).
pub fn derive_kek(ikm: &[u8], salt: &[u8], info: &[u8]) -> KeyEncryptionKey {
    KeyEncryptionKey(Secret(hkdf_sha256(ikm, salt, &[info])))
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::DataKey {}
    impl Sealed for super::KeyEncryptionKey {}
}

/// Keys that [`seal_key`] can seal and [`open_key`] can return: [`DataKey`] (object data keys)
/// and [`KeyEncryptionKey`] (KMS key material under the root key). Implemented only here.
pub trait SealableKey: private::Sealed + Sized {
    #[doc(hidden)]
    fn secret(&self) -> &[u8; KEY_LEN];
    #[doc(hidden)]
    fn from_secret(bytes: Box<[u8; KEY_LEN]>) -> Self;
}

impl SealableKey for DataKey {
    fn secret(&self) -> &[u8; KEY_LEN] {
        self.0.bytes()
    }
    fn from_secret(bytes: Box<[u8; KEY_LEN]>) -> Self {
        Self(Secret(bytes))
    }
}

impl SealableKey for KeyEncryptionKey {
    fn secret(&self) -> &[u8; KEY_LEN] {
        self.0.bytes()
    }
    fn from_secret(bytes: Box<[u8; KEY_LEN]>) -> Self {
        Self(Secret(bytes))
    }
}

/// A key sealed under a [`KeyEncryptionKey`]: `version (1) ‖ nonce (12) ‖ ciphertext (32) ‖
/// tag (16)`, [`SEALED_KEY_LEN`] bytes in all. Safe to store and print: it reveals nothing
/// without the KEK.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKey([u8; SEALED_KEY_LEN]);

impl SealedKey {
    /// Parses stored bytes, checking length and version (not authenticity: that is
    /// [`open_key`]'s job).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        match bytes.first() {
            None => Err(CryptoError::WrongLength),
            Some(&SEALED_KEY_VERSION) => bytes
                .try_into()
                .map(Self)
                .map_err(|_| CryptoError::WrongLength),
            Some(&version) => Err(CryptoError::UnsupportedVersion(version)),
        }
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedKey(v{}, {} bytes)", self.0[0], self.0.len())
    }
}

const NONCE_AT: usize = 1;
const KEY_AT: usize = NONCE_AT + NONCE_LEN;
const TAG_AT: usize = KEY_AT + KEY_LEN;

/// Seals `key` under `kek` with AES-256-GCM and a random nonce, binding `aad` (for example the
/// object ARN for an SSE-S3 data key, or a KMS key's ARN and version for its material). The same
/// `aad` must be given to [`open_key`].
pub fn seal_key<K: SealableKey>(
    kek: &KeyEncryptionKey,
    key: &K,
    aad: &[u8],
) -> Result<SealedKey, CryptoError> {
    let nonce: [u8; NONCE_LEN] = random_array()?;
    let mut sealed = [0u8; SEALED_KEY_LEN];
    sealed[0] = SEALED_KEY_VERSION;
    sealed[NONCE_AT..KEY_AT].copy_from_slice(&nonce);
    sealed[KEY_AT..TAG_AT].copy_from_slice(key.secret());
    let tag = aead_key(kek.0.bytes())
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut sealed[KEY_AT..TAG_AT],
        )
        .expect(SEAL_CANNOT_FAIL);
    sealed[TAG_AT..].copy_from_slice(tag.as_ref());
    Ok(SealedKey(sealed))
}

/// Opens a key sealed by [`seal_key`] under the same `kek` and `aad`. Fails with
/// [`CryptoError::Tampered`] for a wrong KEK (a wrong SSE-C key), wrong `aad`, or altered bytes.
pub fn open_key<K: SealableKey>(
    kek: &KeyEncryptionKey,
    sealed: &SealedKey,
    aad: &[u8],
) -> Result<K, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed.0[NONCE_AT..KEY_AT]);
    // Decrypt into a box so the plaintext key is never copied again.
    let mut buffer = Box::new([0u8; KEY_LEN + TAG_LEN]);
    buffer.copy_from_slice(&sealed.0[KEY_AT..]);
    let opened = aead_key(kek.0.bytes()).open_in_place(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut buffer[..],
    );
    if opened.is_err() {
        return Err(CryptoError::Tampered);
    }
    let mut key = Box::new([0u8; KEY_LEN]);
    key.copy_from_slice(&buffer[..KEY_LEN]);
    buffer.zeroize();
    Ok(K::from_secret(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn dek_0_to_31() -> DataKey {
        let bytes: Vec<u8> = (0..32).collect();
        DataKey::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn debug_never_prints_key_bytes() {
        let dek = DataKey::from_bytes(&[0xAB; 32]).unwrap();
        let kek = KeyEncryptionKey::from_bytes(&[0xAB; 32]).unwrap();
        let part = dek.part_key(1);
        for printed in [
            format!("{dek:?}"),
            format!("{kek:?}"),
            format!("{part:?}"),
            format!("{dek:#?}"),
        ] {
            assert!(printed.contains("<redacted>"), "{printed}");
            assert!(!printed.to_lowercase().contains("ab"), "{printed}");
            assert!(!printed.contains("171"), "{printed}");
        }
    }

    #[test]
    fn generated_keys_differ() {
        let a = DataKey::generate().unwrap();
        let b = DataKey::generate().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn keys_of_the_wrong_length_are_rejected() {
        assert_eq!(
            DataKey::from_bytes(&[0; 31]).unwrap_err(),
            CryptoError::WrongLength
        );
        assert_eq!(
            KeyEncryptionKey::from_bytes(&[0; 33]).unwrap_err(),
            CryptoError::WrongLength
        );
    }

    /// Known answer computed independently (Python `hmac`/`hashlib`):
    /// HKDF-SHA256(ikm = 00..1f, salt = empty, info = "coffer part" ‖ 00000001).
    #[test]
    fn part_key_known_answer() {
        assert_eq!(
            hex(dek_0_to_31().part_key(1).bytes()),
            "9be5c2ae605f495bd272cd30513e25b82adf130a94a0e4ce486a78c8b41baf0c"
        );
    }

    /// Known answer computed independently (Python `hmac`/`hashlib`): HMAC-SHA256 of
    /// "hello world" under HKDF-SHA256(ikm = 00..1f, salt = empty, info = "coffer etag"),
    /// first 16 bytes.
    #[test]
    fn etag_mac_known_answer_and_streaming() {
        let mut whole = dek_0_to_31().etag_mac();
        whole.update(b"hello world");
        assert_eq!(hex(&whole.finish()), "fe8f1a2e838bc062a08d79c8bc820b9a");
        let mut pieces = dek_0_to_31().etag_mac();
        pieces.update(b"hello");
        pieces.update(b" world");
        assert_eq!(hex(&pieces.finish()), "fe8f1a2e838bc062a08d79c8bc820b9a");
        let mut other = DataKey::from_bytes(&[1; 32]).unwrap().etag_mac();
        other.update(b"hello world");
        assert_ne!(hex(&other.finish()), "fe8f1a2e838bc062a08d79c8bc820b9a");
        assert!(format!("{:?}", dek_0_to_31().etag_mac()).contains("<redacted>"));
    }

    #[test]
    fn part_keys_differ_per_part_number_and_per_data_key() {
        let dek = dek_0_to_31();
        let one = dek.part_key(1);
        let two = dek.part_key(2);
        let other = DataKey::from_bytes(&[7; 32]).unwrap().part_key(1);
        assert_ne!(one.bytes(), two.bytes());
        assert_ne!(one.bytes(), other.bytes());
        assert_eq!(one.bytes(), dek.part_key(1).bytes());
    }

    /// RFC 5869 test case 1, first 32 bytes of the OKM.
    #[test]
    fn derive_kek_matches_rfc5869_case_1() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        assert_eq!(
            hex(derive_kek(&ikm, &salt, &info).expose_secret()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        );
    }

    #[test]
    fn sealed_key_round_trip() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let dek = DataKey::generate().unwrap();
        let sealed = seal_key(&kek, &dek, b"arn:aws:s3:::bucket/key").unwrap();
        assert_eq!(sealed.as_bytes().len(), SEALED_KEY_LEN);
        assert_eq!(sealed.as_bytes()[0], SEALED_KEY_VERSION);
        let parsed = SealedKey::from_bytes(sealed.as_bytes()).unwrap();
        let opened: DataKey = open_key(&kek, &parsed, b"arn:aws:s3:::bucket/key").unwrap();
        assert_eq!(opened.expose_secret(), dek.expose_secret());

        let material = KeyEncryptionKey::generate().unwrap();
        let sealed = seal_key(&kek, &material, b"key-arn v1").unwrap();
        let opened: KeyEncryptionKey = open_key(&kek, &sealed, b"key-arn v1").unwrap();
        assert_eq!(opened.expose_secret(), material.expose_secret());
    }

    #[test]
    fn sealing_twice_uses_fresh_nonces() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let dek = DataKey::generate().unwrap();
        let a = seal_key(&kek, &dek, b"").unwrap();
        let b = seal_key(&kek, &dek, b"").unwrap();
        assert_ne!(a, b);
    }

    /// Stops: an SSE-C request with the wrong customer key reading the object.
    #[test]
    fn wrong_kek_is_rejected() {
        let salt = [9u8; 32];
        let right = derive_kek(&[1; 32], &salt, b"arn:aws:s3:::b/k");
        let wrong = derive_kek(&[2; 32], &salt, b"arn:aws:s3:::b/k");
        let dek = DataKey::generate().unwrap();
        let sealed = seal_key(&right, &dek, b"").unwrap();
        assert_eq!(
            open_key::<DataKey>(&wrong, &sealed, b"").unwrap_err(),
            CryptoError::Tampered
        );
    }

    /// Stops: copying one object's sealed data key into another object's record.
    #[test]
    fn sealed_key_moved_to_another_object_is_rejected() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let dek = DataKey::generate().unwrap();
        let sealed = seal_key(&kek, &dek, b"arn:aws:s3:::b/one").unwrap();
        assert_eq!(
            open_key::<DataKey>(&kek, &sealed, b"arn:aws:s3:::b/two").unwrap_err(),
            CryptoError::Tampered
        );
    }

    /// Stops: any bit flip in the stored sealed key (nonce, ciphertext or tag).
    #[test]
    fn flipped_bit_in_sealed_key_is_rejected() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let dek = DataKey::generate().unwrap();
        let sealed = seal_key(&kek, &dek, b"aad").unwrap();
        for byte in 1..SEALED_KEY_LEN {
            let mut bytes = sealed.as_bytes().to_vec();
            bytes[byte] ^= 0x01;
            let tampered = SealedKey::from_bytes(&bytes).unwrap();
            assert_eq!(
                open_key::<DataKey>(&kek, &tampered, b"aad").unwrap_err(),
                CryptoError::Tampered,
                "byte {byte}"
            );
        }
    }

    #[test]
    fn malformed_sealed_keys_are_rejected() {
        assert_eq!(SealedKey::from_bytes(&[]), Err(CryptoError::WrongLength));
        assert_eq!(
            SealedKey::from_bytes(&[1; SEALED_KEY_LEN - 1]),
            Err(CryptoError::WrongLength)
        );
        let mut future = [0u8; SEALED_KEY_LEN];
        future[0] = 2;
        assert_eq!(
            SealedKey::from_bytes(&future),
            Err(CryptoError::UnsupportedVersion(2))
        );
    }
}
