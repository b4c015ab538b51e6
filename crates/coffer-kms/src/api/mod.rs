//! The AWS KMS JSON 1.1 API (`X-Amz-Target: TrentService.<Op>`): request members in, the
//! built-in KMS's answer out, in AWS's shapes (blobs base64, timestamps epoch seconds).
//!
//! [`handle`] resolves the [`Operation`], counts and records the call, and dispatches it to
//! the file of its group: keys, tags, aliases, lifecycle (state and deletion), crypto,
//! rotation, policies. `members` types the request body; `paging` pages the List* answers.

mod aliases;
mod crypto;
mod keys;
mod lifecycle;
mod members;
mod operation;
mod paging;
mod policies;
mod rotation;
mod tags;

use serde_json::{Value, json};

pub use keys::key_metadata;
pub use operation::Operation;

use crate::api_error::KmsApiError;
use crate::audit_events::{call_event, loggable, loggable_request};
use crate::builtin::{BuiltinKms, Caller};
use members::Members;

/// Runs one KMS operation for `caller` (`op` is the part after `TrentService.`) and records
/// it in the audit trail, success or failure. A call whose record cannot be written fails:
/// nothing it produced is returned. A change ([`Operation::is_change`]) whose record is
/// committed with it but cannot be appended is in effect, though the caller is told it
/// failed: its record reaches the trail from the outbox with the next scheduled KMS work or
/// start.
pub fn handle(
    kms: &BuiltinKms,
    caller: &Caller,
    op: &str,
    body: &[u8],
) -> Result<Value, KmsApiError> {
    let Some(operation) = Operation::parse(op) else {
        return Err(KmsApiError::unknown_operation());
    };
    let op = operation.as_str();
    metrics::counter!("coffer_kms_requests_total", "operation" => op, "via" => "api").increment(1);
    let event_of = |result: &Result<Value, KmsApiError>| {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let response = result.as_ref().cloned().unwrap_or(Value::Null);
        let mut parameters = loggable_request(op, &request);
        if matches!(operation, Operation::Decrypt | Operation::ReEncrypt) && parameters.is_object()
        {
            // AWS logs the algorithm even when the caller left it out.
            parameters.as_object_mut().map(|p| {
                p.entry("encryptionAlgorithm")
                    .or_insert(json!("SYMMETRIC_DEFAULT"))
            });
        }
        call_event(
            caller,
            op,
            parameters,
            loggable(&response),
            kms.resources_of(op, &request, &response),
            result.as_ref().err(),
        )
    };
    if operation.is_change() {
        // The change and its record commit together.
        return kms.change_with_record(
            || dispatch(kms, caller, operation, body),
            |r| Some(event_of(r)),
        );
    }
    let result = dispatch(kms, caller, operation, body);
    kms.record(&event_of(&result))?;
    result
}

fn dispatch(
    kms: &BuiltinKms,
    caller: &Caller,
    op: Operation,
    body: &[u8],
) -> Result<Value, KmsApiError> {
    let m = &Members::parse(body)?;
    use Operation::*;
    match op {
        CreateKey => keys::create_key(kms, caller, m),
        DescribeKey => keys::describe_key(kms, caller, m),
        ListKeys => keys::list_keys(kms, caller, m),
        UpdateKeyDescription => keys::update_key_description(kms, caller, m),
        TagResource => tags::tag_resource(kms, caller, m),
        UntagResource => tags::untag_resource(kms, caller, m),
        ListResourceTags => tags::list_resource_tags(kms, caller, m),
        CreateAlias => aliases::create_alias(kms, caller, m),
        UpdateAlias => aliases::update_alias(kms, caller, m),
        DeleteAlias => aliases::delete_alias(kms, caller, m),
        ListAliases => aliases::list_aliases(kms, caller, m),
        EnableKey => lifecycle::enable_key(kms, caller, m),
        DisableKey => lifecycle::disable_key(kms, caller, m),
        ScheduleKeyDeletion => lifecycle::schedule_key_deletion(kms, caller, m),
        CancelKeyDeletion => lifecycle::cancel_key_deletion(kms, caller, m),
        Encrypt => crypto::encrypt(kms, caller, m),
        Decrypt => crypto::decrypt(kms, caller, m),
        ReEncrypt => crypto::re_encrypt(kms, caller, m),
        GenerateDataKey => crypto::generate_data_key(kms, caller, m, true),
        GenerateDataKeyWithoutPlaintext => crypto::generate_data_key(kms, caller, m, false),
        GenerateRandom => crypto::generate_random(kms, caller, m),
        EnableKeyRotation => rotation::enable_key_rotation(kms, caller, m),
        DisableKeyRotation => rotation::disable_key_rotation(kms, caller, m),
        GetKeyRotationStatus => rotation::get_key_rotation_status(kms, caller, m),
        RotateKeyOnDemand => rotation::rotate_key_on_demand(kms, caller, m),
        ListKeyRotations => rotation::list_key_rotations(kms, caller, m),
        GetKeyPolicy => policies::get_key_policy(kms, caller, m),
        PutKeyPolicy => policies::put_key_policy(kms, caller, m),
        ListKeyPolicies => policies::list_key_policies(kms, caller, m),
    }
}

/// The error body KMS clients parse.
pub fn error_body(e: &KmsApiError) -> Value {
    json!({ "__type": e.code, "message": e.message })
}
