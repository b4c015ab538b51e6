//! The front door every connection goes through: assigns a request id, records metrics,
//! serves the Prometheus endpoint and the web console, and hands everything else to the S3,
//! KMS and CloudTrail APIs.

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use metrics_exporter_prometheus::PrometheusHandle;
use s3s::service::S3Service;
use s3s::{Body, HttpError};

use crate::idle_io::ConnectionActivity;

/// Prometheus scrapes `GET /metrics` unsigned; a signed request to the same path is S3's
/// (a bucket may be called `metrics`).
fn is_metrics_scrape(req: &Request<Incoming>) -> bool {
    req.method() == Method::GET
        && req.uri().path() == "/metrics"
        && !req.headers().contains_key(http::header::AUTHORIZATION)
        && !req
            .uri()
            .query()
            .is_some_and(|q| q.contains("X-Amz-Signature"))
}

/// This process's `x-amz-id-2` (S3's "host id"): random per process, so support can tell
/// which gateway answered.
fn host_id() -> &'static str {
    static HOST_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST_ID.get_or_init(|| {
        let a = uuid::Uuid::new_v4();
        let b = uuid::Uuid::new_v4();
        format!("{}{}", a.simple(), b.simple())
    })
}

#[derive(Clone)]
pub struct Front {
    pub s3: S3Service,
    pub metrics: PrometheusHandle,
    /// The KMS API, beside S3 on the same endpoint.
    pub apis: crate::json_api::JsonApis,
    /// The connection this copy serves (set per accepted connection).
    pub transport: Option<coffer_s3::Transport>,
    /// Tells the connection's idle timeout when requests are in flight.
    pub activity: Option<Arc<ConnectionActivity>>,
    /// The web console under `/console/` (`None`: not served).
    pub console: Option<Arc<coffer_console::Console>>,
}

impl Front {
    /// This service for one accepted connection.
    pub fn for_connection(
        &self,
        transport: coffer_s3::Transport,
        activity: Arc<ConnectionActivity>,
    ) -> Self {
        Self {
            transport: Some(transport),
            activity: Some(activity),
            ..self.clone()
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for Front {
    type Response = Response<Body>;
    type Error = HttpError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        if let Some(t) = self.transport {
            req.extensions_mut().insert(t);
        }
        if is_metrics_scrape(&req) {
            crate::process_metrics::record();
            let text = self.metrics.render();
            return Box::pin(async move {
                let mut resp = Response::new(Body::from(text));
                resp.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                Ok(resp)
            });
        }
        // HTTP/1.1 only: an HTTP/2 stream is reset on its own, cleanly.
        let http1 = req.version() < http::Version::HTTP_2;
        let (parts, body) = req.into_parts();
        let (tracked, unread) = crate::request_body::track(body);
        let req = http::Request::from_parts(parts, Body::http_body(tracked));
        if let (Some(console), Some(t)) = (&self.console, self.transport)
            && coffer_console::is_console_request(req.uri(), req.headers(), t.secure, t.loopback)
        {
            let console = console.clone();
            let api: Arc<dyn coffer_console::Api> = Arc::new(self.clone());
            let in_flight = self.activity.as_ref().map(|a| a.begin());
            return Box::pin(async move {
                let _in_flight = in_flight;
                let resp = console.serve(req, api, t.secure).await;
                metrics::counter!(
                    "coffer_console_requests_total",
                    "status" => resp.status().as_u16().to_string()
                )
                .increment(1);
                if http1 {
                    unread.drain();
                }
                Ok(resp)
            });
        }
        let front = self.clone();
        Box::pin(async move {
            let result = front.dispatch(req).await;
            if http1 {
                unread.drain();
            }
            result
        })
    }
}

/// The console's requests: signed as its user, served as a client's would be.
impl coffer_console::Api for Front {
    fn call(&self, req: Request<Body>) -> BoxFuture<'static, Response<Body>> {
        let front = self.clone();
        Box::pin(async move {
            match front.dispatch(req).await {
                Ok(resp) => resp,
                Err(_) => {
                    let mut resp = Response::new(Body::empty());
                    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    resp
                }
            }
        })
    }
}

impl Front {
    /// Serves one API request (S3, KMS, CloudTrail, admin) and records its metrics.
    fn dispatch(
        &self,
        mut req: Request<Body>,
    ) -> BoxFuture<'static, Result<Response<Body>, HttpError>> {
        let s3 = self.s3.clone();
        let apis = self.apis.clone();
        let method = req.method().clone();
        let request_id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
        req.extensions_mut().insert(s3s::ErrorIds {
            request_id: request_id.clone(),
            host_id: host_id().to_owned(),
        });
        let in_flight = self.activity.as_ref().map(|a| a.begin());
        Box::pin(async move {
            let _in_flight = in_flight;
            let started = Instant::now();
            use crate::json_api::JsonTarget;
            let result = match crate::json_api::json_target(&req) {
                Some(JsonTarget::Kms(op)) => Ok(apis.serve_kms(op, req, &request_id).await),
                Some(JsonTarget::CloudTrail(op)) => {
                    Ok(apis.serve_cloudtrail(op, req, &request_id).await)
                }
                None => s3.call(req).await,
            };
            let status = match &result {
                Ok(r) => r.status(),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let labels = [
                ("method", method.as_str().to_owned()),
                ("status", status.as_u16().to_string()),
            ];
            metrics::counter!("coffer_http_requests_total", &labels).increment(1);
            metrics::histogram!("coffer_http_request_duration_seconds", &labels)
                .record(started.elapsed().as_secs_f64());
            tracing::debug!(%method, status = status.as_u16(), request_id, "request");
            result.map(|mut resp| {
                if let Ok(v) = HeaderValue::from_str(&request_id) {
                    resp.headers_mut().insert("x-amz-request-id", v);
                }
                if let Ok(v) = HeaderValue::from_str(host_id()) {
                    resp.headers_mut().insert("x-amz-id-2", v);
                }
                // An error answer to a HEAD comes with an XML body. HTTP/1.1 drops it on
                // the wire, but over HTTP/2 its DATA frames break the stream
                // (PROTOCOL_ERROR), so clients saw a transport failure instead of the 404
                // or 403. The headers, Content-Length included, stay as they are.
                if method == Method::HEAD {
                    *resp.body_mut() = Body::empty();
                }
                resp
            })
        })
    }
}
