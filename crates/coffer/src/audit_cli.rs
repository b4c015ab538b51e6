//! `coffer audit verify | lookup`: read the trail's files directly (they never change once
//! written, so this is safe beside a running server).

use coffer_audit::{Filter, Layout};

use crate::cli::{AuditArgs, AuditCommand, Target};
use crate::config::ServeConfig;
use crate::kms_cli::table;

/// The trail of the configured data directory.
pub fn layout(target: &Target) -> Result<Layout, String> {
    let config = ServeConfig::for_target(target)?;
    Ok(Layout::new(
        &config.data_dir,
        &config.account_id,
        &config.region,
    ))
}

/// Runs the command; `Ok(false)` means verification failed (the caller exits non-zero).
pub fn run(args: AuditArgs) -> Result<bool, String> {
    match args.command {
        AuditCommand::Verify(a) => {
            let layout = layout(&a.target)?;
            let data_dir = ServeConfig::for_target(&a.target)?.data_dir;
            let trusted = crate::datadir::trusted_audit_key(&data_dir);
            if trusted.is_none() {
                println!(
                    "coffer: the root key is not at hand; trusting the published signing-key.pub"
                );
            }
            let report = coffer_audit::verify(
                &layout,
                trusted.as_deref(),
                a.from.as_deref(),
                a.to.as_deref(),
            );
            for p in &report.problems {
                println!("FAIL {p}");
            }
            println!(
                "coffer: {} digests and {} log files checked, {} log files not yet digested: {}",
                report.digests_checked,
                report.log_files_checked,
                report.not_yet_digested,
                if report.passed() {
                    "the trail is intact".to_owned()
                } else {
                    format!("{} problems", report.problems.len())
                }
            );
            Ok(report.passed())
        }
        AuditCommand::Lookup(a) => {
            let layout = layout(&a.target)?;
            let filter = Filter {
                user: a.user,
                key: a.key,
                event_name: a.event_name,
                object: a.object,
                from: a.from,
                to: a.to,
                ..Default::default()
            };
            let records: Vec<_> = coffer_audit::lookup(&layout, &filter)
                .into_iter()
                .take(a.limit)
                .collect();
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
