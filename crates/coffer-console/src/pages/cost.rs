//! What the KMS costs: requests and estimated cost per key, per user and per month (the
//! figures of `coffer kms usage`, computed by the same admin operation), and what S3 Bucket
//! Keys saved.

use askama::Template;
use http::Response;
use s3s::Body;
use serde_json::{Value, json};

use super::{Frame, api_error, render};
use crate::Ctx;
use crate::{charts, prometheus};

/// AWS KMS's list prices (us-east-1), which `coffer kms usage` also defaults to.
const PRICE_PER_10K_REQUESTS: f64 = 0.03;
const PRICE_PER_KEY_MONTH: f64 = 1.0;

pub struct Month {
    pub month: String,
    pub requests: u64,
    pub request_cost: String,
    pub key_months: String,
    pub key_cost: String,
    pub total: String,
}

pub struct Line {
    pub month: String,
    pub key: String,
    pub user: String,
    pub operation: String,
    pub requests: u64,
    pub cost: String,
}

#[derive(Template)]
#[template(path = "cost.html")]
struct CostPage {
    frame: Frame,
    months: Vec<Month>,
    lines: Vec<Line>,
    by_month_svg: String,
    by_key_svg: String,
    by_user_svg: String,
    bucket_key_hits: u64,
    bucket_key_saved: String,
}

fn money(v: f64) -> String {
    format!("${v:.4}")
}

/// Totals per label, largest first.
fn totals(lines: &[Line], label: impl Fn(&Line) -> &str) -> Vec<(String, f64)> {
    let mut map = std::collections::BTreeMap::<String, f64>::new();
    for l in lines {
        *map.entry(label(l).to_owned()).or_default() += l.requests as f64;
    }
    let mut v: Vec<_> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.truncate(15);
    v
}

pub async fn page(ctx: &Ctx) -> Response<Body> {
    let report = match ctx
        .user
        .admin(
            "kms-usage",
            json!({
                "price_per_10k_requests": PRICE_PER_10K_REQUESTS,
                "price_per_key_month": PRICE_PER_KEY_MONTH,
            }),
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return api_error(ctx, "cost", "Cost", &e),
    };
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let mut months = Vec::new();
    let mut lines = Vec::new();
    for m in report.as_array().into_iter().flatten() {
        let month = m["month"].as_str().unwrap_or_default().to_owned();
        months.push(Month {
            month: month.clone(),
            requests: m["requests"].as_u64().unwrap_or(0),
            request_cost: money(f(&m["requestCost"])),
            key_months: format!("{}", f(&m["keyMonths"])),
            key_cost: money(f(&m["keyCost"])),
            total: money(f(&m["estimatedCost"])),
        });
        for l in m["byKeyUserOperation"].as_array().into_iter().flatten() {
            let requests = l["requests"].as_u64().unwrap_or(0);
            lines.push(Line {
                month: month.clone(),
                key: l["key"].as_str().unwrap_or("-").to_owned(),
                user: l["user"].as_str().unwrap_or("-").to_owned(),
                operation: l["operation"].as_str().unwrap_or("-").to_owned(),
                requests,
                cost: money(requests as f64 / 10_000.0 * PRICE_PER_10K_REQUESTS),
            });
        }
    }
    let by_month: Vec<(String, f64)> = report
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["month"].as_str().unwrap_or_default().to_owned(),
                f(&m["estimatedCost"]),
            )
        })
        .collect();
    let metrics = (ctx.metrics)();
    let hits = prometheus::sum(
        &metrics,
        "coffer_bucket_key_cache_total",
        &["result=\"hit\""],
    );
    render(&CostPage {
        frame: Frame::of(ctx, "cost"),
        by_month_svg: charts::bars("Estimated cost per month", "USD", &by_month),
        by_key_svg: charts::bars("Requests per key", "requests", &totals(&lines, |l| &l.key)),
        by_user_svg: charts::bars(
            "Requests per user",
            "requests",
            &totals(&lines, |l| &l.user),
        ),
        months,
        lines,
        bucket_key_hits: hits as u64,
        bucket_key_saved: money(hits / 10_000.0 * PRICE_PER_10K_REQUESTS),
    })
}
