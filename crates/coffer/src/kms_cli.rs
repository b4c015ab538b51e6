//! `coffer kms`: the operator's view of the built-in KMS, as readable tables. Like
//! `coffer admin`, it goes through the running server when one holds the data directory.

use serde_json::{Value, json};

use std::collections::BTreeMap;

use crate::admin::connect;
use crate::cli::{KmsArgs, KmsCommand, KmsUsageArgs};

fn date(seconds: &Value) -> String {
    seconds
        .as_f64()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s as i64).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Left-aligned columns, as wide as their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

pub async fn run(args: KmsArgs) -> Result<(), String> {
    match args.command {
        KmsCommand::ListKeys(a) => {
            let ops = connect(&a.target).await?;
            let keys = ops.call("kms-list-keys", Value::Null).await?;
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&keys).unwrap_or_default()
                );
                return Ok(());
            }
            let rows: Vec<Vec<String>> = keys
                .as_array()
                .map(|ks| {
                    ks.iter()
                        .map(|k| {
                            let aliases = k["Aliases"]
                                .as_array()
                                .map(|a| a.iter().map(text).collect::<Vec<_>>().join(","))
                                .filter(|a| !a.is_empty())
                                .unwrap_or_else(|| "-".into());
                            vec![
                                text(&k["KeyId"]),
                                text(&k["KeyState"]),
                                text(&k["KeyManager"]),
                                aliases,
                                text(&k["MaterialVersions"]),
                                text(&k["RotationPeriodInDays"]),
                                date(&k["CreationDate"]),
                                date(&k["DeletionDate"]),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            println!(
                "{}",
                table(
                    &[
                        "KEY ID",
                        "STATE",
                        "MANAGER",
                        "ALIASES",
                        "VERSIONS",
                        "ROTATION DAYS",
                        "CREATED",
                        "DELETION",
                    ],
                    &rows
                )
            );
            println!("{} keys", rows.len());
            Ok(())
        }
        KmsCommand::DescribeKey(a) => {
            let ops = connect(&a.target).await?;
            let k = ops
                .call("kms-describe-key", json!({ "key": a.key }))
                .await?;
            let rows: Vec<Vec<String>> = [
                ("Key ARN", text(&k["Arn"])),
                ("State", text(&k["KeyState"])),
                ("Manager", text(&k["KeyManager"])),
                ("Description", text(&k["Description"])),
                ("Created", date(&k["CreationDate"])),
                ("Material versions", text(&k["MaterialVersions"])),
                ("Current material", text(&k["CurrentKeyMaterialId"])),
                ("Rotation period (days)", text(&k["RotationPeriodInDays"])),
                ("Deletion date", date(&k["DeletionDate"])),
                ("Tags", text(&k["Tags"])),
            ]
            .into_iter()
            .map(|(n, v)| vec![n.to_owned(), v])
            .collect();
            println!("{}", table(&["FIELD", "VALUE"], &rows));
            println!("Policy:\n{}", text(&k["Policy"]));
            Ok(())
        }
        KmsCommand::Rotate(a) => {
            let ops = connect(&a.target).await?;
            let out = ops.call("kms-rotate", json!({ "key": a.key })).await?;
            println!(
                "coffer: rotated {}: {} material versions (older ones stay for decryption)",
                text(&out["KeyArn"]),
                text(&out["MaterialVersions"])
            );
            Ok(())
        }
        KmsCommand::Usage(a) => usage(a).await,
        KmsCommand::ScheduleDeletion(a) => {
            let ops = connect(&a.target).await?;
            let out = ops
                .call(
                    "kms-schedule-deletion",
                    json!({ "key": a.key, "days": a.days }),
                )
                .await?;
            println!(
                "coffer: {} will be deleted at {}; until then `aws kms cancel-key-deletion` undoes it",
                text(&out["KeyArn"]),
                date(&json!(out["DeletionDateMs"].as_i64().unwrap_or(0) / 1000))
            );
            Ok(())
        }
    }
}

/// Requests per month (from the audit trail: one record per KMS request) and what they and
/// the keys cost at the given prices.
async fn usage(a: KmsUsageArgs) -> Result<(), String> {
    // Through the running server (or the idle data directory), so that a trail kept in the
    // shared stores is counted whole, every gateway's records.
    let ops = crate::admin::connect(&a.target).await?;
    let mut records = Vec::new();
    let mut before = serde_json::Value::Null;
    loop {
        let page = ops
            .call(
                "audit-page",
                serde_json::json!({
                    "event_source": coffer_audit::KMS_SOURCE,
                    "before": before,
                    "limit": 10_000,
                }),
            )
            .await?;
        records.extend(page["records"].as_array().cloned().unwrap_or_default());
        if page["next"].is_null() {
            break;
        }
        before = page["next"].clone();
    }
    // month -> (key, user, operation) -> count; scheduled work is the server's, not billed.
    let mut by_month: BTreeMap<String, BTreeMap<(String, String, String), u64>> = BTreeMap::new();
    for r in &records {
        if r["eventType"] == "AwsServiceEvent" {
            continue;
        }
        let month: String = r["eventTime"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(7)
            .collect();
        if a.month.as_ref().is_some_and(|m| *m != month) {
            continue;
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
    // Keys are billed per month: customer keys not pending deletion, plus their first two
    // rotations (SPEC §7.6).
    let ops = connect(&a.target).await?;
    let keys = ops.call("kms-list-keys", Value::Null).await?;
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
    let mut report = Vec::new();
    for (month, counts) in &by_month {
        let requests: u64 = counts.values().sum();
        let request_cost = requests as f64 / 10_000.0 * a.price_per_10k_requests;
        let key_cost = key_months * a.price_per_key_month;
        report.push(json!({
            "month": month,
            "requests": requests,
            "requestCost": request_cost,
            "keyMonths": key_months,
            "keyCost": key_cost,
            "estimatedCost": request_cost + key_cost,
            "byKeyUserOperation": counts.iter().map(|((k, u, o), n)| json!({
                "key": k, "user": u, "operation": o, "requests": n,
            })).collect::<Vec<_>>(),
        }));
        if !a.json {
            println!(
                "{month}: {requests} requests ${request_cost:.4} + {key_months} key-months ${key_cost:.2} = ${:.4}",
                request_cost + key_cost
            );
            let rows: Vec<Vec<String>> = counts
                .iter()
                .map(|((k, u, o), n)| vec![k.clone(), u.clone(), o.clone(), n.to_string()])
                .collect();
            println!(
                "{}\n",
                table(&["KEY", "USER", "OPERATION", "REQUESTS"], &rows)
            );
        }
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else if by_month.is_empty() {
        println!("coffer: no KMS requests in the audit trail");
    }
    Ok(())
}
