//! Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies. A key has one policy, `default`.

use serde_json::{Value, json};

use super::members::Members;
use crate::api_error::KmsApiError;
use crate::builtin::{BuiltinKms, Caller};

fn check_policy_name(m: &Members) -> Result<(), KmsApiError> {
    match m.str("PolicyName")? {
        None | Some("default") => Ok(()),
        Some(_) => Err(KmsApiError::not_found("Policy not found")),
    }
}

/// `GetKeyPolicy`.
pub(super) fn get_key_policy(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    check_policy_name(m)?;
    let policy = kms.get_key_policy(caller, m.required_str("KeyId")?)?;
    Ok(json!({ "Policy": policy, "PolicyName": "default" }))
}

/// `PutKeyPolicy`.
pub(super) fn put_key_policy(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    check_policy_name(m)?;
    let policy = m.required_str("Policy")?.to_owned();
    if policy.len() > 32 * 1024 {
        return Err(KmsApiError::limit_exceeded(
            "The key policy exceeds the 32 KB quota",
        ));
    }
    kms.put_key_policy(caller, m.required_str("KeyId")?, policy)?;
    Ok(json!({}))
}

/// `ListKeyPolicies`.
pub(super) fn list_key_policies(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    kms.list_key_policies(caller, m.required_str("KeyId")?)?;
    Ok(json!({ "PolicyNames": ["default"], "Truncated": false }))
}
