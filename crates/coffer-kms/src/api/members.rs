//! The request body's members, typed: each accessor refuses a member of the wrong type with
//! AWS's `SerializationException`, and a missing required one with its `ValidationException`.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use crate::api_error::KmsApiError;
use crate::ciphertext::EncryptionContext;

/// The request body, with typed access to its members.
pub(super) struct Members(pub(super) Map<String, Value>);

pub(super) fn not_null(member: &str) -> KmsApiError {
    KmsApiError::validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        lower_first(member)
    ))
}

pub(super) fn lower_first(s: &str) -> String {
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
    pub(super) fn parse(body: &[u8]) -> Result<Self, KmsApiError> {
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

    pub(super) fn str(&self, member: &str) -> Result<Option<&str>, KmsApiError> {
        match self.0.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(member)),
        }
    }

    pub(super) fn required_str(&self, member: &str) -> Result<&str, KmsApiError> {
        self.str(member)?.ok_or_else(|| not_null(member))
    }

    pub(super) fn int(&self, member: &str) -> Result<Option<i64>, KmsApiError> {
        match self.0.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| wrong_type(member)),
            Some(_) => Err(wrong_type(member)),
        }
    }

    pub(super) fn blob(&self, member: &str) -> Result<Option<Vec<u8>>, KmsApiError> {
        match self.str(member)? {
            None => Ok(None),
            Some(s) => B64
                .decode(s)
                .map(Some)
                .map_err(|_| KmsApiError::serialization(format!("Invalid base64 in {member}"))),
        }
    }

    pub(super) fn context(&self, member: &str) -> Result<EncryptionContext, KmsApiError> {
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

    pub(super) fn tags(&self, member: &str) -> Result<BTreeMap<String, String>, KmsApiError> {
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

    pub(super) fn strings(&self, member: &str) -> Result<Vec<String>, KmsApiError> {
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

/// A time as AWS gives it: epoch seconds.
pub(super) fn seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}
