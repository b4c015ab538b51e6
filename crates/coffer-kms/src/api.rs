//! The AWS KMS JSON 1.1 API (`X-Amz-Target: TrentService.<Op>`): request members in, the
//! built-in KMS's answer out, in AWS's shapes (blobs base64, timestamps epoch seconds).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use crate::api_error::KmsApiError;
use crate::audit_events::{call_event, loggable, loggable_request};
use crate::builtin::{BuiltinKms, Caller, NewKey};
use crate::ciphertext::EncryptionContext;
use crate::records::{KeyRecord, KeyState};

/// The request body, with typed access to its members.
struct Members(Map<String, Value>);

fn not_null(member: &str) -> KmsApiError {
    KmsApiError::validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        lower_first(member)
    ))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn wrong_type(member: &str) -> KmsApiError {
    KmsApiError::serialization(format!("Unexpected value type for member {member}"))
}

impl Members {
    fn parse(body: &[u8]) -> Result<Self, KmsApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Members(Map::new()));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(Members(m)),
            _ => Err(KmsApiError::serialization(
                "The request body is not a JSON object",
            )),
        }
    }

    fn str(&self, member: &str) -> Result<Option<&str>, KmsApiError> {
        match self.0.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(member)),
        }
    }

    fn required_str(&self, member: &str) -> Result<&str, KmsApiError> {
        self.str(member)?.ok_or_else(|| not_null(member))
    }

    fn int(&self, member: &str) -> Result<Option<i64>, KmsApiError> {
        match self.0.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| wrong_type(member)),
            Some(_) => Err(wrong_type(member)),
        }
    }

    fn blob(&self, member: &str) -> Result<Option<Vec<u8>>, KmsApiError> {
        match self.str(member)? {
            None => Ok(None),
            Some(s) => B64
                .decode(s)
                .map(Some)
                .map_err(|_| KmsApiError::serialization(format!("Invalid base64 in {member}"))),
        }
    }

    fn context(&self, member: &str) -> Result<EncryptionContext, KmsApiError> {
        match self.0.get(member) {
            None | Some(Value::Null) => Ok(EncryptionContext::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(wrong_type(member)),
                })
                .collect(),
            Some(_) => Err(wrong_type(member)),
        }
    }

    fn tags(&self, member: &str) -> Result<BTreeMap<String, String>, KmsApiError> {
        match self.0.get(member) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|t| {
                    let k = t.get("TagKey").and_then(Value::as_str);
                    let v = t.get("TagValue").and_then(Value::as_str);
                    match (k, v) {
                        (Some(k), Some(v)) if !k.is_empty() && k.len() <= 128 && v.len() <= 256 => {
                            Ok((k.to_owned(), v.to_owned()))
                        }
                        _ => Err(KmsApiError::tag(
                            "Each tag needs a TagKey (1-128) and a TagValue (0-256)",
                        )),
                    }
                })
                .collect(),
            Some(_) => Err(wrong_type(member)),
        }
    }

    fn strings(&self, member: &str) -> Result<Vec<String>, KmsApiError> {
        match self.0.get(member) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| wrong_type(member))
                })
                .collect(),
            Some(_) => Err(wrong_type(member)),
        }
    }
}

fn seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

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

fn check_algorithm(members: &Members, member: &str) -> Result<(), KmsApiError> {
    match members.str(member)? {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(other) => Err(KmsApiError::validation(format!(
            "1 validation error detected: Value '{other}' at '{}' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT]",
            lower_first(member)
        ))),
    }
}

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

/// A page of `items` after `marker` (the last item of the previous page).
fn page<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> String,
    members: &Members,
) -> Result<(Vec<T>, Option<String>), KmsApiError> {
    let limit = match members.int("Limit")? {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => {
            return Err(KmsApiError::validation(format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 1000"
            )));
        }
    };
    let start = match members.str("Marker")? {
        None => 0,
        Some(m) => {
            items
                .iter()
                .position(|i| id(i) == m)
                .ok_or_else(KmsApiError::invalid_marker)?
                + 1
        }
    };
    let rest: Vec<T> = items.into_iter().skip(start).collect();
    let truncated = rest.len() > limit;
    let page: Vec<T> = rest.into_iter().take(limit).collect();
    let next = truncated.then(|| page.last().map(&id)).flatten();
    Ok((page, next))
}

fn paged(mut body: Value, next: Option<String>) -> Value {
    body["Truncated"] = json!(next.is_some());
    if let Some(n) = next {
        body["NextMarker"] = json!(n);
    }
    body
}

