//! A record as the writer and the index take it: its canonical bytes (what the chain's MAC
//! covers and the journal's line begins with), its time and its lookup terms, worked out
//! once on the caller's thread.
//!
//! An event's record is written straight from its fields, members already in canonical
//! (byte) order, instead of being built as a `serde_json::Value` tree that was then sized,
//! walked and sorted for the MAC, walked again for the terms and freed on another thread:
//! together about a sixth of the server's CPU spent on an SSE-KMS GET's record. The tree
//! remains for records that arrive as values (replayed from the KMS's outbox) and for the
//! rare oversized record, which [`crate::event::bound_record`] trims; both give the same
//! bytes for the same record (tests below hold every shape of event to it).

use std::time::Instant;

use serde_json::Value;

use crate::chain::{CHAIN_MEMBER, canonical};
use crate::event::{AuditEvent, MAX_RECORD_BYTES, Origin, bound_record, resource_type};
use crate::index::{event_terms, terms};

/// A record ready to be linked: everything the writer and the index need, no tree.
pub(crate) struct Rendered {
    /// The record without its link, serialised canonically.
    pub canonical: Vec<u8>,
    /// Its `eventTime`.
    pub time: String,
    /// What the index finds it by.
    pub terms: Vec<String>,
    /// When it was made: how long its appender waits for the disk is measured from here.
    pub made: Instant,
}

impl Rendered {
    /// A record that arrives as a value. A link it carries is dropped: only the writer links,
    /// and a link left in the record would be under the MAC.
    pub fn from_value(mut record: Value) -> Self {
        if let Some(members) = record.as_object_mut() {
            members.remove(CHAIN_MEMBER);
        }
        let mut bytes = Vec::with_capacity(1024);
        canonical(&record, &mut bytes);
        Self {
            canonical: bytes,
            time: record["eventTime"].as_str().unwrap_or_default().to_owned(),
            terms: terms(&record),
            made: Instant::now(),
        }
    }

    /// `event`'s record, stamped `event_time` and named `event_id`: written directly, or
    /// through [`AuditEvent::to_record_with_id`] and [`bound_record`] when it is too large.
    pub fn of_event(
        event: &AuditEvent,
        account_id: &str,
        region: &str,
        event_time: &str,
        event_id: &str,
    ) -> Self {
        // Room for a record and the link the writer appends to it: an SSE-KMS call's line is
        // 1,015-1,087 bytes with its link, just past 1 KiB, where the buffer grew again.
        let mut bytes = Vec::with_capacity(2048);
        write_canonical(event, account_id, region, event_time, event_id, &mut bytes);
        if bytes.len() > MAX_RECORD_BYTES {
            let mut record = event.to_record_with_id(account_id, region, event_time, event_id);
            bound_record(&mut record);
            return Self::from_value(record);
        }
        Self {
            canonical: bytes,
            time: event_time.to_owned(),
            terms: event_terms(event, event_id),
            made: Instant::now(),
        }
    }
}

/// Writes `"name":` (after a comma unless it opens the object).
fn member(out: &mut Vec<u8>, name: &str) {
    if out.last() != Some(&b'{') {
        out.push(b',');
    }
    string(out, name);
    out.push(b':');
}

