//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use serde_json::{Value, json};

use super::members::{Members, seconds};
use super::paging::{page, paged};
use crate::api_error::KmsApiError;
use crate::builtin::{BuiltinKms, Caller};

/// `CreateAlias`.
pub(super) fn create_alias(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    kms.create_alias(
        caller,
        m.required_str("AliasName")?,
        m.required_str("TargetKeyId")?,
    )?;
    Ok(json!({}))
}

/// `UpdateAlias`.
pub(super) fn update_alias(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    kms.update_alias(
        caller,
        m.required_str("AliasName")?,
        m.required_str("TargetKeyId")?,
    )?;
    Ok(json!({}))
}

/// `DeleteAlias`.
pub(super) fn delete_alias(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    kms.delete_alias(caller, m.required_str("AliasName")?)?;
    Ok(json!({}))
}

/// `ListAliases`.
pub(super) fn list_aliases(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    let filter = match m.str("KeyId")? {
        Some(k) => Some(kms.describe_key(caller, k)?.key_id),
        None => None,
    };
    let listable: std::collections::HashSet<String> = kms
        .all_keys()?
        .into_iter()
        .filter(|k| kms.may_list(caller, k))
        .map(|k| k.key_id)
        .collect();
    let aliases: Vec<_> = kms
        .all_aliases()?
        .into_iter()
        .filter(|a| filter.as_ref().is_none_or(|k| *k == a.target_key_id))
        .filter(|a| listable.contains(&a.target_key_id))
        .collect();
    let (page, next) = page(aliases, |a| a.name.clone(), m)?;
    let aliases: Vec<Value> = page
        .iter()
        .map(|a| {
            json!({
                "AliasName": a.name,
                "AliasArn": kms.identity().alias_arn(&a.name),
                "TargetKeyId": a.target_key_id,
                "CreationDate": seconds(a.created_ms),
                "LastUpdatedDate": seconds(a.updated_ms),
            })
        })
        .collect();
    Ok(paged(json!({ "Aliases": aliases }), next))
}
