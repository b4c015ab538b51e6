//! Buckets: each one's default encryption, Bucket Key, blocked encryption types, policy
//! (viewed and edited, the API's validation errors shown), object count and size.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use askama::Template;
use bytes::Bytes;
use http::{Method, Response};
use s3s::Body;

use super::{Frame, api_error, render};
use crate::Ctx;
use crate::api::ApiError;
use crate::s3_xml::{self, EncryptionConfig, ListBuckets, ListObjects};
use crate::web::{self, enc};

/// A bucket's default encryption, as the console shows it.
pub struct Encryption {
    /// `SSE-S3` or `SSE-KMS`.
    pub mode: String,
    pub kms_key: String,
    pub bucket_key: bool,
    /// e.g. `SSE-C`, comma-separated; empty if none.
    pub blocked: String,
}

pub fn mode_name(algorithm: &str) -> &'static str {
    match algorithm {
        "aws:kms" => "SSE-KMS",
        "aws:kms:dsse" => "DSSE-KMS",
        "AES256" => "SSE-S3",
        _ => "none",
    }
}

pub async fn encryption(ctx: &Ctx, bucket: &str) -> Result<Encryption, ApiError> {
    let answer = ctx
        .user
        .s3(
            Method::GET,
            &format!("/{}?encryption", enc(bucket)),
            &[],
            Bytes::new(),
        )
        .await?;
    let config: EncryptionConfig = s3_xml::parse(&answer.bytes().await?);
    let rule = config.rule.first().cloned().unwrap_or_default();
    Ok(Encryption {
        mode: mode_name(&rule.apply_server_side_encryption_by_default.algorithm).into(),
        kms_key: rule
            .apply_server_side_encryption_by_default
            .kms_key
            .unwrap_or_default(),
        bucket_key: rule.bucket_key_enabled,
        blocked: rule.blocked_encryption_types.encryption_type.join(", "),
    })
}

struct Row {
    name: String,
    created: String,
    encryption: Result<Encryption, ApiError>,
}

#[derive(Template)]
#[template(path = "buckets.html")]
struct BucketsPage {
    frame: Frame,
    rows: Vec<Row>,
}

pub async fn list(ctx: &Ctx) -> Response<Body> {
    let answer = match ctx.user.s3(Method::GET, "/", &[], Bytes::new()).await {
        Ok(a) => a,
        Err(e) => return api_error(ctx, "buckets", "Buckets", &e),
    };
    let listed: ListBuckets = match answer.bytes().await {
        Ok(b) => s3_xml::parse(&b),
        Err(e) => return api_error(ctx, "buckets", "Buckets", &e),
    };
    let buckets = listed.buckets.bucket;
    let encryptions =
        futures::future::join_all(buckets.iter().map(|b| encryption(ctx, &b.name))).await;
    let rows = buckets
        .into_iter()
        .zip(encryptions)
        .map(|(b, encryption)| Row {
            name: b.name,
            created: b.creation_date,
            encryption,
        })
        .collect();
    render(&BucketsPage {
        frame: Frame::of(ctx, "buckets"),
        rows,
    })
}

/// Counting stops after this long, and the page says the count is a lower bound.
const COUNT_BUDGET: Duration = Duration::from_secs(2);

/// Objects and bytes, counted through ListObjectsV2 (what the user may list).
pub struct Usage {
    pub objects: u64,
    pub bytes: String,
    /// Counting ran out of time before the end of the bucket.
    pub partial: bool,
}

async fn usage(ctx: &Ctx, bucket: &str) -> Result<Usage, ApiError> {
    let started = Instant::now();
    let (mut objects, mut bytes) = (0u64, 0u64);
    let mut token: Option<String> = None;
    loop {
        let mut path = format!("/{}?list-type=2&max-keys=1000", enc(bucket));
        if let Some(t) = &token {
            path.push_str(&format!("&continuation-token={}", enc(t)));
        }
        let answer = ctx.user.s3(Method::GET, &path, &[], Bytes::new()).await?;
        let page: ListObjects = s3_xml::parse(&answer.bytes().await?);
        objects += page.contents.len() as u64;
        bytes += page.contents.iter().map(|o| o.size).sum::<u64>();
        token = page.next_continuation_token.filter(|_| page.is_truncated);
        if token.is_none() {
            return Ok(Usage {
                objects,
                bytes: web::size(bytes),
                partial: false,
            });
        }
        if started.elapsed() > COUNT_BUDGET {
            return Ok(Usage {
                objects,
                bytes: web::size(bytes),
                partial: true,
            });
        }
    }
}

#[derive(Template)]
#[template(path = "bucket.html")]
struct BucketPage<'a> {
    frame: Frame,
    name: &'a str,
    encryption: Result<Encryption, ApiError>,
    usage: Result<Usage, ApiError>,
    /// The policy in force (`None`: the bucket has none), or why it could not be read.
    policy: Result<Option<String>, ApiError>,
    /// A policy the user submitted and the API refused, kept in the editor.
    draft: Option<String>,
    policy_error: Option<ApiError>,
    saved: bool,
}

async fn policy(ctx: &Ctx, bucket: &str) -> Result<Option<String>, ApiError> {
    let path = format!("/{}?policy", enc(bucket));
    match ctx.user.s3(Method::GET, &path, &[], Bytes::new()).await {
        Ok(a) => {
            let text = String::from_utf8_lossy(&a.bytes().await?).into_owned();
            // Shown indented, whatever whitespace it was stored with.
            Ok(Some(
                serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| serde_json::to_string_pretty(&v).ok())
                    .unwrap_or(text),
            ))
        }
        Err(e) if e.code == "NoSuchBucketPolicy" => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn show(ctx: &Ctx, bucket: &str) -> Response<Body> {
    page(ctx, bucket, None, None, false).await
}

async fn page(
    ctx: &Ctx,
    bucket: &str,
    draft: Option<String>,
    policy_error: Option<ApiError>,
    saved: bool,
) -> Response<Body> {
    let (encryption, usage, policy) = futures::join!(
        encryption(ctx, bucket),
        usage(ctx, bucket),
        policy(ctx, bucket)
    );
    if let Err(e) = &encryption
        && e.code == "NoSuchBucket"
    {
        return api_error(ctx, "buckets", bucket, e);
    }
    let status = match &policy_error {
        Some(e) => http::StatusCode::from_u16(e.status).unwrap_or(http::StatusCode::BAD_REQUEST),
        None => http::StatusCode::OK,
    };
    super::render_status(
        status,
        &BucketPage {
            frame: Frame::of(ctx, "buckets"),
            name: bucket,
            encryption,
            usage,
            policy,
            draft,
            policy_error,
            saved,
        },
    )
}

/// Saves (PutBucketPolicy) or removes (DeleteBucketPolicy) the bucket's policy.
pub async fn set_policy(ctx: &Ctx, bucket: &str, form: &HashMap<String, String>) -> Response<Body> {
    let path = format!("/{}?policy", enc(bucket));
    let text = form.get("policy").cloned().unwrap_or_default();
    let result = if form.get("delete").is_some() {
        ctx.user
            .s3(Method::DELETE, &path, &[], Bytes::new())
            .await
            .map(|_| ())
    } else {
        ctx.user
            .s3(
                Method::PUT,
                &path,
                &[("content-type", "application/json".to_owned())],
                Bytes::from(text.clone()),
            )
            .await
            .map(|_| ())
    };
    match result {
        Ok(()) => page(ctx, bucket, None, None, true).await,
        Err(e) => page(ctx, bucket, Some(text), Some(e), false).await,
    }
}