/// A JSON string, escaped as serde_json escapes it (as [`canonical`] writes strings).
fn string(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// The canonical bytes of [`AuditEvent::to_record_with_id`]'s record, written member by
/// member in byte order of their names.
fn write_canonical(
    event: &AuditEvent,
    account_id: &str,
    region: &str,
    event_time: &str,
    event_id: &str,
    out: &mut Vec<u8>,
) {
    let (source_ip, user_agent, invoked_by) = event.origin_fields();
    let internal = matches!(event.origin, Origin::Internal);
    out.push(b'{');
    if let Some(d) = &event.additional_event_data {
        member(out, "additionalEventData");
        canonical(d, out);
    }
    member(out, "awsRegion");
    string(out, region);
    if let Some((code, message)) = &event.error {
        member(out, "errorCode");
        string(out, code);
        member(out, "errorMessage");
        string(out, message);
    }
    member(out, "eventCategory");
    string(
        out,
        if event.data_event {
            "Data"
        } else {
            "Management"
        },
    );
    member(out, "eventID");
    string(out, event_id);
    member(out, "eventName");
    string(out, &event.event_name);
    member(out, "eventSource");
    string(out, event.event_source);
    member(out, "eventTime");
    string(out, event_time);
    member(out, "eventType");
    string(
        out,
        if internal {
            "AwsServiceEvent"
        } else {
            "AwsApiCall"
        },
    );
    member(out, "eventVersion");
    string(out, "1.11");
    member(out, "managementEvent");
    boolean(out, !event.data_event);
    member(out, "readOnly");
    boolean(out, event.read_only);
    member(out, "recipientAccountId");
    string(out, account_id);
    member(out, "requestID");
    string(out, &event.request_id);
    member(out, "requestParameters");
    canonical(&event.request_parameters, out);
    member(out, "resources");
    out.push(b'[');
    for (i, arn) in event.resources.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        member(out, "ARN");
        string(out, arn);
        member(out, "accountId");
        string(out, account_id);
        member(out, "type");
        string(out, resource_type(arn));
        out.push(b'}');
    }
    out.push(b']');
    member(out, "responseElements");
    canonical(&event.response_elements, out);
    if let Some(d) = &event.service_event_details {
        member(out, "serviceEventDetails");
        canonical(d, out);
    }
    member(out, "sourceIPAddress");
    string(out, source_ip);
    member(out, "userAgent");
    string(out, user_agent);
    member(out, "userIdentity");
    out.push(b'{');
    match &event.identity {
        Some(i) => {
            if let Some(k) = &i.access_key_id {
                member(out, "accessKeyId");
                string(out, k);
            }
            member(out, "accountId");
            string(out, account_id);
            member(out, "arn");
            string(out, &i.arn);
            if let Some(by) = invoked_by {
                member(out, "invokedBy");
                string(out, by);
            }
            member(out, "principalId");
            string(out, &i.user_name);
            member(out, "type");
            string(out, "IAMUser");
            member(out, "userName");
            string(out, &i.user_name);
        }
        None => {
            member(out, "accountId");
            string(out, account_id);
            if let Some(by) = invoked_by {
                member(out, "invokedBy");
                string(out, by);
            }
        }
    }
    out.push(b'}');
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Identity, S3_SOURCE, sample_event};
    use serde_json::json;

    fn events() -> Vec<AuditEvent> {
        let base = AuditEvent {
            request_parameters: json!({
                "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                "encryptionContext": { "aws:s3:arn": "arn:aws:s3:::b/a key\"with\\odd\u{1}chars é" },
            }),
            ..sample_event()
        };
        let mut out = vec![base.clone()];
        out.push(AuditEvent {
            origin: Origin::Client {
                source_ip: "127.0.0.1".into(),
                user_agent: "é".repeat(1500),
            },
            identity: Some(Identity {
                access_key_id: None,
                ..base.identity.clone().unwrap()
            }),
            error: Some(("AccessDeniedException".into(), "not \"you\"".into())),
            additional_event_data: Some(json!({ "z": 1, "a": [true, null, 2.5] })),
            service_event_details: Some(json!({ "keyId": "k" })),
            response_elements: json!({ "keyId": "k", "b": {} }),
            resources: vec![
                "arn:aws:kms:us-east-1:111122223333:key/k1".into(),
                "arn:aws:s3:::bucket".into(),
                "arn:aws:s3:::bucket/key".into(),
            ],
            ..base.clone()
        });
        out.push(AuditEvent {
            event_source: S3_SOURCE,
            event_name: "GetObject".into(),
            origin: Origin::Client {
                source_ip: "::1".into(),
                user_agent: "aws-cli/2".into(),
            },
            data_event: true,
            read_only: false,
            request_parameters: Value::Null,
            resources: vec![],
            ..base.clone()
        });
        out.push(AuditEvent {
            event_name: "RotateKey".into(),
            identity: None,
            origin: Origin::Internal,
            request_parameters: json!({}),
            ..base.clone()
        });
        out.push(AuditEvent {
            identity: None,
            ..base.clone()
        });
        out.push(AuditEvent {
            identity: Some(Identity {
                arn: "arn:aws:iam::111122223333:user/".into(),
                user_name: String::new(),
                access_key_id: Some(String::new()),
            }),
            origin: Origin::Client {
                source_ip: "10.0.0.1".into(),
                user_agent: String::new(),
            },
            ..base.clone()
        });
        out
    }

    /// Written directly, a record is byte for byte the canonical form of its tree, and is
    /// found by the same terms: what verification recomputes and lookups ask for.
    #[test]
    fn a_record_written_directly_is_the_canonical_form_of_its_tree() {
        for (n, event) in events().iter().enumerate() {
            let time = "2026-11-30T10:00:00Z";
            let direct = Rendered::of_event(event, "111122223333", "us-east-1", time, "id-1");
            let tree = event.to_record_with_id("111122223333", "us-east-1", time, "id-1");
            let mut expected = Vec::new();
            canonical(&tree, &mut expected);
            assert_eq!(
                String::from_utf8(direct.canonical.clone()).unwrap(),
                String::from_utf8(expected).unwrap(),
                "event {n}"
            );
            assert_eq!(direct.time, time);
            assert_eq!(direct.terms, terms(&tree), "event {n}");
            let from_tree = Rendered::from_value(tree);
            assert_eq!(from_tree.canonical, direct.canonical, "event {n}");
            assert_eq!(from_tree.terms, direct.terms, "event {n}");
        }
    }

    /// An oversized record is trimmed as a tree would be, and found by what it still holds.
    #[test]
    fn an_oversized_record_is_trimmed_as_before() {
        let mut event = events().remove(0);
        event.request_parameters["encryptionContext"]["junk"] = json!("x".repeat(20_000));
        let time = "2026-11-30T10:00:00Z";
        let direct = Rendered::of_event(&event, "111122223333", "us-east-1", time, "id-2");
        let mut tree = event.to_record_with_id("111122223333", "us-east-1", time, "id-2");
        bound_record(&mut tree);
        let mut expected = Vec::new();
        canonical(&tree, &mut expected);
        assert_eq!(direct.canonical, expected);
        assert!(direct.canonical.len() <= MAX_RECORD_BYTES);
        assert_eq!(direct.terms, terms(&tree));
        assert!(!direct.terms.iter().any(|t| t.starts_with("object=")));
    }

    #[test]
    fn a_carried_link_is_dropped() {
        let r = Rendered::from_value(json!({ "eventTime": "t", CHAIN_MEMBER: { "seq": 9 } }));
        assert_eq!(r.canonical, br#"{"eventTime":"t"}"#);
        assert_eq!(r.time, "t");
    }
}
