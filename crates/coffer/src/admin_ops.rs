//! The admin operations, one dispatcher for both ways of reaching them: the authenticated
//! admin route of a running server, and `coffer admin` opening an idle data directory.

use std::sync::Arc;

use coffer_kms::BuiltinKms;
use coffer_s3::CofferS3;
use serde_json::{Value, json};

/// What the admin operations act on.
#[derive(Clone)]
pub struct AdminTarget {
    pub s3: CofferS3,
    pub kms: Arc<BuiltinKms>,
    /// The trail's last self-check on this gateway.
    pub trail_health: Arc<crate::trail_health::TrailHealth>,
}

/// The audit filter an admin request names (`user`, `key`, `event_name`, `object`,
/// `event_source`, `from`, `to`).
fn audit_filter(args: &Value) -> coffer_audit::Filter {
    let text = |k: &str| args[k].as_str().map(str::to_owned);
    coffer_audit::Filter {
        user: text("user"),
        key: text("key"),
        event_name: text("event_name"),
        object: text("object"),
        event_source: text("event_source"),
        from: text("from"),
        to: text("to"),
        ..Default::default()
    }
}

/// Lets `kms-run-due` run as of a future time (testing only).
const CLOCK_OVERRIDE: &str = "COFFER_ALLOW_CLOCK_OVERRIDE";

/// Who a scrub's KMS calls are made as (an admin; no keys, so no one can sign as it).
pub const SCRUB_USER: &str = "coffer-scrub";

/// Header naming the admin operation on `POST /` (signed like every other request).
pub const ADMIN_HEADER: &str = "x-coffer-admin";

