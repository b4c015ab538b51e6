//! Cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext),
//! GenerateRandom.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::members::{Members, lower_first, not_null};
use crate::api_error::KmsApiError;
use crate::builtin::{BuiltinKms, Caller};

/// Only `SYMMETRIC_DEFAULT` is served.
fn check_algorithm(members: &Members, member: &str) -> Result<(), KmsApiError> {
    match members.str(member)? {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(other) => Err(KmsApiError::validation(format!(
            "1 validation error detected: Value '{other}' at '{}' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT]",
            lower_first(member)
        ))),
    }
}

/// The length a data-key request asks for: a `KeySpec` or a `NumberOfBytes`, not both.
fn data_key_length(members: &Members) -> Result<usize, KmsApiError> {
    match (members.str("KeySpec")?, members.int("NumberOfBytes")?) {
        (Some(_), Some(_)) => Err(KmsApiError::validation(
            "Please specify either number of bytes or key spec.",
        )),
        (Some("AES_256"), None) => Ok(32),
        (Some("AES_128"), None) => Ok(16),
        (Some(other), None) => Err(KmsApiError::validation(format!(
            "1 validation error detected: Value '{other}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
        ))),
        (None, Some(n)) if (1..=1024).contains(&n) => Ok(n as usize),
        (None, Some(n)) => Err(KmsApiError::validation(format!(
            "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"
        ))),
        (None, None) => Err(KmsApiError::validation(
            "Please specify either number of bytes or key spec.",
        )),
    }
}

/// `Encrypt`.
pub(super) fn encrypt(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    check_algorithm(m, "EncryptionAlgorithm")?;
    let plaintext =
        zeroize::Zeroizing::new(m.blob("Plaintext")?.ok_or_else(|| not_null("Plaintext"))?);
    let (blob, arn) = kms.encrypt(
        caller,
        m.required_str("KeyId")?,
        &plaintext,
        &m.context("EncryptionContext")?,
    )?;
    Ok(json!({
        "CiphertextBlob": B64.encode(blob),
        "KeyId": arn,
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}

/// `Decrypt`.
pub(super) fn decrypt(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    check_algorithm(m, "EncryptionAlgorithm")?;
    let blob = m
        .blob("CiphertextBlob")?
        .ok_or_else(|| not_null("CiphertextBlob"))?;
    let out = kms.decrypt(
        caller,
        &blob,
        &m.context("EncryptionContext")?,
        m.str("KeyId")?,
    )?;
    Ok(json!({
        "KeyId": out.key_arn,
        "Plaintext": B64.encode(out.plaintext.as_slice()),
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "KeyMaterialId": out.material_id,
    }))
}

/// `ReEncrypt`.
pub(super) fn re_encrypt(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    check_algorithm(m, "SourceEncryptionAlgorithm")?;
    check_algorithm(m, "DestinationEncryptionAlgorithm")?;
    let blob = m
        .blob("CiphertextBlob")?
        .ok_or_else(|| not_null("CiphertextBlob"))?;
    let (sealed, source, destination) = kms.re_encrypt(
        caller,
        &blob,
        &m.context("SourceEncryptionContext")?,
        m.str("SourceKeyId")?,
        m.required_str("DestinationKeyId")?,
        &m.context("DestinationEncryptionContext")?,
    )?;
    Ok(json!({
        "CiphertextBlob": B64.encode(sealed),
        "SourceKeyId": source,
        "KeyId": destination,
        "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }))
}

/// `GenerateDataKey`, or `GenerateDataKeyWithoutPlaintext` when `with_plaintext` is false.
pub(super) fn generate_data_key(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
    with_plaintext: bool,
) -> Result<Value, KmsApiError> {
    let length = data_key_length(m)?;
    let out = kms.generate_data_key(
        caller,
        m.required_str("KeyId")?,
        length,
        &m.context("EncryptionContext")?,
        with_plaintext,
    )?;
    let mut body = json!({
        "CiphertextBlob": B64.encode(&out.ciphertext),
        "KeyId": out.key_arn,
        "KeyMaterialId": out.material_id,
    });
    if let Some(p) = &out.plaintext {
        body["Plaintext"] = json!(B64.encode(p.as_slice()));
    }
    Ok(body)
}

/// `GenerateRandom`.
pub(super) fn generate_random(
    kms: &BuiltinKms,
    _caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    let n = m
        .int("NumberOfBytes")?
        .ok_or_else(|| not_null("NumberOfBytes"))?;
    let bytes = kms.generate_random(usize::try_from(n).unwrap_or(0))?;
    Ok(json!({ "Plaintext": B64.encode(bytes.as_slice()) }))
}
