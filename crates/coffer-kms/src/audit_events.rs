//! The audit records of KMS operations: one per operation, whoever called it, built only
//! from what may be logged (identifiers, encryption contexts, outcomes; never plaintext,
//! ciphertext or policies).

use coffer_audit::{AuditEvent, Identity, KMS_SOURCE, Origin};
use serde_json::{Map, Value, json};

use crate::api_error::KmsApiError;
use crate::builtin::{BuiltinKms, Caller};
use crate::ciphertext::EncryptionContext;

/// Response members that must never reach the trail.
const SECRET_MEMBERS: &[&str] = &["Plaintext", "CiphertextBlob", "Policy"];

/// The request members each operation defines (AWS KMS's model) that may be logged: never
/// `Plaintext`, `CiphertextBlob`, `Policy` or `Recipient` (an attestation document). A
/// member not listed, whatever its spelling (`PlainText`), is named in the record, never
/// copied.
fn loggable_request_members(op: &str) -> &'static [&'static str] {
    const PAGE: &[&str] = &["Limit", "Marker"];
    match op {
        "CreateKey" => &[
            "Description",
            "KeyUsage",
            "CustomerMasterKeySpec",
            "KeySpec",
            "Origin",
            "CustomKeyStoreId",
            "BypassPolicyLockoutSafetyCheck",
            "Tags",
            "MultiRegion",
            "XksKeyId",
        ],
        "DescribeKey" => &["KeyId", "GrantTokens"],
        "ListKeys" => PAGE,
        "UpdateKeyDescription" => &["KeyId", "Description"],
        "TagResource" => &["KeyId", "Tags"],
        "UntagResource" => &["KeyId", "TagKeys"],
        "ListResourceTags" | "ListKeyRotations" | "ListKeyPolicies" => {
            &["KeyId", "Limit", "Marker"]
        }
        "CreateAlias" | "UpdateAlias" => &["AliasName", "TargetKeyId"],
        "DeleteAlias" => &["AliasName"],
        "ListAliases" => &["KeyId", "Limit", "Marker"],
        "EnableKey"
        | "DisableKey"
        | "CancelKeyDeletion"
        | "DisableKeyRotation"
        | "GetKeyRotationStatus"
        | "RotateKeyOnDemand" => &["KeyId"],
        "ScheduleKeyDeletion" => &["KeyId", "PendingWindowInDays"],
        "EnableKeyRotation" => &["KeyId", "RotationPeriodInDays"],
        "Encrypt" => &[
            "KeyId",
            "EncryptionContext",
            "GrantTokens",
            "EncryptionAlgorithm",
            "DryRun",
        ],
        "Decrypt" => &[
            "KeyId",
            "EncryptionContext",
            "GrantTokens",
            "EncryptionAlgorithm",
            "DryRun",
        ],
        "ReEncrypt" => &[
            "SourceEncryptionContext",
            "SourceKeyId",
            "DestinationKeyId",
            "DestinationEncryptionContext",
            "SourceEncryptionAlgorithm",
            "DestinationEncryptionAlgorithm",
            "GrantTokens",
            "DryRun",
        ],
        "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => &[
            "KeyId",
            "EncryptionContext",
            "NumberOfBytes",
            "KeySpec",
            "GrantTokens",
            "DryRun",
        ],
        "GenerateRandom" => &["NumberOfBytes", "CustomKeyStoreId"],
        "GetKeyPolicy" => &["KeyId", "PolicyName"],
        "PutKeyPolicy" => &["KeyId", "PolicyName", "BypassPolicyLockoutSafetyCheck"],
        _ => &[],
    }
}

/// At most this many unknown member names are listed, each cut to this many characters.
const MAX_UNKNOWN_NAMES: usize = 16;
const MAX_UNKNOWN_NAME_CHARS: usize = 64;

/// A request's members as CloudTrail writes them (`KeyId` → `keyId`): only those `op`
/// defines and that may be logged, matched case-sensitively as AWS does. Any other member
/// is named under `unrecognizedParameters` and its value dropped, so a secret sent under
/// another spelling, or junk, never reaches the trail.
pub(crate) fn loggable_request(op: &str, request: &Value) -> Value {
    let Value::Object(m) = request else {
        return Value::Null;
    };
    let allowed = loggable_request_members(op);
    let mut out = Map::new();
    let mut unknown: Vec<Value> = Vec::new();
    for (k, v) in m {
        if allowed.contains(&k.as_str()) {
            out.insert(lower_first(k), v.clone());
        } else if unknown.len() < MAX_UNKNOWN_NAMES {
            unknown.push(Value::String(
                k.chars().take(MAX_UNKNOWN_NAME_CHARS).collect(),
            ));
        }
    }
    if !unknown.is_empty() {
        out.insert("unrecognizedParameters".into(), Value::Array(unknown));
    }
    Value::Object(out)
}

