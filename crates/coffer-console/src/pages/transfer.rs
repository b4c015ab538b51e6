//! Uploads and downloads through the browser. An upload streams from the browser's
//! multipart form into PutObject (or, past one part, a multipart upload), a part at a time
//! in memory; a download streams GetObject's body back. Neither touches the disk.

use std::collections::HashMap;

use base64::Engine;
use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use md5::Digest;
use s3s::Body;

use super::api_error;
use crate::Ctx;
use crate::api::ApiError;
use crate::web::{self, enc, enc_key};

/// An upload is sent whole below this size, and in parts of this size above it.
const PART: usize = 8 * 1024 * 1024;
/// A form field before the file (a key, a mode) is at most this long.
const MAX_FIELD: usize = 4096;

fn refused(message: &str) -> ApiError {
    ApiError {
        status: 400,
        code: "InvalidRequest".into(),
        message: message.into(),
    }
}

/// The SSE-C headers for a base64 key the user typed (S3 checks its length and MD5).
fn sse_c_headers(key_b64: &str) -> Vec<(&'static str, String)> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_b64.trim())
        .unwrap_or_default();
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&key));
    vec![
        (
            "x-amz-server-side-encryption-customer-algorithm",
            "AES256".to_owned(),
        ),
        (
            "x-amz-server-side-encryption-customer-key",
            key_b64.trim().to_owned(),
        ),
        ("x-amz-server-side-encryption-customer-key-MD5", md5),
    ]
}

/// The encryption headers of a write, from the upload form's choices.
fn write_headers(fields: &HashMap<String, String>) -> Vec<(&'static str, String)> {
    let field = |k: &str| fields.get(k).map(|v| v.trim()).unwrap_or_default();
    match field("mode") {
        "SSE-S3" => vec![("x-amz-server-side-encryption", "AES256".to_owned())],
        "SSE-KMS" => {
            let mut h = vec![("x-amz-server-side-encryption", "aws:kms".to_owned())];
            if !field("kms_key").is_empty() {
                h.push((
                    "x-amz-server-side-encryption-aws-kms-key-id",
                    field("kms_key").to_owned(),
                ));
            }
            if fields.contains_key("bucket_key") {
                h.push((
                    "x-amz-server-side-encryption-bucket-key-enabled",
                    "true".to_owned(),
                ));
            }
            h
        }
        "SSE-C" => sse_c_headers(field("sse_c_key")),
        _ => Vec::new(),
    }
}

