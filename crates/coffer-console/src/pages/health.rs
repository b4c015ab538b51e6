//! Health: the audit trail's last self-check and integrity alerts, master-key versions and
//! rekey progress, and the main Prometheus figures.

use askama::Template;
use http::Response;
use s3s::Body;
use serde_json::{Value, json};

use super::{Frame, render};
use crate::Ctx;
use crate::api::ApiError;
use crate::{prometheus, web};

pub struct TrailCheck {
    pub checked: bool,
    pub when: String,
    pub passed: bool,
    pub records: u64,
    pub digests: u64,
    pub problems: Vec<String>,
    pub enabled: bool,
}

pub struct MasterKeys {
    pub current: u64,
    /// (version, created)
    pub versions: Vec<(u64, String)>,
    pub objects: u64,
    pub under_older: u64,
    pub rekeyed_percent: String,
}

#[derive(Template)]
#[template(path = "health.html")]
struct HealthPage {
    frame: Frame,
    trail: Result<TrailCheck, ApiError>,
    keys: Result<MasterKeys, ApiError>,
    figures: Vec<(&'static str, String)>,
}

fn trail(v: &Value) -> TrailCheck {
    let last = &v["last_check"];
    TrailCheck {
        enabled: v["enabled"] == json!(true),
        checked: !last.is_null(),
        when: last["at"]
            .as_f64()
            .map(web::date_from_seconds)
            .unwrap_or_default(),
        passed: last["passed"] == json!(true),
        records: last["records_checked"].as_u64().unwrap_or(0),
        digests: last["digests_checked"].as_u64().unwrap_or(0),
        problems: last["problems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect(),
    }
}

fn master_keys(v: &Value) -> MasterKeys {
    let objects = v["objects"].as_u64().unwrap_or(0);
    let under_older = v["objects_under_older_versions"].as_u64().unwrap_or(0);
    MasterKeys {
        current: v["current"].as_u64().unwrap_or(0),
        versions: v["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p[0].as_u64().unwrap_or(0),
                    p[1].as_f64()
                        .map(|ms| web::date_from_seconds(ms / 1000.0))
                        .unwrap_or_default(),
                )
            })
            .collect(),
        objects,
        under_older,
        rekeyed_percent: if objects == 0 {
            "100".into()
        } else {
            format!(
                "{:.1}",
                100.0 * (objects - under_older.min(objects)) as f64 / objects as f64
            )
        },
    }
}

pub async fn page(ctx: &Ctx) -> Response<Body> {
    let (trail_status, key_status) = futures::join!(
        ctx.user.admin("trail-health", Value::Null),
        ctx.user.admin("key-status", Value::Null),
    );
    let m = (ctx.metrics)();
    let count =
        |name: &str, labels: &[&str]| format!("{}", prometheus::sum(&m, name, labels) as u64);
    let figures = vec![
        ("HTTP requests", count("coffer_http_requests_total", &[])),
        (
            "HTTP 5xx answers",
            count("coffer_http_requests_total", &["status=\"5"]),
        ),
        ("KMS requests", count("coffer_kms_requests_total", &[])),
        ("KMS errors", count("coffer_kms_errors_total", &[])),
        (
            "Audit self-checks",
            count("coffer_audit_self_checks_total", &[]),
        ),
        (
            "Audit integrity failures",
            count("coffer_audit_integrity_failures_total", &[]),
        ),
        (
            "Data integrity alerts",
            count("coffer_integrity_alerts_total", &[]),
        ),
        (
            "Bytes received",
            web::size(prometheus::sum(&m, "coffer_s3_bytes_received_total", &[]) as u64),
        ),
        (
            "Bytes sent",
            web::size(prometheus::sum(&m, "coffer_s3_bytes_sent_total", &[]) as u64),
        ),
        ("Open connections", count("coffer_open_connections", &[])),
        (
            "Resident memory",
            web::size(prometheus::sum(&m, "process_resident_memory_bytes", &[]) as u64),
        ),
    ];
    render(&HealthPage {
        frame: Frame::of(ctx, "health"),
        trail: trail_status.map(|v| trail(&v)),
        keys: key_status.map(|v| master_keys(&v)),
        figures,
    })
}

/// Verifies the whole trail now (`coffer audit verify`), as the signed-in user.
pub async fn verify(ctx: &Ctx) -> Response<Body> {
    match ctx.user.admin("audit-verify", Value::Null).await {
        Ok(_) => web::redirect("/console/health"),
        Err(e) => super::api_error(ctx, "health", "Verifying the audit trail", &e),
    }
}
