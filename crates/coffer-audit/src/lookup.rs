//! Finding records by reading the trail's files: every log file, a journal moved aside, and
//! the live journal, filtered by user, key, event name, bucket/object in the encryption
//! context and time. Lookups go to the index ([`crate::index`]) when the trail has one and it
//! is caught up; this is their fallback, and what KMS usage reports read.

use serde_json::Value;

use crate::chain::{CHAIN_MEMBER, Link};
use crate::index::Cursor;
use crate::layout::{Layout, gunzip};
use crate::stores::Stores;
use crate::trail_files::TrailFiles;

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
    /// Management events only (CloudTrail's event history), or data events only.
    pub management: Option<bool>,
    /// A resource of this type (`AWS::KMS::Key`, …).
    pub resource_type: Option<String>,
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
            && self
                .management
                .is_none_or(|m| r["managementEvent"].as_bool() == Some(m))
            && self.resource_type.as_deref().is_none_or(|t| {
                r["resources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|res| res["type"] == t)
            })
    }
}

fn journal_records(bytes: &[u8]) -> impl Iterator<Item = Value> + '_ {
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice(l).ok())
}

pub(crate) fn log_file_records(files: &dyn TrailFiles, name: &str) -> Vec<Value> {
    files
        .read(name)
        .ok()
        .flatten()
        .and_then(|b| gunzip(&b).ok())
        .and_then(|c| serde_json::from_slice::<Value>(&c).ok())
        .and_then(|mut d| d["Records"].as_array_mut().map(std::mem::take))
        .unwrap_or_default()
}

/// A record's place in lookups: its time, then its stream and position in the chain (0
/// before it).
fn place(r: &Value) -> Cursor {
    (
        r["eventTime"].as_str().unwrap_or_default().to_owned(),
        Link::stream_of(&r[CHAIN_MEMBER]).to_owned(),
        Link::from_json(&r[CHAIN_MEMBER]).map_or(0, |l| l.seq),
    )
}

/// Every record of the trail under `layout.root` (`<data>/audit`) that `filter` matches,
/// newest first: [`lookup_in`] the local stores.
pub fn lookup(layout: &Layout, filter: &Filter) -> Vec<Value> {
    lookup_in(layout, &Stores::local(layout), filter)
}

/// Every record of the trail kept in `stores` that `filter` matches, newest first.
/// Unreadable files are skipped here (`verify` is what reports them).
pub fn lookup_in(layout: &Layout, stores: &Stores, filter: &Filter) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let files = stores.files.as_ref();
    for name in files
        .list(&layout.logs_dir(), ".json.gz")
        .unwrap_or_default()
    {
        out.extend(
            log_file_records(files, &name)
                .into_iter()
                .filter(|r| filter.matches(r)),
        );
    }
    for bytes in journals(stores, false) {
        out.extend(journal_records(&bytes).filter(|r| filter.matches(r)));
    }
    out.sort_by_cached_key(|r| std::cmp::Reverse(place(r)));
    out
}

/// The page of `records` (newest first) after `before`, and where the next page starts.
pub(crate) fn page(
    records: Vec<Value>,
    before: Option<&Cursor>,
    limit: usize,
) -> crate::index::Page {
    let mut rest = records
        .into_iter()
        .filter(|r| before.is_none_or(|b| place(r) < *b));
    let page: Vec<Value> = rest.by_ref().take(limit).collect();
    let next = if rest.next().is_some() {
        page.last().map(place)
    } else {
        None
    };
    (page, next)
}

/// The journal's records not yet in a log file, readable ones only: a cut's, then the live
/// journal's, or the other way round with `live_first`.
pub(crate) fn journals(stores: &Stores, live_first: bool) -> Vec<Vec<u8>> {
    let live = stores.journal.read().ok();
    let cut = stores.journal.read_unfinished_cut().ok().flatten();
    let both = if live_first { [live, cut] } else { [cut, live] };
    both.into_iter().flatten().collect()
}

/// The records of the live journal, a journal moved aside, and the `files` newest log files.
pub(crate) fn recent_records(layout: &Layout, stores: &Stores, files: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for bytes in journals(stores, true) {
        out.extend(journal_records(&bytes));
    }
    let names = stores
        .files
        .list(&layout.logs_dir(), ".json.gz")
        .unwrap_or_default();
    for name in names.iter().rev().take(files) {
        out.extend(log_file_records(stores.files.as_ref(), name));
    }
    out
}
