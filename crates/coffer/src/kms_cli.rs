//! `coffer kms`: the operator's view of the built-in KMS, as readable tables. Like
//! `coffer admin`, it goes through the running server when one holds the data directory.

use serde_json::{Value, json};

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
/// the keys cost at the given prices: computed by the server (or the idle data directory),
/// so that a trail kept in the shared stores is counted whole, every gateway's records, and
/// the console's cost page shows the same figures.
async fn usage(a: KmsUsageArgs) -> Result<(), String> {
    let ops = crate::admin::connect(&a.target).await?;
    let report = ops
        .call(
            "kms-usage",
            json!({
                "month": a.month,
                "price_per_10k_requests": a.price_per_10k_requests,
                "price_per_key_month": a.price_per_key_month,
            }),
        )
        .await?;
    let months = report.as_array().cloned().unwrap_or_default();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(());
    }
    if months.is_empty() {
        println!("coffer: no KMS requests in the audit trail");
    }
    for m in &months {
        let f = |k: &str| m[k].as_f64().unwrap_or(0.0);
        println!(
            "{}: {} requests ${:.4} + {} key-months ${:.2} = ${:.4}",
            text(&m["month"]),
            m["requests"].as_u64().unwrap_or(0),
            f("requestCost"),
            f("keyMonths"),
            f("keyCost"),
            f("estimatedCost"),
        );
        let rows: Vec<Vec<String>> = m["byKeyUserOperation"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                vec![
                    text(&l["key"]),
                    text(&l["user"]),
                    text(&l["operation"]),
                    l["requests"].as_u64().unwrap_or(0).to_string(),
                ]
            })
            .collect();
        println!(
            "{}\n",
            table(&["KEY", "USER", "OPERATION", "REQUESTS"], &rows)
        );
    }
    Ok(())
}
