//! Requests per hour by operation over a window of the audit trail: the console's audit
//! chart, counted where the trail is rather than shipped record by record.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The window when none is given, and the widest one counted.
const DEFAULT_HOURS: i64 = 24;
const MOST_HOURS: i64 = 24 * 7;
const PAGE: usize = 10_000;
/// At most this many records are counted (the newest of the window): counting reads each
/// record whole, ~40 µs apiece, and a chart must not cost a busy trail a minute of CPU.
const MOST_RECORDS: usize = 50_000;

/// `filter.from`/`filter.to` bound the window (default: the last day; at most a week, ending
/// at `to`); the answer is `{"hours": [..], "series": {"Decrypt": [..], ..}, "capped",
/// "counted"}`, `capped` when only the newest [`MOST_RECORDS`] were counted.
pub fn count(
    audit: &coffer_audit::AuditLog,
    mut filter: coffer_audit::Filter,
) -> Result<Value, String> {
    let parse = |v: &Option<String>| {
        v.as_deref()
            .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
    };
    let now = OffsetDateTime::now_utc();
    let to = parse(&filter.to).unwrap_or(now);
    let mut from = parse(&filter.from).unwrap_or(to - time::Duration::hours(DEFAULT_HOURS));
    if to - from > time::Duration::hours(MOST_HOURS) {
        from = to - time::Duration::hours(MOST_HOURS);
    }
    let first_hour = from.unix_timestamp().div_euclid(3600);
    let hours = (to.unix_timestamp().div_euclid(3600) - first_hour + 1).max(1) as usize;
    filter.from = from.format(&Rfc3339).ok();
    filter.to = to.format(&Rfc3339).ok();
    let mut series: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut counted = 0usize;
    let capped = audit
        .for_each_found(&filter, PAGE, |r| {
            counted += 1;
            let at = r["eventTime"]
                .as_str()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
            if let Some(at) = at {
                let slot = at.unix_timestamp().div_euclid(3600) - first_hour;
                if (0..hours as i64).contains(&slot) {
                    let name = r["eventName"].as_str().unwrap_or("-").to_owned();
                    series.entry(name).or_insert_with(|| vec![0; hours])[slot as usize] += 1;
                }
            }
            counted < MOST_RECORDS
        })
        .map_err(|e| e.to_string())?;
    let labels: Vec<String> = (0..hours as i64)
        .filter_map(|h| OffsetDateTime::from_unix_timestamp((first_hour + h) * 3600).ok())
        .filter_map(|t| t.format(&Rfc3339).ok())
        .collect();
    Ok(json!({ "hours": labels, "series": series, "capped": capped, "counted": counted }))
}
