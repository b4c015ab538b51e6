//! Optional S3 data events in the audit trail (`audit_s3_data_events`): a PutObject or
//! GetObject record, with `additionalEventData.SSEApplied` telling which encryption a write
//! got and whether it came from the request or the bucket's default (SPEC.md §4.1).
//! Recorded before the response, like every audit record.

use std::sync::Arc;

use coffer_audit::{AuditEvent, AuditLog, Identity, Origin, S3_SOURCE};
use serde_json::{Value, json};

use crate::service::CofferS3;
use crate::sse::encryption::WriteMode;

/// Where a request came from, taken before its input is consumed.
pub(crate) struct RequestOrigin {
    source_ip: String,
    user_agent: String,
    access_key: Option<String>,
}

/// `SSEApplied` for a write: `SSE_S3`/`SSE_KMS`/`SSE_C` when the request asked for it,
/// `Default_SSE_S3`/`Default_SSE_KMS` when the bucket's default decided.
pub(crate) fn sse_applied(mode: &WriteMode, from_request: bool) -> &'static str {
    match (mode, from_request) {
        (WriteMode::Customer(_), _) => "SSE_C",
        (WriteMode::Kms(_), true) => "SSE_KMS",
        (WriteMode::Kms(_), false) => "Default_SSE_KMS",
        (WriteMode::SseS3, true) => "SSE_S3",
        (WriteMode::SseS3, false) => "Default_SSE_S3",
    }
}

impl CofferS3 {
    /// The same service recording S3 data events in `audit`.
    pub fn with_data_events(mut self, audit: Arc<AuditLog>) -> Self {
        self.data_events = Some(audit);
        self
    }

    pub(crate) fn request_origin<T>(&self, req: &s3s::S3Request<T>) -> Option<RequestOrigin> {
        self.data_events.as_ref()?;
        let (source_ip, user_agent) = crate::Transport::client_of(&req.extensions, &req.headers);
        Some(RequestOrigin {
            source_ip,
            user_agent,
            access_key: req.credentials.as_ref().map(|c| c.access_key.clone()),
        })
    }

    /// Records a data event when they are enabled; a record that cannot be written fails
    /// the request.
    pub(crate) async fn data_event(
        &self,
        origin: Option<RequestOrigin>,
        user: &crate::User,
        name: &str,
        bucket: &str,
        key: &str,
        sse_applied: Option<&str>,
    ) -> s3s::S3Result<()> {
        let (Some(log), Some(origin)) = (self.data_events.as_ref(), origin) else {
            return Ok(());
        };
        let event = AuditEvent {
            event_source: S3_SOURCE,
            event_name: name.to_owned(),
            identity: Some(Identity {
                arn: self.user_arn(user),
                user_name: user.name.clone(),
                access_key_id: origin.access_key,
            }),
            origin: Origin::Client {
                source_ip: origin.source_ip,
                user_agent: origin.user_agent,
            },
            request_parameters: json!({ "bucketName": bucket, "key": key }),
            response_elements: Value::Null,
            error: None,
            read_only: name.starts_with("Get"),
            resources: vec![
                format!("arn:aws:s3:::{bucket}/{key}"),
                format!("arn:aws:s3:::{bucket}"),
            ],
            request_id: uuid::Uuid::new_v4().to_string(),
            data_event: true,
            service_event_details: None,
            additional_event_data: sse_applied.map(|s| json!({ "SSEApplied": s })),
        };
        // The record waits for an fsync: awaited, so the worker serves other requests
        // meanwhile.
        log.record_queued(&event)
            .map_err(crate::error::internal)?
            .await
            .map_err(crate::error::internal)
    }
}