/// Runs one admin operation. Blocking: call from a blocking context.
pub fn run(target: &AdminTarget, op: &str, args: &Value) -> Result<Value, String> {
    let s3 = &target.s3;
    let kms = target.kms.as_ref();
    let key_arg = || args["key"].as_str().ok_or("no key named".to_owned());
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
        "audit-verify" => {
            let audit = kms
                .audit()
                .ok_or("the audit trail is disabled (audit_enabled = false)")?;
            let report = audit.verify(args["from"].as_str(), args["to"].as_str());
            if args["from"].is_null() && args["to"].is_null() {
                target.trail_health.record(&report);
            }
            Ok(json!({
                "digests_checked": report.digests_checked,
                "log_files_checked": report.log_files_checked,
                "not_yet_digested": report.not_yet_digested,
                "records_checked": report.records_checked,
                "journal_records": report.journal_records,
                "unchained_records": report.unchained_records,
                "checked_anything": report.checked_anything(),
                "problems": report.problems,
            }))
        }
        "audit-lookup" => {
            let audit = kms
                .audit()
                .ok_or("the audit trail is disabled (audit_enabled = false)")?;
            let filter = audit_filter(args);
            let limit = args["limit"].as_u64().unwrap_or(50).clamp(1, 100_000) as usize;
            let (records, _) = audit
                .find(&filter, None, limit)
                .map_err(|e| e.to_string())?;
            Ok(json!(records))
        }
        // Records matching a filter, a page at a time (newest first): what `coffer kms
        // usage` counts and the console's timeline shows, read wherever the trail is kept.
        "audit-page" => {
            let audit = kms
                .audit()
                .ok_or("the audit trail is disabled (audit_enabled = false)")?;
            let filter = audit_filter(args);
            let before = match (
                args["before"][0].as_str(),
                args["before"][1].as_str(),
                args["before"][2].as_u64(),
            ) {
                (Some(t), Some(s), Some(q)) => Some((t.to_owned(), s.to_owned(), q)),
                _ => None,
            };
            let limit = args["limit"].as_u64().unwrap_or(1000).clamp(1, 100_000) as usize;
            let (records, next) = audit
                .find(&filter, before.as_ref(), limit)
                .map_err(|e| e.to_string())?;
            Ok(json!({ "records": records, "next": next.map(|(t, s, q)| json!([t, s, q])) }))
        }
        "audit-histogram" => {
            let audit = kms
                .audit()
                .ok_or("the audit trail is disabled (audit_enabled = false)")?;
            crate::audit_histogram::count(audit, audit_filter(args))
        }
        "trail-health" => Ok(json!({
            "enabled": kms.audit().is_some(),
            "last_check": target.trail_health.last(),
        })),
        "kms-usage" => crate::kms_usage::report(
            target,
            args["month"].as_str(),
            &crate::kms_usage::Prices {
                per_10k_requests: args["price_per_10k_requests"].as_f64().unwrap_or(0.03),
                per_key_month: args["price_per_key_month"].as_f64().unwrap_or(1.0),
            },
        ),
        "scrub-step" => {
            let after = match (args["after"][0].as_str(), args["after"][1].as_str()) {
                (Some(b), Some(k)) => Some((b.to_owned(), k.to_owned())),
                _ => None,
            };
            let limit = args["limit"].as_u64().unwrap_or(100).clamp(1, 100_000);
            // SSE-KMS objects open through the KMS as any read does: as an admin, recorded
            // in the audit trail under this name.
            let scrubber =
                coffer_s3::User::new(SCRUB_USER.to_owned(), String::new(), String::new(), true);
            serde_json::to_value(s3.scrub_step(after, limit, &scrubber)?).map_err(|e| e.to_string())
        }
        "kms-list-keys" => {
            let aliases = kms.all_aliases().map_err(|e| e.to_string())?;
            let keys = kms.all_keys().map_err(|e| e.to_string())?;
            Ok(json!(
                keys.iter()
                    .map(|k| {
                        let mut m = coffer_kms::api::key_metadata(kms, k);
                        m["Aliases"] = json!(
                            aliases
                                .iter()
                                .filter(|a| a.target_key_id == k.key_id)
                                .map(|a| a.name.clone())
                                .collect::<Vec<_>>()
                        );
                        m["MaterialVersions"] = json!(k.versions.len());
                        m["RotationPeriodInDays"] = json!(k.rotation_period_days);
                        m
                    })
                    .collect::<Vec<_>>()
            ))
        }
        "kms-describe-key" => {
            let k = kms.resolve(key_arg()?).map_err(|e| e.to_string())?;
            let mut m = coffer_kms::api::key_metadata(kms, &k);
            m["Policy"] = json!(k.policy);
            m["MaterialVersions"] = json!(k.versions.len());
            m["RotationPeriodInDays"] = json!(k.rotation_period_days);
            m["Tags"] = json!(k.tags);
            Ok(m)
        }
        "kms-rotate" => {
            let k = kms
                .rotate_as_operator(key_arg()?)
                .map_err(|e| e.to_string())?;
            Ok(json!({ "KeyArn": kms.key_arn(&k), "MaterialVersions": k.versions.len() }))
        }
        "kms-schedule-deletion" => {
            let days = args["days"].as_u64().unwrap_or(30);
            if !(7..=30).contains(&days) {
                return Err("the waiting period must be 7 to 30 days".into());
            }
            let k = kms
                .schedule_deletion_as_operator(key_arg()?, days as u32)
                .map_err(|e| e.to_string())?;
            Ok(json!({ "KeyArn": kms.key_arn(&k), "DeletionDateMs": k.deletion_ms }))
        }
        // Runs the KMS's due rotations and deletions now. A later time would end deletion
        // windows early, so it is only honoured by a server started for testing with
        // COFFER_ALLOW_CLOCK_OVERRIDE=1 (the end-to-end tests use it to see a window end).
        "kms-run-due" => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
            let at = match args["at_ms"].as_i64() {
                Some(t) if t > now && std::env::var_os(CLOCK_OVERRIDE).is_none() => {
                    return Err(format!(
                        "a time in the future needs {CLOCK_OVERRIDE}=1 (testing only)"
                    ));
                }
                Some(t) => t,
                None => now,
            };
            Ok(json!(kms.run_due(at).map_err(|e| e.to_string())?))
        }
        "collect-garbage" => {
            // A shorter grace than the default is for tests: the embedded store's writers
            // record no intents, and a young blob may be one a record is about to name.
            let grace = match args["grace_seconds"].as_u64() {
                Some(g) if g < 3600 && std::env::var_os(CLOCK_OVERRIDE).is_none() => {
                    return Err(format!(
                        "a grace under an hour needs {CLOCK_OVERRIDE}=1 (testing only)"
                    ));
                }
                Some(g) => std::time::Duration::from_secs(g),
                None => std::time::Duration::from_secs(3600),
            };
            let report = s3.collect_garbage(grace)?;
            Ok(json!({
                "orphan_blobs": report.orphan_blobs,
                "young_blobs": report.young_blobs,
                "stale_intents": report.stale_intents,
            }))
        }
        other => Err(format!("unknown admin operation {other:?}")),
    }
}
