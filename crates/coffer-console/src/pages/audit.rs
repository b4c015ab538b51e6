//! The audit timeline: KMS events filtered by user, key, event name, bucket or object and
//! time, newest first, each record expandable; and a chart of requests per hour by
//! operation. Read through the admin API (the trail is an administrator's, as CloudTrail's
//! LookupEvents is).

use std::collections::HashMap;

use askama::Template;
use http::{HeaderValue, Response};
use s3s::Body;
use serde_json::{Value, json};

use super::{Frame, api_error, render};
use crate::Ctx;
use crate::charts;
use crate::web::{self, enc};

/// Records per page of the timeline.
const PAGE: u64 = 50;
/// The filters the page takes, by form field.
const FILTERS: [&str; 6] = ["user", "key", "event_name", "object", "from", "to"];

/// A `datetime-local` value (`2026-11-29T10:00`) or RFC 3339, as RFC 3339 in UTC.
fn rfc3339(v: &str) -> String {
    match v.len() {
        16 => format!("{v}:00Z"),
        19 => format!("{v}Z"),
        _ => v.to_owned(),
    }
}

/// The admin operation's arguments for the page's filters.
fn filter_args(q: &HashMap<String, String>) -> Value {
    let mut args = json!({ "event_source": "kms.amazonaws.com" });
    for name in FILTERS {
        if let Some(v) = q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            args[name] = json!(if name == "from" || name == "to" {
                rfc3339(v)
            } else {
                v.to_owned()
            });
        }
    }
    args
}

/// The query string that repeats the page's filters.
fn filter_query(q: &HashMap<String, String>) -> String {
    FILTERS
        .iter()
        .filter_map(|n| {
            q.get(*n)
                .filter(|v| !v.is_empty())
                .map(|v| format!("{n}={}", enc(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub struct Event {
    pub time: String,
    pub name: String,
    pub user: String,
    pub via: String,
    pub key: String,
    pub object: String,
    pub source_ip: String,
    pub error: String,
    pub json: String,
}

fn event(r: &Value) -> Event {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let context = &r["requestParameters"]["encryptionContext"]["aws:s3:arn"];
    Event {
        time: s(&r["eventTime"]),
        name: s(&r["eventName"]),
        user: r["userIdentity"]["userName"]
            .as_str()
            .or(r["userIdentity"]["invokedBy"].as_str())
            .unwrap_or("-")
            .to_owned(),
        via: s(&r["userIdentity"]["invokedBy"]),
        key: r["resources"][0]["ARN"]
            .as_str()
            .and_then(|k| k.rsplit('/').next())
            .unwrap_or_default()
            .to_owned(),
        object: context
            .as_str()
            .and_then(|a| a.strip_prefix("arn:aws:s3:::"))
            .unwrap_or_default()
            .to_owned(),
        source_ip: s(&r["sourceIPAddress"]),
        error: s(&r["errorCode"]),
        json: serde_json::to_string_pretty(r).unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage<'a> {
    frame: Frame,
    q: &'a HashMap<String, String>,
    events: Vec<Event>,
    /// The query string of the filters (for the chart and the next page).
    filters: String,
    next: Option<String>,
}

impl AuditPage<'_> {
    fn field(&self, name: &str) -> &str {
        self.q.get(name).map(String::as_str).unwrap_or_default()
    }
}

pub async fn timeline(ctx: &Ctx, q: &HashMap<String, String>) -> Response<Body> {
    let mut args = filter_args(q);
    args["limit"] = json!(PAGE);
    // The cursor of the next page: `time stream seq` of the last record shown.
    if let Some(before) = q.get("before") {
        let parts: Vec<&str> = before.splitn(3, ' ').collect();
        if let [t, stream, seq] = parts[..] {
            args["before"] = json!([t, stream, seq.parse::<u64>().unwrap_or(0)]);
        }
    }
    let page = match ctx.user.admin("audit-page", args).await {
        Ok(p) => p,
        Err(e) => return api_error(ctx, "audit", "Audit", &e),
    };
    let events = page["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(event)
        .collect();
    let next = page["next"].as_array().map(|c| {
        format!(
            "{} {} {}",
            c[0].as_str().unwrap_or_default(),
            c[1].as_str().unwrap_or_default(),
            c[2].as_u64().unwrap_or_default()
        )
    });
    render(&AuditPage {
        frame: Frame::of(ctx, "audit"),
        q,
        events,
        filters: filter_query(q),
        next,
    })
}

/// Requests per hour by operation over the filtered window (the last day by default).
pub async fn chart(ctx: &Ctx, q: &HashMap<String, String>) -> Response<Body> {
    let args = filter_args(q);
    let counted = match ctx.user.admin("audit-histogram", args).await {
        Ok(c) => c,
        Err(e) => return api_error(ctx, "audit", "Audit chart", &e),
    };
    let hours: Vec<String> = counted["hours"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            h.as_str()
                .unwrap_or_default()
                .get(5..13)
                .unwrap_or_default()
                .replace('T', " ")
                + "h"
        })
        .collect();
    let series: Vec<(String, Vec<u64>)> = counted["series"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, counts)| {
            (
                name.clone(),
                counts
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| c.as_u64().unwrap_or(0))
                    .collect(),
            )
        })
        .collect();
    let title = if counted["capped"] == json!(true) {
        format!(
            "KMS requests per hour, by operation (the newest {} of the window)",
            counted["counted"]
        )
    } else {
        "KMS requests per hour, by operation".to_owned()
    };
    let svg = charts::lines(&title, &hours, &series);
    let mut resp = web::html(http::StatusCode::OK, svg);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    resp
}
