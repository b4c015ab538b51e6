//! Objects: browse a bucket by prefix a page at a time, each object's protection (SSE-S3,
//! SSE-KMS with its key and Bucket Key, SSE-C), size, ETag and date; change an object's
//! encryption.

use std::collections::HashMap;

use askama::Template;
use bytes::Bytes;
use http::{Method, Response};
use s3s::Body;

use super::buckets::mode_name;
use super::{Frame, api_error, render};
use crate::Ctx;
use crate::api::ApiError;
use crate::s3_xml::{self, ListObjects};
use crate::web::{self, enc, enc_key};

/// Objects per page (each is one HEAD, made concurrently).
const PAGE: usize = 100;

/// How an object is protected, from its HEAD.
pub struct Protection {
    pub mode: String,
    pub kms_key: String,
    pub bucket_key: bool,
}

pub struct Row {
    pub key: String,
    /// The key's last segment, shown under its prefix.
    pub name: String,
    pub size: String,
    pub etag: String,
    pub modified: String,
    pub protection: Result<Protection, ApiError>,
}

#[derive(Template)]
#[template(path = "objects.html")]
struct ObjectsPage<'a> {
    frame: Frame,
    bucket: &'a str,
    prefix: &'a str,
    /// (label, prefix) from the bucket's root down to this prefix.
    crumbs: Vec<(String, String)>,
    folders: Vec<(String, String)>,
    rows: Vec<Row>,
    next: Option<String>,
    /// A message after an upload or a change.
    done: Option<String>,
}

/// An object's protection as its HEAD tells it. A HEAD of an SSE-C object without its key
/// is refused with 400: that refusal is how S3 says the object is SSE-C.
pub async fn protection(ctx: &Ctx, bucket: &str, key: &str) -> Result<Protection, ApiError> {
    let path = format!("/{}/{}", enc(bucket), enc_key(key));
    match ctx.user.s3(Method::HEAD, &path, &[], Bytes::new()).await {
        Ok(a) => Ok(Protection {
            mode: mode_name(a.header("x-amz-server-side-encryption").unwrap_or_default()).into(),
            kms_key: a
                .header("x-amz-server-side-encryption-aws-kms-key-id")
                .unwrap_or_default()
                .to_owned(),
            bucket_key: a.header("x-amz-server-side-encryption-bucket-key-enabled") == Some("true"),
        }),
        Err(e) if e.status == 400 => Ok(Protection {
            mode: "SSE-C".into(),
            kms_key: String::new(),
            bucket_key: false,
        }),
        Err(e) => Err(e),
    }
}

fn crumbs(prefix: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut so_far = String::new();
    for part in prefix.split_inclusive('/') {
        so_far.push_str(part);
        out.push((part.to_owned(), so_far.clone()));
    }
    out
}

pub async fn list(ctx: &Ctx, bucket: &str, q: &HashMap<String, String>) -> Response<Body> {
    let prefix = q.get("prefix").map(String::as_str).unwrap_or_default();
    let mut path = format!(
        "/{}?list-type=2&delimiter=%2F&max-keys={PAGE}&prefix={}",
        enc(bucket),
        enc(prefix)
    );
    if let Some(t) = q.get("token").filter(|t| !t.is_empty()) {
        path.push_str(&format!("&continuation-token={}", enc(t)));
    }
    let listed = match ctx.user.s3(Method::GET, &path, &[], Bytes::new()).await {
        Ok(a) => match a.bytes().await {
            Ok(b) => s3_xml::parse::<ListObjects>(&b),
            Err(e) => return api_error(ctx, "buckets", bucket, &e),
        },
        Err(e) => return api_error(ctx, "buckets", bucket, &e),
    };
    let protections = futures::future::join_all(
        listed
            .contents
            .iter()
            .map(|o| protection(ctx, bucket, &o.key)),
    )
    .await;
    let rows = listed
        .contents
        .into_iter()
        .zip(protections)
        .map(|(o, protection)| Row {
            name: o.key.strip_prefix(prefix).unwrap_or(&o.key).to_owned(),
            key: o.key,
            size: web::size(o.size),
            etag: o.etag.trim_matches('"').to_owned(),
            modified: o.last_modified,
            protection,
        })
        .collect();
    let folders = listed
        .common_prefixes
        .into_iter()
        .map(|p| {
            (
                p.prefix
                    .strip_prefix(prefix)
                    .unwrap_or(&p.prefix)
                    .to_owned(),
                p.prefix,
            )
        })
        .collect();
    render(&ObjectsPage {
        frame: Frame::of(ctx, "buckets"),
        bucket,
        prefix,
        crumbs: crumbs(prefix),
        folders,
        rows,
        next: listed
            .next_continuation_token
            .filter(|_| listed.is_truncated),
        done: q.get("done").cloned(),
    })
}

/// The key a KMS key id or alias names, as an ARN (UpdateObjectEncryption takes only ARNs).
async fn key_arn(ctx: &Ctx, key: &str) -> Result<String, ApiError> {
    let described = ctx
        .user
        .kms("DescribeKey", serde_json::json!({ "KeyId": key }))
        .await?;
    Ok(described["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap_or(key)
        .to_owned())
}

/// Moves an object under another protection: to SSE-KMS by UpdateObjectEncryption (the
/// data key is re-sealed, no data rewritten), to SSE-S3 by copying the object onto itself.
pub async fn change_encryption(
    ctx: &Ctx,
    bucket: &str,
    form: &HashMap<String, String>,
) -> Response<Body> {
    let key = form.get("key").cloned().unwrap_or_default();
    let path = format!("/{}/{}", enc(bucket), enc_key(&key));
    let result = match form.get("mode").map(String::as_str) {
        Some("SSE-KMS") => {
            let kms_key = form.get("kms_key").map(|k| k.trim()).unwrap_or_default();
            let bucket_key = form.contains_key("bucket_key");
            match key_arn(ctx, kms_key).await {
                Ok(arn) => {
                    let body = format!(
                        "<ObjectEncryption xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><SSE-KMS><KMSKeyArn>{}</KMSKeyArn><BucketKeyEnabled>{bucket_key}</BucketKeyEnabled></SSE-KMS></ObjectEncryption>",
                        quick_xml::escape::escape(&arn)
                    );
                    ctx.user
                        .s3(
                            Method::PUT,
                            &format!("{path}?encryption"),
                            &[("content-type", "application/xml".to_owned())],
                            Bytes::from(body),
                        )
                        .await
                        .map(|_| ())
                }
                Err(e) => Err(e),
            }
        }
        Some("SSE-S3") => ctx
            .user
            .s3(
                Method::PUT,
                &path,
                &[
                    (
                        "x-amz-copy-source",
                        format!("/{}/{}", enc(bucket), enc_key(&key)),
                    ),
                    ("x-amz-metadata-directive", "COPY".to_owned()),
                    ("x-amz-server-side-encryption", "AES256".to_owned()),
                ],
                Bytes::new(),
            )
            .await
            .map(|_| ()),
        _ => Err(ApiError {
            status: 400,
            code: "InvalidRequest".into(),
            message: "Choose SSE-S3 or SSE-KMS.".into(),
        }),
    };
    match result {
        Ok(()) => web::redirect(&format!(
            "/console/objects/{}?prefix={}&done={}",
            enc(bucket),
            enc(form.get("prefix").map(String::as_str).unwrap_or_default()),
            enc(&format!("Changed the encryption of {key}."))
        )),
        Err(e) => api_error(ctx, "buckets", "Changing an object's encryption", &e),
    }
}
