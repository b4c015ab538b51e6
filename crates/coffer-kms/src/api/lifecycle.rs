//! Key state: EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion.

use serde_json::{Value, json};

use super::members::{Members, seconds};
use crate::api_error::KmsApiError;
use crate::builtin::{BuiltinKms, Caller};

/// `EnableKey`.
pub(super) fn enable_key(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    kms.enable_key(caller, m.required_str("KeyId")?)?;
    Ok(json!({}))
}

/// `DisableKey`.
pub(super) fn disable_key(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    kms.disable_key(caller, m.required_str("KeyId")?)?;
    Ok(json!({}))
}

/// `ScheduleKeyDeletion`.
pub(super) fn schedule_key_deletion(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    let days = m.int("PendingWindowInDays")?.unwrap_or(30);
    let days = u32::try_from(days).unwrap_or(0);
    let r = kms.schedule_key_deletion(caller, m.required_str("KeyId")?, days)?;
    Ok(json!({
        "KeyId": kms.key_arn(&r),
        "DeletionDate": seconds(r.deletion_ms.unwrap_or_default()),
        "KeyState": r.state.as_str(),
        "PendingWindowInDays": days,
    }))
}

/// `CancelKeyDeletion`.
pub(super) fn cancel_key_deletion(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    let r = kms.cancel_key_deletion(caller, m.required_str("KeyId")?)?;
    Ok(json!({ "KeyId": kms.key_arn(&r) }))
}
