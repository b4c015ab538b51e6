//! The admin operations, one dispatcher for both ways of reaching them: the authenticated
//! admin route of a running server, and `coffer admin` opening an idle data directory.

use coffer_s3::CofferS3;
use serde_json::{Value, json};

/// Header naming the admin operation on `POST /` (signed like every other request).
pub const ADMIN_HEADER: &str = "x-coffer-admin";

/// Runs one admin operation. Blocking: call from a blocking context.
pub fn run(s3: &CofferS3, op: &str, args: &Value) -> Result<Value, String> {
    match op {
        "rotate-master-key" => Ok(json!({ "version": s3.rotate_master_key()? })),
        "retire-master-keys" => Ok(json!({ "retired": s3.retire_master_keys()? })),
        "key-status" => serde_json::to_value(s3.key_status()?).map_err(|e| e.to_string()),
        "rekey-step" => {
            let after = match (args["after"][0].as_str(), args["after"][1].as_str()) {
                (Some(b), Some(k)) => Some((b.to_owned(), k.to_owned())),
                _ => None,
            };
            let limit = args["limit"].as_u64().unwrap_or(500).clamp(1, 100_000);
            serde_json::to_value(s3.rekey_step(after, limit)?).map_err(|e| e.to_string())
        }
        other => Err(format!("unknown admin operation {other:?}")),
    }
}
