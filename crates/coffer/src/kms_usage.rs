//! What the KMS was used for and what that costs, per month, key, user and operation: one
//! computation behind `coffer kms usage` and the console's cost page, so both show the same
//! figures. Counted from the audit trail (one record per KMS request), wherever it is kept.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::admin_ops::AdminTarget;

/// Records read from the trail per page.
const PAGE: usize = 10_000;

/// Prices and the month to report (`None`: every month in the trail).
pub struct Prices {
    pub per_10k_requests: f64,
    pub per_key_month: f64,
}

/// The report: one entry per month, oldest first.
pub fn report(target: &AdminTarget, month: Option<&str>, prices: &Prices) -> Result<Value, String> {
    let kms = target.kms.as_ref();
    let audit = kms
        .audit()
        .ok_or("the audit trail is disabled (audit_enabled = false)")?;
    let filter = coffer_audit::Filter {
        event_source: Some(coffer_audit::KMS_SOURCE.to_owned()),
        ..Default::default()
    };
    // month -> (key, user, operation) -> count; scheduled work is the server's, not billed.
    let mut by_month: BTreeMap<String, BTreeMap<(String, String, String), u64>> = BTreeMap::new();
    audit
        .for_each_found(&filter, PAGE, |r| {
            count(r, month, &mut by_month);
            true
        })
        .map_err(|e| e.to_string())?;
    // Keys are billed per month: customer keys not pending deletion, plus their first two
    // rotations (SPEC §7.6).
    let keys = crate::admin_ops::run(target, "kms-list-keys", &Value::Null)?;
    let key_months: f64 = keys
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["KeyManager"] == "CUSTOMER" && k["KeyState"] != "PendingDeletion")
        .map(|k| {
            1.0 + (k["MaterialVersions"]
                .as_u64()
                .unwrap_or(1)
                .saturating_sub(1))
            .min(2) as f64
        })
        .sum();
    Ok(json!(
        by_month
            .iter()
            .map(|(month, counts)| {
                let requests: u64 = counts.values().sum();
                let request_cost = requests as f64 / 10_000.0 * prices.per_10k_requests;
                let key_cost = key_months * prices.per_key_month;
                json!({
                    "month": month,
                    "requests": requests,
                    "requestCost": request_cost,
                    "keyMonths": key_months,
                    "keyCost": key_cost,
                    "estimatedCost": request_cost + key_cost,
                    "byKeyUserOperation": counts.iter().map(|((k, u, o), n)| json!({
                        "key": k, "user": u, "operation": o, "requests": n,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect::<Vec<_>>()
    ))
}

fn count(
    r: &Value,
    only: Option<&str>,
    by_month: &mut BTreeMap<String, BTreeMap<(String, String, String), u64>>,
) {
    if r["eventType"] == "AwsServiceEvent" {
        return;
    }
    let month: String = r["eventTime"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(7)
        .collect();
    if only.is_some_and(|m| m != month) {
        return;
    }
    let key = r["resources"][0]["ARN"]
        .as_str()
        .and_then(|k| k.rsplit('/').next())
        .unwrap_or("-")
        .to_owned();
    let user = r["userIdentity"]["userName"]
        .as_str()
        .unwrap_or("-")
        .to_owned();
    let via = if r["userIdentity"]["invokedBy"].is_string() {
        " (via S3)"
    } else {
        ""
    };
    let op = r["eventName"].as_str().unwrap_or("-").to_owned();
    *by_month
        .entry(month)
        .or_default()
        .entry((key, format!("{user}{via}"), op))
        .or_default() += 1;
}