/// The operations this KMS serves (metric labels come only from this list).
const OPERATIONS: &[&str] = &[
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "UpdateKeyDescription",
    "TagResource",
    "UntagResource",
    "ListResourceTags",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateRandom",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "RotateKeyOnDemand",
    "ListKeyRotations",
    "GetKeyPolicy",
    "PutKeyPolicy",
    "ListKeyPolicies",
];

/// The operations that change keys or aliases: each commits with its audit record.
const CHANGES: &[&str] = &[
    "CreateKey",
    "UpdateKeyDescription",
    "TagResource",
    "UntagResource",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "RotateKeyOnDemand",
    "PutKeyPolicy",
];

/// Runs one KMS operation for `caller` (`op` is the part after `TrentService.`) and records
/// it in the audit trail, success or failure. A call whose record cannot be written fails:
/// nothing it produced is returned. A change ([`CHANGES`]) whose record is committed with it
/// but cannot be appended is in effect, though the caller is told it failed: its record
/// reaches the trail from the outbox with the next scheduled KMS work or start.
pub fn handle(
    kms: &BuiltinKms,
    caller: &Caller,
    op: &str,
    body: &[u8],
) -> Result<Value, KmsApiError> {
    let Some(known) = OPERATIONS.iter().find(|o| **o == op) else {
        return Err(KmsApiError::unknown_operation());
    };
    metrics::counter!("coffer_kms_requests_total", "operation" => *known, "via" => "api")
        .increment(1);
    let event_of = |result: &Result<Value, KmsApiError>| {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let response = result.as_ref().cloned().unwrap_or(Value::Null);
        let mut parameters = loggable_request(op, &request);
        if matches!(op, "Decrypt" | "ReEncrypt") && parameters.is_object() {
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
    if CHANGES.contains(known) {
        // The change and its record commit together.
        return kms.change_with_record(|| dispatch(kms, caller, op, body), |r| Some(event_of(r)));
    }
    let result = dispatch(kms, caller, op, body);
    kms.record(&event_of(&result))?;
    result
}

fn dispatch(
    kms: &BuiltinKms,
    caller: &Caller,
    op: &str,
    body: &[u8],
) -> Result<Value, KmsApiError> {
    let m = Members::parse(body)?;
    let arn_of = |r: &KeyRecord| kms.key_arn(r);
    match op {
        "CreateKey" => {
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
        "DescribeKey" => {
            let r = kms.describe_key(caller, m.required_str("KeyId")?)?;
            Ok(json!({ "KeyMetadata": key_metadata(kms, &r) }))
        }
        "ListKeys" => {
            let keys: Vec<_> = kms
                .all_keys()?
                .into_iter()
                .filter(|k| kms.may_list(caller, k))
                .collect();
            let (page, next) = page(keys, |k| k.key_id.clone(), &m)?;
            let keys: Vec<Value> = page
                .iter()
                .map(|k| json!({"KeyId": k.key_id, "KeyArn": arn_of(k)}))
                .collect();
            Ok(paged(json!({ "Keys": keys }), next))
        }
        "UpdateKeyDescription" => {
            let description = m.required_str("Description")?.to_owned();
            kms.update_key_description(caller, m.required_str("KeyId")?, description)?;
            Ok(json!({}))
        }
        "TagResource" => {
            kms.tag_resource(caller, m.required_str("KeyId")?, m.tags("Tags")?)?;
            Ok(json!({}))
        }
        "UntagResource" => {
            kms.untag_resource(caller, m.required_str("KeyId")?, &m.strings("TagKeys")?)?;
            Ok(json!({}))
        }
        "ListResourceTags" => {
            let tags = kms.list_resource_tags(caller, m.required_str("KeyId")?)?;
            let tags: Vec<Value> = tags
                .into_iter()
                .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
                .collect();
            Ok(json!({ "Tags": tags, "Truncated": false }))
        }
        "CreateAlias" => {
            kms.create_alias(
                caller,
                m.required_str("AliasName")?,
                m.required_str("TargetKeyId")?,
            )?;
            Ok(json!({}))
        }
        "UpdateAlias" => {
            kms.update_alias(
                caller,
                m.required_str("AliasName")?,
                m.required_str("TargetKeyId")?,
            )?;
            Ok(json!({}))
        }
        "DeleteAlias" => {
            kms.delete_alias(caller, m.required_str("AliasName")?)?;
            Ok(json!({}))
        }
        "ListAliases" => {
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
            let (page, next) = page(aliases, |a| a.name.clone(), &m)?;
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
        "EnableKey" => {
            kms.enable_key(caller, m.required_str("KeyId")?)?;
            Ok(json!({}))
        }
        "DisableKey" => {
            kms.disable_key(caller, m.required_str("KeyId")?)?;
            Ok(json!({}))
        }
        "ScheduleKeyDeletion" => {
            let days = m.int("PendingWindowInDays")?.unwrap_or(30);
            let days = u32::try_from(days).unwrap_or(0);
            let r = kms.schedule_key_deletion(caller, m.required_str("KeyId")?, days)?;
            Ok(json!({
                "KeyId": arn_of(&r),
                "DeletionDate": seconds(r.deletion_ms.unwrap_or_default()),
                "KeyState": r.state.as_str(),
                "PendingWindowInDays": days,
            }))
        }
        "CancelKeyDeletion" => {
            let r = kms.cancel_key_deletion(caller, m.required_str("KeyId")?)?;
            Ok(json!({ "KeyId": arn_of(&r) }))
        }
        "Encrypt" => {
            check_algorithm(&m, "EncryptionAlgorithm")?;
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
        "Decrypt" => {
            check_algorithm(&m, "EncryptionAlgorithm")?;
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
        "ReEncrypt" => {
            check_algorithm(&m, "SourceEncryptionAlgorithm")?;
            check_algorithm(&m, "DestinationEncryptionAlgorithm")?;
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
        "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => {
            let with_plaintext = op == "GenerateDataKey";
            let length = data_key_length(&m)?;
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
        "GenerateRandom" => {
            let n = m
                .int("NumberOfBytes")?
                .ok_or_else(|| not_null("NumberOfBytes"))?;
            let bytes = kms.generate_random(usize::try_from(n).unwrap_or(0))?;
            Ok(json!({ "Plaintext": B64.encode(bytes.as_slice()) }))
        }
        "EnableKeyRotation" => {
            let period = m
                .int("RotationPeriodInDays")?
                .map(|d| u32::try_from(d).unwrap_or(0));
            kms.enable_key_rotation(caller, m.required_str("KeyId")?, period)?;
            Ok(json!({}))
        }
        "DisableKeyRotation" => {
            kms.disable_key_rotation(caller, m.required_str("KeyId")?)?;
            Ok(json!({}))
        }
        "GetKeyRotationStatus" => {
            let r = kms.get_key_rotation_status(caller, m.required_str("KeyId")?)?;
            let mut body = json!({
                "KeyRotationEnabled": r.rotation_period_days.is_some(),
                "KeyId": arn_of(&r),
            });
            if let Some(days) = r.rotation_period_days {
                body["RotationPeriodInDays"] = json!(days);
            }
            if let Some(next) = r.next_rotation_ms {
                body["NextRotationDate"] = seconds(next);
            }
            Ok(body)
        }
        "RotateKeyOnDemand" => {
            let r = kms.rotate_key_on_demand(caller, m.required_str("KeyId")?)?;
            Ok(json!({ "KeyId": r.key_id }))
        }
        "ListKeyRotations" => {
            let r = kms.list_key_rotations(caller, m.required_str("KeyId")?)?;
            let current = r.current_version();
            let include_all = m.str("IncludeKeyMaterial")? == Some("ALL_KEY_MATERIAL");
            let rotations: Vec<_> = r
                .versions
                .iter()
                .filter(|v| include_all || v.rotation_type.is_some())
                .cloned()
                .collect();
            let (page, next) = page(rotations, |v| v.version.to_string(), &m)?;
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
        "GetKeyPolicy" => {
            check_policy_name(&m)?;
            let policy = kms.get_key_policy(caller, m.required_str("KeyId")?)?;
            Ok(json!({ "Policy": policy, "PolicyName": "default" }))
        }
        "PutKeyPolicy" => {
            check_policy_name(&m)?;
            let policy = m.required_str("Policy")?.to_owned();
            if policy.len() > 32 * 1024 {
                return Err(KmsApiError::limit_exceeded(
                    "The key policy exceeds the 32 KB quota",
                ));
            }
            kms.put_key_policy(caller, m.required_str("KeyId")?, policy)?;
            Ok(json!({}))
        }
        "ListKeyPolicies" => {
            kms.list_key_policies(caller, m.required_str("KeyId")?)?;
            Ok(json!({ "PolicyNames": ["default"], "Truncated": false }))
        }
        _ => Err(KmsApiError::unknown_operation()),
    }
}

fn check_policy_name(m: &Members) -> Result<(), KmsApiError> {
    match m.str("PolicyName")? {
        None | Some("default") => Ok(()),
        Some(_) => Err(KmsApiError::not_found("Policy not found")),
    }
}

/// The error body KMS clients parse.
pub fn error_body(e: &KmsApiError) -> Value {
    json!({ "__type": e.code, "message": e.message })
}
