//! Rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
//! ListKeyRotations.

use serde_json::{Value, json};

use super::members::{Members, seconds};
use super::paging::{page, paged};
use crate::api_error::KmsApiError;
use crate::builtin::{BuiltinKms, Caller};

/// `EnableKeyRotation`.
pub(super) fn enable_key_rotation(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    let period = m
        .int("RotationPeriodInDays")?
        .map(|d| u32::try_from(d).unwrap_or(0));
    kms.enable_key_rotation(caller, m.required_str("KeyId")?, period)?;
    Ok(json!({}))
}

/// `DisableKeyRotation`.
pub(super) fn disable_key_rotation(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    kms.disable_key_rotation(caller, m.required_str("KeyId")?)?;
    Ok(json!({}))
}

/// `GetKeyRotationStatus`.
pub(super) fn get_key_rotation_status(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    let r = kms.get_key_rotation_status(caller, m.required_str("KeyId")?)?;
    let mut body = json!({
        "KeyRotationEnabled": r.rotation_period_days.is_some(),
        "KeyId": kms.key_arn(&r),
    });
    if let Some(days) = r.rotation_period_days {
        body["RotationPeriodInDays"] = json!(days);
    }
    if let Some(next) = r.next_rotation_ms {
        body["NextRotationDate"] = seconds(next);
    }
    Ok(body)
}

/// `RotateKeyOnDemand`.
pub(super) fn rotate_key_on_demand(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    let r = kms.rotate_key_on_demand(caller, m.required_str("KeyId")?)?;
    Ok(json!({ "KeyId": r.key_id }))
}

/// `ListKeyRotations`.
pub(super) fn list_key_rotations(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    let r = kms.list_key_rotations(caller, m.required_str("KeyId")?)?;
    let current = r.current_version();
    let include_all = m.str("IncludeKeyMaterial")? == Some("ALL_KEY_MATERIAL");
    let rotations: Vec<_> = r
        .versions
        .iter()
        .filter(|v| include_all || v.rotation_type.is_some())
        .cloned()
        .collect();
    let (page, next) = page(rotations, |v| v.version.to_string(), m)?;
    let rotations: Vec<Value> = page
        .iter()
        .map(|v| {
            let mut item = json!({
                "KeyId": r.key_id,
                "KeyMaterialId": kms.material_id(&r, v.version),
                "KeyMaterialState": if v.version == current { "CURRENT" } else { "NON_CURRENT" },
            });
            if let Some(t) = &v.rotation_type {
                item["RotationDate"] = seconds(v.created_ms);
                item["RotationType"] = json!(t);
            }
            item
        })
        .collect();
    Ok(paged(json!({ "Rotations": rotations }), next))
}
