//! The AWS JSON APIs served beside S3 on the same endpoint: `POST /` with
//! `X-Amz-Target: TrentService.<Op>` is the KMS, and `...CloudTrail_20131101.<Op>` is
//! CloudTrail's LookupEvents over the audit trail. Each request is verified (SigV4, scope
//! `kms` or `cloudtrail`) here, since `s3s` knows only S3's scope.

use std::sync::Arc;

use bytes::Bytes;
use coffer_kms::{BuiltinKms, Caller, ClientInfo};
use coffer_s3::UserDirectory;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use s3s::Body;

use crate::sigv4::{self, JsonError};

const KMS_TARGET_PREFIX: &str = "TrentService.";
const CLOUDTRAIL_TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";
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

/// Which JSON API a request is for.
pub enum JsonTarget {
    Kms(String),
    CloudTrail(String),
}

/// The JSON API operation a request is for, if it is one (`POST /` with `X-Amz-Target`).
pub fn json_target<B>(req: &Request<B>) -> Option<JsonTarget> {
    if req.method() != Method::POST || req.uri().path() != "/" {
        return None;
    }
    let target = req.headers().get("x-amz-target")?.to_str().ok()?;
    if let Some(op) = target.strip_prefix(KMS_TARGET_PREFIX) {
        Some(JsonTarget::Kms(op.to_owned()))
    } else {
        target
            .strip_prefix(CLOUDTRAIL_TARGET_PREFIX)
            .map(|op| JsonTarget::CloudTrail(op.to_owned()))
    }
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

async fn read_body(body: Body) -> Result<Bytes, JsonError> {
    Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|_| JsonError {
            code: "ValidationException",
            status: 400,
            message: "The request body is too large or was cut short".into(),
        })
}

impl JsonApis {
    /// Reads a request's body and verifies its signature for `scope`.
    async fn authenticate(
        &self,
        req: Request<Body>,
        scope: &str,
    ) -> Result<(http::request::Parts, Bytes, coffer_s3::User), JsonError> {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let user = sigv4::verify(&parts, &body, &self.users, &self.region, scope)?;
        Ok((parts, body, user))
    }

    /// Serves CloudTrail's LookupEvents over the audit trail, to admin users.
    pub async fn serve_cloudtrail(
        &self,
        op: String,
        req: Request<Body>,
        request_id: &str,
    ) -> Response<Body> {
        let (_, body, user) = match self.authenticate(req, "cloudtrail").await {
            Ok(v) => v,
            Err(e) => return error(&e, request_id),
        };
        let deny = |code: &'static str, message: String| {
            error(
                &JsonError {
                    code,
                    status: 400,
                    message,
                },
                request_id,
            )
        };
        if op != "LookupEvents" {
            return deny(
                "UnknownOperationException",
                format!("{op} is not supported by this server"),
            );
        }
        if !user.admin {
            return deny(
                "AccessDeniedException",
                format!(
                    "User: arn:aws:iam::{}:user/{} is not authorized to perform: cloudtrail:LookupEvents",
                    self.account_id, user.name
                ),
            );
        }
        let Some(trail) = self.kms.audit().cloned() else {
            return deny(
                "TrailNotFoundException",
                "The audit trail is disabled on this server".into(),
            );
        };
        match tokio::task::spawn_blocking(move || coffer_audit::lookup_events(&trail, &body)).await
        {
            Ok(Ok(v)) => respond(200, v, request_id),
            Ok(Err((code, message))) => deny(code, message),
            Err(_) => error(
                &JsonError {
                    code: "InternalServerError",
                    status: 500,
                    message: "An internal error occurred.".into(),
                },
                request_id,
            ),
        }
    }

    /// Serves one KMS request.
    pub async fn serve_kms(
        &self,
        op: String,
        req: Request<Body>,
        request_id: &str,
    ) -> Response<Body> {
        let (parts, body, user) = match self.authenticate(req, "kms").await {
            Ok(v) => v,
            Err(e) => return error(&e, request_id),
        };
        let (source_ip, user_agent) =
            coffer_s3::Transport::client_of(&parts.extensions, &parts.headers);
        let caller = Caller {
            arn: format!("arn:aws:iam::{}:user/{}", self.account_id, user.name),
            user_name: user.name.clone(),
            admin: user.admin,
            via_service: None,
            client: Some(ClientInfo {
                source_ip,
                user_agent,
                access_key_id: user.access_key.clone(),
            }),
            key_read: None,
        };
        let kms = self.kms.clone();
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            coffer_kms::api::handle(&kms, &caller, &op, &body).map_err(|e| (op, e))
        })
        .await;
        metrics::histogram!("coffer_kms_request_duration_seconds", "via" => "api")
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