/// Reads a small field whole (bounded).
async fn small_field(field: &mut multer::Field<'_>) -> Result<String, ApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| refused(&format!("the form is malformed: {e}")))?
    {
        out.extend_from_slice(&chunk);
        if out.len() > MAX_FIELD {
            return Err(refused("a form field is too long"));
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Fills `buf` from the field up to `PART` bytes; false at the field's end.
async fn fill(field: &mut multer::Field<'_>, buf: &mut BytesMut) -> Result<bool, ApiError> {
    while buf.len() < PART {
        match field
            .chunk()
            .await
            .map_err(|e| refused(&format!("the upload was cut short: {e}")))?
        {
            Some(c) => buf.extend_from_slice(&c),
            None => return Ok(false),
        }
    }
    Ok(true)
}

pub async fn upload(ctx: &Ctx, bucket: &str, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let boundary = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok());
    let Some(boundary) = boundary else {
        return web::text(StatusCode::BAD_REQUEST, "Expected a multipart form.");
    };
    let stream = http_body_util::BodyExt::into_data_stream(body);
    let mut form = multer::Multipart::new(stream, boundary);
    let mut fields = HashMap::new();
    let mut first = true;
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return api_error(ctx, "buckets", "Upload", &refused("no file was sent")),
            Err(e) => {
                return api_error(ctx, "buckets", "Upload", &refused(&e.to_string()));
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        if first {
            // The token comes first, so nothing of a forged upload is read or stored.
            first = false;
            let token = match small_field(&mut field).await {
                Ok(t) if name == "csrf" => t,
                _ => String::new(),
            };
            if !ctx.session.csrf_matches(&token) {
                return web::text(
                    StatusCode::FORBIDDEN,
                    "This form is missing its CSRF token or the token is not this session's: \
                     reload the page and try again.",
                );
            }
            continue;
        }
        if name != "file" {
            match small_field(&mut field).await {
                Ok(v) => {
                    fields.insert(name, v);
                }
                Err(e) => return api_error(ctx, "buckets", "Upload", &e),
            }
            if fields.len() > 32 {
                return api_error(ctx, "buckets", "Upload", &refused("too many form fields"));
            }
            continue;
        }
        let prefix = fields.get("prefix").cloned().unwrap_or_default();
        let key = match fields
            .get("key")
            .map(|k| k.trim())
            .filter(|k| !k.is_empty())
        {
            Some(k) => k.to_owned(),
            None => format!("{prefix}{}", field.file_name().unwrap_or("upload")),
        };
        let content_type = field
            .content_type()
            .map(|m| m.to_string())
            .unwrap_or_else(|| "application/octet-stream".into());
        let headers = write_headers(&fields);
        return match put_streamed(ctx, bucket, &key, &content_type, headers, &mut field).await {
            Ok(()) => web::redirect(&format!(
                "/console/objects/{}?prefix={}&done={}",
                enc(bucket),
                enc(&prefix),
                enc(&format!("Uploaded {key}."))
            )),
            Err(e) => api_error(ctx, "buckets", "Upload", &e),
        };
    }
}

/// Sends one file: whole if it fits in one part, else as a multipart upload.
async fn put_streamed(
    ctx: &Ctx,
    bucket: &str,
    key: &str,
    content_type: &str,
    headers: Vec<(&'static str, String)>,
    field: &mut multer::Field<'_>,
) -> Result<(), ApiError> {
    let path = format!("/{}/{}", enc(bucket), enc_key(key));
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let more = fill(field, &mut buf).await?;
    let mut all = headers.clone();
    all.push(("content-type", content_type.to_owned()));
    if !more {
        ctx.user.s3(Method::PUT, &path, &all, buf.freeze()).await?;
        return Ok(());
    }
    let created = ctx
        .user
        .s3(Method::POST, &format!("{path}?uploads"), &all, Bytes::new())
        .await?
        .bytes()
        .await?;
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct Created {
        upload_id: String,
    }
    let upload_id = crate::s3_xml::parse::<Created>(&created).upload_id;
    // Only SSE-C is repeated on each part; the rest was fixed at creation.
    let part_headers: Vec<(&str, String)> = headers
        .iter()
        .filter(|(k, _)| k.contains("customer"))
        .cloned()
        .collect();
    let result = async {
        let mut etags = Vec::new();
        let mut more = true;
        while more || !buf.is_empty() {
            let part = buf.split().freeze();
            let number = etags.len() + 1;
            let answer = ctx
                .user
                .s3(
                    Method::PUT,
                    &format!("{path}?partNumber={number}&uploadId={}", enc(&upload_id)),
                    &part_headers,
                    part,
                )
                .await?;
            etags.push(answer.header("etag").unwrap_or_default().to_owned());
            if more {
                more = fill(field, &mut buf).await?;
            }
        }
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (i, etag) in etags.iter().enumerate() {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                i + 1,
                quick_xml::escape::escape(etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        ctx.user
            .s3(
                Method::POST,
                &format!("{path}?uploadId={}", enc(&upload_id)),
                &part_headers,
                Bytes::from(xml),
            )
            .await
            .map(|_| ())
    }
    .await;
    if result.is_err() {
        let _ = ctx
            .user
            .s3(
                Method::DELETE,
                &format!("{path}?uploadId={}", enc(&upload_id)),
                &[],
                Bytes::new(),
            )
            .await;
    }
    result
}

/// Streams an object to the browser as an attachment; an SSE-C object's key comes in a
/// posted form (never in a URL).
pub async fn download(ctx: &Ctx, bucket: &str, args: &HashMap<String, String>) -> Response<Body> {
    let key = args.get("key").cloned().unwrap_or_default();
    let headers = match args.get("sse_c_key").filter(|k| !k.trim().is_empty()) {
        Some(k) => sse_c_headers(k),
        None => Vec::new(),
    };
    let path = format!("/{}/{}", enc(bucket), enc_key(&key));
    let answer = match ctx
        .user
        .s3(Method::GET, &path, &headers, Bytes::new())
        .await
    {
        Ok(a) => a,
        Err(e) => return api_error(ctx, "buckets", &format!("Downloading {key}"), &e),
    };
    let mut resp = Response::new(answer.body);
    for name in [
        http::header::CONTENT_TYPE,
        http::header::CONTENT_LENGTH,
        http::header::ETAG,
    ] {
        if let Some(v) = answer.headers.get(&name) {
            resp.headers_mut().insert(name, v.clone());
        }
    }
    let file = key.rsplit('/').next().unwrap_or("download");
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename*=UTF-8''{}",
        enc(if file.is_empty() { "download" } else { file })
    )) {
        resp.headers_mut()
            .insert(http::header::CONTENT_DISPOSITION, v);
    }
    // An object's bytes are a user's data like any page: never cached, never sniffed.
    crate::web::harden(&mut resp);
    resp
}
