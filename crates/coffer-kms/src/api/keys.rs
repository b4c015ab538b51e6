//! Keys: CreateKey, DescribeKey, ListKeys, UpdateKeyDescription, and the `KeyMetadata` they
//! answer with.

use serde_json::{Value, json};

use super::members::{Members, seconds};
use super::paging::{page, paged};
use crate::api_error::KmsApiError;
use crate::builtin::{BuiltinKms, Caller, NewKey};
use crate::records::{KeyRecord, KeyState};

/// `KeyMetadata` as DescribeKey, CreateKey and friends return it.
pub fn key_metadata(kms: &BuiltinKms, r: &KeyRecord) -> Value {
    let mut m = json!({
        "AWSAccountId": kms.identity().account_id,
        "KeyId": r.key_id,
        "Arn": kms.key_arn(r),
        "CreationDate": seconds(r.created_ms),
        "Enabled": r.state == KeyState::Enabled,
        "Description": r.description,
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": r.state.as_str(),
        "Origin": "AWS_KMS",
        "KeyManager": r.manager.as_str(),
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": false,
        "CurrentKeyMaterialId": kms.material_id(r, r.current_version()),
    });
    if let Some(deletion) = r.deletion_ms {
        m["DeletionDate"] = seconds(deletion);
    }
    if let Some(days) = r.pending_window_days {
        m["PendingDeletionWindowInDays"] = json!(days);
    }
    m
}

/// `CreateKey`.
pub(super) fn create_key(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    for (member, allowed) in [
        ("KeyUsage", "ENCRYPT_DECRYPT"),
        ("KeySpec", "SYMMETRIC_DEFAULT"),
        ("CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"),
        ("Origin", "AWS_KMS"),
    ] {
        if let Some(v) = m.str(member)?
            && v != allowed
        {
            return Err(KmsApiError::unsupported(format!(
                "{member} {v} is not supported: this KMS holds symmetric keys with KMS-generated material only"
            )));
        }
    }
    if m.0.get("MultiRegion").and_then(Value::as_bool) == Some(true) {
        return Err(KmsApiError::unsupported(
            "Multi-Region keys are not supported",
        ));
    }
    let description = m.str("Description")?.unwrap_or("").to_owned();
    if description.len() > 8192 {
        return Err(KmsApiError::validation(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192",
        ));
    }
    let record = kms.create_key(
        caller,
        NewKey {
            description,
            policy: m.str("Policy")?.map(str::to_owned),
            tags: m.tags("Tags")?,
        },
    )?;
    Ok(json!({ "KeyMetadata": key_metadata(kms, &record) }))
}

/// `DescribeKey`.
pub(super) fn describe_key(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    let r = kms.describe_key(caller, m.required_str("KeyId")?)?;
    Ok(json!({ "KeyMetadata": key_metadata(kms, &r) }))
}

/// `ListKeys`.
pub(super) fn list_keys(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    let keys: Vec<_> = kms
        .all_keys()?
        .into_iter()
        .filter(|k| kms.may_list(caller, k))
        .collect();
    let (page, next) = page(keys, |k| k.key_id.clone(), m)?;
    let keys: Vec<Value> = page
        .iter()
        .map(|k| json!({"KeyId": k.key_id, "KeyArn": kms.key_arn(k)}))
        .collect();
    Ok(paged(json!({ "Keys": keys }), next))
}

/// `UpdateKeyDescription`.
pub(super) fn update_key_description(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    let description = m.required_str("Description")?.to_owned();
    kms.update_key_description(caller, m.required_str("KeyId")?, description)?;
    Ok(json!({}))
}
