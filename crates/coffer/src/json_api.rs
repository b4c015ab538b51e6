//! The AWS JSON APIs served beside S3 on the same endpoint: `POST /` with
//! `X-Amz-Target: TrentService.<Op>` is the KMS. Each request is verified (SigV4, scope
//! `kms`) here, since `s3s` knows only S3's scope, then handed to `coffer-kms`.

use std::sync::Arc;

use bytes::Bytes;
use coffer_kms::{BuiltinKms, Caller};
use coffer_s3::UserDirectory;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use s3s::Body;

use crate::sigv4::{self, JsonError};

const KMS_TARGET_PREFIX: &str = "TrentService.";
/// Far above any KMS request (a 4 KiB plaintext, a 32 KiB policy), far below harm.
const MAX_BODY: usize = 1024 * 1024;

/// What the JSON APIs need.
#[derive(Clone)]
pub struct JsonApis {
    pub kms: Arc<BuiltinKms>,
    pub users: Arc<UserDirectory>,
    pub region: String,
    pub account_id: String,
}

/// The KMS operation a request is for, if it is a KMS request.
pub fn kms_operation(req: &Request<Incoming>) -> Option<String> {
    if req.method() != Method::POST || req.uri().path() != "/" {
        return None;
    }
    req.headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(KMS_TARGET_PREFIX))
        .map(str::to_owned)
}

fn respond(status: u16, body: serde_json::Value, request_id: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

fn error(e: &JsonError, request_id: &str) -> Response<Body> {
    respond(
        e.status,
        serde_json::json!({ "__type": e.code, "message": e.message }),
        request_id,
    )
}

impl JsonApis {
    /// Serves one KMS request.
    pub async fn serve_kms(
        &self,
        op: String,
        req: Request<Incoming>,
        request_id: &str,
    ) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body: Bytes = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return error(
                    &JsonError {
                        code: "ValidationException",
                        status: 400,
                        message: "The request body is too large or was cut short".into(),
                    },
                    request_id,
                );
            }
        };
        let user = match sigv4::verify(&parts, &body, &self.users, &self.region, "kms") {
            Ok(u) => u,
            Err(e) => return error(&e, request_id),
        };
        let caller = Caller {
            arn: format!("arn:aws:iam::{}:user/{}", self.account_id, user.name),
            user_name: user.name.clone(),
            admin: user.admin,
            via_service: None,
        };
        let kms = self.kms.clone();
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            coffer_kms::api::handle(&kms, &caller, &op, &body).map_err(|e| (op, e))
        })
        .await;
        metrics::histogram!("coffer_kms_request_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(Ok(value)) => respond(200, value, request_id),
            Ok(Err((_, e))) => {
                metrics::counter!("coffer_kms_errors_total", "code" => e.code).increment(1);
                respond(e.status, coffer_kms::api::error_body(&e), request_id)
            }
            Err(join) => {
                tracing::error!(error = %join, "KMS request task failed");
                error(
                    &JsonError {
                        code: "KMSInternalException",
                        status: 500,
                        message: "An internal error occurred.".into(),
                    },
                    request_id,
                )
            }
        }
    }
}
