//! What the integration tests of the trail share.

use coffer_audit::{AuditEvent, Identity, KMS_SOURCE, Origin};
use serde_json::Value;

/// A Decrypt that S3 made for `user`, under request id `request_id`.
pub fn decrypt_by(user: &str, request_id: String) -> AuditEvent {
    AuditEvent {
        event_source: KMS_SOURCE,
        event_name: "Decrypt".into(),
        identity: Some(Identity {
            arn: format!("arn:aws:iam::000000000000:user/{user}"),
            user_name: user.to_owned(),
            access_key_id: None,
        }),
        origin: Origin::Service("s3.amazonaws.com".into()),
        request_parameters: Value::Null,
        response_elements: Value::Null,
        error: None,
        read_only: true,
        resources: vec![],
        request_id,
        data_event: false,
        service_event_details: None,
        additional_event_data: None,
    }
}
