//! Cross-check against independent implementations: RustCrypto's STREAM (`StreamBE32` over
//! `aes-gcm`) for the segment format, and HKDF computed by hand from HMAC-SHA256 for the part key.
//! If both agree byte for byte with coffer-crypto, the nonce layout, final flag, AAD and key
//! derivation are what `DESIGN.md` says.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{KeyInit, Payload};
use coffer_crypto::{DataKey, HEADER_LEN, SEGMENT_SIZE, open_part, seal_part};
use ring::hmac;

/// HKDF-SHA256 with an empty salt and one output block: RFC 5869 written out.
fn part_key_by_hand(dek: &[u8; 32], part_number: u32) -> [u8; 32] {
    let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &[0; 32]), dek);
    let mut info = b"coffer part".to_vec();
    info.extend_from_slice(&part_number.to_be_bytes());
    info.push(1);
    let okm = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()), &info);
    okm.as_ref().try_into().unwrap()
}

fn check(len: usize, part_number: u32) {
    let dek_bytes = [0x5C; 32];
    let dek = DataKey::from_bytes(&dek_bytes).unwrap();
    let plaintext: Vec<u8> = (0..len).map(|i| (i % 239) as u8).collect();
    let blob = seal_part(&dek.part_key(part_number), &plaintext).unwrap();

    let header = &blob[..HEADER_LEN];
    let prefix = GenericArray::clone_from_slice(&header[10..HEADER_LEN]);
    let key = part_key_by_hand(&dek_bytes, part_number);
    let cipher = Aes256Gcm::new(GenericArray::from_slice(&key));

    // Seal with the oracle: the same header, then STREAM segments with the header as AAD.
    let mut expected = header.to_vec();
    let mut encryptor = EncryptorBE32::from_aead(cipher.clone(), &prefix);
    let mut segments: Vec<&[u8]> = plaintext.chunks(SEGMENT_SIZE).collect();
    let last = segments.pop().unwrap_or(&[]);
    for segment in segments {
        let sealed = encryptor
            .encrypt_next(Payload {
                msg: segment,
                aad: header,
            })
            .unwrap();
        expected.extend_from_slice(&sealed);
    }
    let sealed = encryptor
        .encrypt_last(Payload {
            msg: last,
            aad: header,
        })
        .unwrap();
    expected.extend_from_slice(&sealed);
    assert_eq!(blob, expected, "len {len}, part {part_number}");

    // And the oracle opens what coffer sealed.
    let mut decryptor = DecryptorBE32::from_aead(cipher, &prefix);
    let mut chunks: Vec<&[u8]> = blob[HEADER_LEN..].chunks(SEGMENT_SIZE + 16).collect();
    let last = chunks.pop().unwrap();
    let mut opened = Vec::new();
    for chunk in chunks {
        opened.extend(
            decryptor
                .decrypt_next(Payload {
                    msg: chunk,
                    aad: header,
                })
                .unwrap(),
        );
    }
    opened.extend(
        decryptor
            .decrypt_last(Payload {
                msg: last,
                aad: header,
            })
            .unwrap(),
    );
    assert_eq!(opened, plaintext);
    assert_eq!(
        open_part(&dek.part_key(part_number), &blob, len as u64).unwrap(),
        plaintext
    );
}

#[test]
fn matches_stream_be32_at_segment_boundaries() {
    let s = SEGMENT_SIZE;
    for len in [0, 1, s - 1, s, s + 1, 2 * s, 2 * s + 1, 3 * s + 12345] {
        check(len, 1);
    }
}

#[test]
fn matches_stream_be32_for_other_part_numbers() {
    for part in [2, 10_000, u32::MAX] {
        check(1000, part);
    }
}
