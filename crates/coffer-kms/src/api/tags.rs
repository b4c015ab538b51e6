//! Tags: TagResource, UntagResource, ListResourceTags.

use serde_json::{Value, json};

use super::members::Members;
use crate::api_error::KmsApiError;
use crate::builtin::{BuiltinKms, Caller};

/// `TagResource`.
pub(super) fn tag_resource(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    kms.tag_resource(caller, m.required_str("KeyId")?, m.tags("Tags")?)?;
    Ok(json!({}))
}

/// `UntagResource`.
pub(super) fn untag_resource(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    kms.untag_resource(caller, m.required_str("KeyId")?, &m.strings("TagKeys")?)?;
    Ok(json!({}))
}

/// `ListResourceTags`.
pub(super) fn list_resource_tags(
    kms: &BuiltinKms,
    caller: &Caller,
    m: &Members,
) -> Result<Value, KmsApiError> {
    let tags = kms.list_resource_tags(caller, m.required_str("KeyId")?)?;
    let tags: Vec<Value> = tags
        .into_iter()
        .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
        .collect();
    Ok(json!({ "Tags": tags, "Truncated": false }))
}