/// Operations that change nothing (CloudTrail's `readOnly`).
pub(crate) fn is_read_only(op: &str) -> bool {
    op.starts_with("Describe")
        || op.starts_with("List")
        || op.starts_with("Get")
        || matches!(
            op,
            "Encrypt"
                | "Decrypt"
                | "ReEncrypt"
                | "GenerateDataKey"
                | "GenerateDataKeyWithoutPlaintext"
                | "GenerateRandom"
        )
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// A response's members as CloudTrail writes them (`KeyId` → `keyId`), secrets removed.
/// Responses are built by this server, so their members are known.
pub(crate) fn loggable(members: &Value) -> Value {
    match members {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !SECRET_MEMBERS.contains(&k.as_str()))
                .map(|(k, v)| (lower_first(k), v.clone()))
                .collect::<Map<_, _>>(),
        ),
        _ => Value::Null,
    }
}

fn origin(caller: &Caller) -> Origin {
    match (&caller.via_service, &caller.client) {
        // S3 acting for the user; CloudTrail names the service by its DNS name.
        (Some(_), _) => Origin::Service("s3.amazonaws.com".into()),
        (None, Some(c)) => Origin::Client {
            source_ip: c.source_ip.clone(),
            user_agent: c.user_agent.clone(),
        },
        (None, None) => Origin::Client {
            source_ip: "unknown".into(),
            user_agent: "unknown".into(),
        },
    }
}

/// One KMS API call's record.
pub(crate) fn call_event(
    caller: &Caller,
    op: &str,
    request_parameters: Value,
    response_elements: Value,
    resources: Vec<String>,
    error: Option<&KmsApiError>,
) -> AuditEvent {
    AuditEvent {
        event_source: KMS_SOURCE,
        event_name: op.to_owned(),
        identity: Some(Identity {
            arn: caller.arn.clone(),
            user_name: caller.user_name.clone(),
            access_key_id: caller.client.as_ref().map(|c| c.access_key_id.clone()),
        }),
        origin: origin(caller),
        request_parameters,
        response_elements: if is_read_only(op) || error.is_some() {
            Value::Null
        } else {
            response_elements
        },
        error: error.map(|e| (e.code.to_owned(), e.message.clone())),
        read_only: is_read_only(op),
        resources,
        request_id: uuid::Uuid::new_v4().to_string(),
        data_event: false,
        service_event_details: None,
        additional_event_data: None,
    }
}

/// The server's own event on a key (scheduled rotation, deletion; operator commands).
pub(crate) fn service_event(op: &str, key_arn: &str, key_id: &str) -> AuditEvent {
    AuditEvent {
        event_source: KMS_SOURCE,
        event_name: op.to_owned(),
        identity: None,
        origin: Origin::Internal,
        request_parameters: Value::Null,
        response_elements: Value::Null,
        error: None,
        read_only: false,
        resources: vec![key_arn.to_owned()],
        request_id: uuid::Uuid::new_v4().to_string(),
        data_event: false,
        service_event_details: Some(json!({ "keyId": key_id })),
        additional_event_data: None,
    }
}

pub(crate) fn context_json(context: &EncryptionContext) -> Value {
    json!(context)
}

/// An operation whose audit record could not be written fails with this (an unrecorded key
/// use has not happened).
pub(crate) fn unrecorded(e: coffer_audit::AuditError) -> KmsApiError {
    KmsApiError::internal(format!("audit trail: {e}"))
}

impl BuiltinKms {
    /// Writes `event` to the trail; an operation whose record cannot be written fails.
    pub(crate) fn record(&self, event: &AuditEvent) -> Result<(), KmsApiError> {
        match self.audit() {
            Some(log) => log.record(event).map_err(unrecorded),
            None => Ok(()),
        }
    }

    /// [`BuiltinKms::record`] without waiting for the disk: the receipt to await before the
    /// operation's result is used (`None`: this KMS keeps no trail).
    pub(crate) fn record_queued(
        &self,
        event: &AuditEvent,
    ) -> Result<Option<coffer_audit::Receipt>, KmsApiError> {
        self.audit()
            .map(|log| log.record_queued(event))
            .transpose()
            .map_err(unrecorded)
    }

    /// The key ARNs a finished API call involved, for the record's `resources`.
    pub(crate) fn resources_of(&self, op: &str, request: &Value, response: &Value) -> Vec<String> {
        let mut arns = Vec::new();
        for v in [
            &response["KeyMetadata"]["Arn"],
            &response["SourceKeyId"],
            &response["KeyId"],
        ] {
            if let Some(s) = v.as_str().filter(|s| s.starts_with("arn:")) {
                arns.push(s.to_owned());
            }
        }
        if arns.is_empty() {
            let named = request["KeyId"]
                .as_str()
                .or(request["TargetKeyId"].as_str())
                .or(request["DestinationKeyId"].as_str());
            if let Some(record) = named.and_then(|k| self.resolve(k).ok()) {
                arns.push(self.key_arn(&record));
            } else if op == "Decrypt" || op == "ReEncrypt" {
                let blob = request["CiphertextBlob"].as_str().and_then(|b| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.decode(b).ok()
                });
                if let Some(h) = blob.and_then(|b| crate::ciphertext::header(&b).ok()) {
                    arns.push(self.identity().key_arn(&h.key_id));
                }
            }
        }
        arns.dedup();
        arns
    }
}
