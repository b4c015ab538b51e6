//! The console's only way to read or change anything: requests to the server's own S3, KMS,
//! CloudTrail and admin APIs, signed with the signed-in user's keys and served in-process
//! by the same front door as a client's. So the console sees and does exactly what the
//! user's keys allow (bucket policies, key policies, ownership), and the audit trail names
//! the user for every KMS call it makes.

use std::sync::Arc;
use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;
use s3s::Body;
use serde_json::Value;
use zeroize::Zeroizing;

/// The server's front door, as the console calls it: one request in, its answer out.
pub trait Api: Send + Sync {
    fn call(&self, req: Request<Body>) -> BoxFuture<'static, Response<Body>>;
}

/// Who may sign in: the configured users, by access key.
pub trait Directory: Send + Sync {
    fn lookup(&self, access_key: &str) -> Option<Identity>;
}

/// A configured user, as the console needs one.
pub struct Identity {
    pub name: String,
    pub secret: Zeroizing<String>,
}

/// An API's refusal: AWS's status, code and message, shown to the user as the API gave them.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl ApiError {
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: 500,
            code: "InternalError".into(),
            message: message.into(),
        }
    }
}

/// The largest API answer the console reads whole (listings, policies, audit pages).
const MAX_ANSWER: usize = 16 * 1024 * 1024;
/// How internal requests name themselves in the audit trail's `userAgent`.
pub const USER_AGENT: &str = "coffer-console/0.1";
/// Internal requests are path-style, whatever host the browser used.
const HOST: &str = "127.0.0.1";

/// A client of the server's APIs acting as one signed-in user.
pub struct AsUser {
    api: Arc<dyn Api>,
    access_key: String,
    secret: Zeroizing<String>,
    region: String,
    /// The browser's connection (its address, whether TLS): the APIs judge the console's
    /// requests by the connection they came in on (SSE-C needs TLS, audit records the IP).
    extensions: http::Extensions,
}

/// An S3 answer the console reads: status, headers and the body (whole or streaming).
pub struct S3Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Body,
}

impl S3Answer {
    pub async fn bytes(self) -> Result<Bytes, ApiError> {
        read_limited(self.body).await
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn read_limited(body: Body) -> Result<Bytes, ApiError> {
    http_body_util::Limited::new(body, MAX_ANSWER)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| ApiError::internal(format!("reading an answer: {e}")))
}

/// S3's XML error body: `<Error><Code>…</Code><Message>…</Message></Error>`.
fn s3_error(status: u16, body: &[u8]) -> ApiError {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct Error {
        code: String,
        message: String,
    }
    let e: Error = quick_xml::de::from_str(&String::from_utf8_lossy(body)).unwrap_or_default();
    ApiError {
        status,
        code: if e.code.is_empty() {
            status_code_name(status)
        } else {
            e.code
        },
        message: e.message,
    }
}

/// A HEAD's error has no body: name it as S3's SDKs do.
fn status_code_name(status: u16) -> String {
    match status {
        400 => "BadRequest",
        403 => "Forbidden",
        404 => "NotFound",
        _ => "Error",
    }
    .into()
}

impl AsUser {
    pub fn new(
        api: Arc<dyn Api>,
        access_key: String,
        secret: Zeroizing<String>,
        region: String,
        extensions: http::Extensions,
    ) -> Self {
        Self {
            api,
            access_key,
            secret,
            region,
            extensions,
        }
    }

    /// Signs `req` for `service`, its payload whole (the console holds every body it sends:
    /// an upload goes as parts of a bounded size).
    fn sign(&self, req: &mut Request<Body>, service: &str, payload: &[u8]) -> Result<(), ApiError> {
        let identity = aws_credential_types::Credentials::new(
            self.access_key.clone(),
            self.secret.as_str().to_owned(),
            None,
            None,
            "coffer-console",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| ApiError::internal(e.to_string()))?
            .into();
        let hash = hex::encode(ring::digest::digest(&ring::digest::SHA256, payload));
        if service == "s3" {
            req.headers_mut().insert(
                "x-amz-content-sha256",
                HeaderValue::from_str(&hash).map_err(|e| ApiError::internal(e.to_string()))?,
            );
        }
        let uri = req.uri().to_string();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
            .collect();
        let signable = SignableRequest::new(
            req.method().as_str(),
            &uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Precomputed(hash),
        )
        .map_err(|e| ApiError::internal(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| ApiError::internal(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }

    fn request(&self, method: Method, path_and_query: &str, body: Body) -> Request<Body> {
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = path_and_query
            .parse()
            .unwrap_or_else(|_| "/".parse().unwrap());
        *req.extensions_mut() = self.extensions.clone();
        let h = req.headers_mut();
        h.insert(http::header::HOST, HeaderValue::from_static(HOST));
        h.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(USER_AGENT),
        );
        req
    }

    /// An S3 request whose body is small and signed whole; an error status is an `Err`.
    pub async fn s3(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<S3Answer, ApiError> {
        let mut req = self.request(method, path_and_query, Body::from(body.clone()));
        req.headers_mut()
            .insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                req.headers_mut().insert(k, v);
            }
        }
        self.sign(&mut req, "s3", &body)?;
        self.send_s3(req).await
    }

    async fn send_s3(&self, req: Request<Body>) -> Result<S3Answer, ApiError> {
        let resp = self.api.call(req).await;
        let (parts, body) = resp.into_parts();
        let status = parts.status.as_u16();
        if status >= 300 {
            let bytes = read_limited(body).await.unwrap_or_default();
            return Err(s3_error(status, &bytes));
        }
        Ok(S3Answer {
            status,
            headers: parts.headers,
            body,
        })
    }

    /// One JSON API call (`KMS`: `TrentService.<op>`; CloudTrail's LookupEvents).
    async fn json(&self, service: &str, target: &str, body: &Value) -> Result<Value, ApiError> {
        let bytes = Bytes::from(body.to_string());
        let mut req = self.request(Method::POST, "/", Body::from(bytes.clone()));
        let h = req.headers_mut();
        h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        h.insert(
            "x-amz-target",
            HeaderValue::from_str(target).map_err(|e| ApiError::internal(e.to_string()))?,
        );
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        self.sign(&mut req, service, &bytes)?;
        let resp = self.api.call(req).await;
        let status = resp.status().as_u16();
        let bytes = read_limited(resp.into_body()).await?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status >= 300 {
            let code = value["__type"].as_str().unwrap_or("Error");
            return Err(ApiError {
                status,
                code: code.rsplit('#').next().unwrap_or(code).to_owned(),
                message: value["message"]
                    .as_str()
                    .or(value["Message"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        Ok(value)
    }

    /// A KMS API call, e.g. `kms("DescribeKey", json!({"KeyId": id}))`.
    pub async fn kms(&self, op: &str, body: Value) -> Result<Value, ApiError> {
        self.json("kms", &format!("TrentService.{op}"), &body).await
    }

    /// CloudTrail's LookupEvents over the audit trail.
    pub async fn lookup_events(&self, body: Value) -> Result<Value, ApiError> {
        self.json(
            "cloudtrail",
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
            &body,
        )
        .await
    }

    /// One of Coffer's admin operations (`POST /` with `x-coffer-admin`), for admins only.
    pub async fn admin(&self, op: &str, args: Value) -> Result<Value, ApiError> {
        let body = args.to_string();
        let answer = self
            .s3(
                Method::POST,
                "/",
                &[
                    ("x-coffer-admin", op.to_owned()),
                    ("content-type", "application/json".to_owned()),
                ],
                Bytes::from(body),
            )
            .await?;
        let bytes = answer.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(e.to_string()))
    }
}
