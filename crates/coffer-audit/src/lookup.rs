//! Finding records: every log file, a journal moved aside, and the live journal, filtered
//! by user, key, event name, bucket/object in the encryption context and time. Serves
//! `coffer audit lookup`, CloudTrail's LookupEvents, and KMS usage reports.

use serde_json::Value;

use crate::layout::{JOURNAL, Layout, ROLLING, files_ending, gunzip};

/// What to look for; every field given must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A user name or user ARN.
    pub user: Option<String>,
    /// A key id or key ARN (matched against the record's resources).
    pub key: Option<String>,
    pub event_name: Option<String>,
    /// A bucket or `bucket/key`: matched against the `aws:s3:arn` encryption context.
    pub object: Option<String>,
    pub event_source: Option<String>,
    pub read_only: Option<bool>,
    pub event_id: Option<String>,
    pub access_key_id: Option<String>,
    /// RFC 3339 bounds, inclusive.
    pub from: Option<String>,
    pub to: Option<String>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

impl Filter {
    pub fn matches(&self, r: &Value) -> bool {
        let time = r["eventTime"].as_str().unwrap_or_default();
        if self.from.as_deref().is_some_and(|f| time < f)
            || self.to.as_deref().is_some_and(|t| time > t)
        {
            return false;
        }
        if let Some(u) = &self.user {
            let name = str_at(r, &["userIdentity", "userName"]);
            let arn = str_at(r, &["userIdentity", "arn"]);
            if name != Some(u.as_str()) && arn != Some(u.as_str()) {
                return false;
            }
        }
        if let Some(k) = &self.key {
            let hit = r["resources"].as_array().into_iter().flatten().any(|res| {
                res["ARN"]
                    .as_str()
                    .is_some_and(|arn| arn == k || arn.ends_with(&format!("/{k}")))
            });
            if !hit {
                return false;
            }
        }
        if let Some(o) = &self.object {
            let context = r["requestParameters"]["encryptionContext"]["aws:s3:arn"].as_str();
            let hit = context.is_some_and(|arn| {
                let target = arn.strip_prefix("arn:aws:s3:::").unwrap_or(arn);
                target == o || target.starts_with(&format!("{o}/"))
            });
            if !hit {
                return false;
            }
        }
        let eq = |want: &Option<String>, got: Option<&str>| {
            want.as_deref().is_none_or(|w| Some(w) == got)
        };
        eq(&self.event_name, r["eventName"].as_str())
            && eq(&self.event_source, r["eventSource"].as_str())
            && eq(&self.event_id, r["eventID"].as_str())
            && eq(
                &self.access_key_id,
                str_at(r, &["userIdentity", "accessKeyId"]),
            )
            && self
                .read_only
                .is_none_or(|ro| r["readOnly"].as_bool() == Some(ro))
    }
}

fn journal_records(bytes: &[u8]) -> impl Iterator<Item = Value> + '_ {
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice(l).ok())
}

/// Every record of the trail that `filter` matches, newest first. Unreadable files are
/// skipped here (`verify` is what reports them).
pub fn lookup(layout: &Layout, filter: &Filter) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for file in files_ending(&layout.logs_dir(), ".json.gz") {
        let Some(content) = std::fs::read(&file).ok().and_then(|b| gunzip(&b).ok()) else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<Value>(&content) else {
            continue;
        };
        if let Some(records) = doc["Records"].as_array() {
            out.extend(records.iter().filter(|r| filter.matches(r)).cloned());
        }
    }
    for name in [ROLLING, JOURNAL] {
        if let Ok(bytes) = std::fs::read(layout.file(name)) {
            out.extend(journal_records(&bytes).filter(|r| filter.matches(r)));
        }
    }
    out.sort_by(|a, b| b["eventTime"].as_str().cmp(&a["eventTime"].as_str()));
    out
}
