//! `coffer audit verify | lookup`: through the running server when there is one, else on
//! the idle data directory, so that both use the metadata store (the chain's anchor, the
//! lookup index).

use serde_json::json;

use crate::cli::{AuditArgs, AuditCommand};
use crate::kms_cli::table;

/// Runs the command; `Ok(false)` means verification failed (the caller exits non-zero).
pub async fn run(args: AuditArgs) -> Result<bool, String> {
    match args.command {
        AuditCommand::Verify(a) => {
            // Through the running server when there is one (it knows the newest record),
            // else on the idle data directory: either way with the root key's chain key and
            // the anchor in the metadata store.
            let ops = crate::admin::connect(&a.target).await?;
            let report = ops
                .call("audit-verify", json!({ "from": a.from, "to": a.to }))
                .await?;
            let n = |k: &str| report[k].as_u64().unwrap_or(0);
            let problems: Vec<&str> = report["problems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str())
                .collect();
            for p in &problems {
                println!("FAIL {p}");
            }
            let verdict = if !problems.is_empty() {
                format!("{} problems", problems.len())
            } else if report["checked_anything"].as_bool() == Some(true) {
                "the trail is intact".to_owned()
            } else {
                "the trail is empty: nothing to check".to_owned()
            };
            println!(
                "coffer: {} records checked ({} in the journal), {} digests and {} log files checked, {} log files not yet digested: {verdict}",
                n("records_checked"),
                n("journal_records"),
                n("digests_checked"),
                n("log_files_checked"),
                n("not_yet_digested"),
            );
            Ok(problems.is_empty())
        }
        AuditCommand::Lookup(a) => {
            // Through the index in the metadata store: the running server's, or the idle
            // data directory's.
            let ops = crate::admin::connect(&a.target).await?;
            let found = ops
                .call(
                    "audit-lookup",
                    json!({
                        "user": a.user,
                        "key": a.key,
                        "event_name": a.event_name,
                        "object": a.object,
                        "from": a.from,
                        "to": a.to,
                        "limit": a.limit,
                    }),
                )
                .await?;
            let records = found.as_array().cloned().unwrap_or_default();
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&records).unwrap_or_default()
                );
                return Ok(true);
            }
            let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
            let rows: Vec<Vec<String>> = records
                .iter()
                .map(|r| {
                    let who = r["userIdentity"]["userName"]
                        .as_str()
                        .or(r["userIdentity"]["invokedBy"].as_str())
                        .unwrap_or("-")
                        .to_owned();
                    let via = r["userIdentity"]["invokedBy"]
                        .as_str()
                        .filter(|_| r["userIdentity"]["userName"].is_string())
                        .map(|s| format!(" via {s}"))
                        .unwrap_or_default();
                    let key = r["resources"][0]["ARN"]
                        .as_str()
                        .and_then(|a| a.rsplit('/').next())
                        .unwrap_or("-")
                        .to_owned();
                    let object = r["requestParameters"]["encryptionContext"]["aws:s3:arn"]
                        .as_str()
                        .map(|a| a.trim_start_matches("arn:aws:s3:::").to_owned())
                        .unwrap_or_else(|| "-".into());
                    vec![
                        text(&r["eventTime"]),
                        text(&r["eventName"]),
                        format!("{who}{via}"),
                        key,
                        object,
                        r["errorCode"].as_str().unwrap_or("ok").to_owned(),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(&["TIME", "EVENT", "USER", "KEY", "OBJECT", "RESULT"], &rows)
            );
            println!("{} records", rows.len());
            Ok(true)
        }
    }
}
