//! One audited event, and its CloudTrail record (SPEC.md §8.1–8.4). Records name who used
//! which key with which encryption context, and how it ended; they never carry plaintext,
//! ciphertext, key material or key policies (callers pass only what may be logged).

use serde_json::{Map, Value, json};

/// The event source of KMS records.
pub const KMS_SOURCE: &str = "kms.amazonaws.com";
/// The event source of S3 data events.
pub const S3_SOURCE: &str = "s3.amazonaws.com";

/// The user a record names.
#[derive(Debug, Clone)]
pub struct Identity {
    pub arn: String,
    pub user_name: String,
    pub access_key_id: Option<String>,
}

/// Where a call came from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Directly from a client.
    Client {
        source_ip: String,
        user_agent: String,
    },
    /// From an AWS service acting for the user (S3 calling the KMS), by its DNS name.
    Service(String),
    /// The server's own scheduled work (rotation, deletion): `AWS Internal`.
    Internal,
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub event_source: &'static str,
    pub event_name: String,
    /// `None` for the server's own events.
    pub identity: Option<Identity>,
    pub origin: Origin,
    /// What the request asked, as far as it may be logged (never plaintext or key bytes).
    pub request_parameters: Value,
    /// What AWS returns for it (`null` for reads).
    pub response_elements: Value,
    /// `(errorCode, errorMessage)` of a failed call.
    pub error: Option<(String, String)>,
    pub read_only: bool,
    /// ARNs of the keys (or objects) involved.
    pub resources: Vec<String>,
    pub request_id: String,
    /// `Management` (every KMS event) or `Data` (S3 object events).
    pub data_event: bool,
    pub service_event_details: Option<Value>,
    pub additional_event_data: Option<Value>,
}

pub(crate) fn resource_type(arn: &str) -> &'static str {
    if arn.starts_with("arn:aws:kms:") {
        "AWS::KMS::Key"
    } else if arn.starts_with("arn:aws:s3:::") && arn[13..].contains('/') {
        "AWS::S3::Object"
    } else {
        "AWS::S3::Bucket"
    }
}

/// A new record's `eventID`: a UUID, as CloudTrail's are, of version 7 (RFC 9562), whose
/// leading bits are the time in milliseconds. The lookup index keeps every record under
/// `id=<eventID>`; random (version 4) ids put each record's key on a random B-tree page,
/// which the index's commit then copied whole. Ids that grow with time are added at the end
/// of the term's range instead, as the other terms' keys are (they hold the record's time).
/// The commit thread's CPU per SSE-KMS 4 KiB GET (20,000 GETs at C=16, two runs each) went
/// from 15.5-25 µs to 11.5-18.5 µs; without the term at all it was 11.5-13.5 µs.
/// CloudTrail documents the id only as a GUID, and the SDKs read it as a string.
pub(crate) fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl AuditEvent {
    /// What the record says of where the call came from: `sourceIPAddress`, `userAgent` (kept
    /// to its first 1,024 characters, as CloudTrail does) and `userIdentity.invokedBy`.
    pub(crate) fn origin_fields(&self) -> (&str, &str, Option<&str>) {
        match &self.origin {
            Origin::Client {
                source_ip,
                user_agent,
            } => {
                let agent = match user_agent.char_indices().nth(1024) {
                    Some((end, _)) => &user_agent[..end],
                    None => user_agent,
                };
                (source_ip, agent, None)
            }
            Origin::Service(service) => (service, service, Some(service)),
            Origin::Internal => ("AWS Internal", "AWS Internal", Some("AWS Internal")),
        }
    }

    /// The CloudTrail record, stamped with `event_time` (RFC 3339, seconds, UTC).
    ///
    /// Built member by member: `json!` turns every interpolated value, `Value`s included,
    /// into a new `Value` through serde's serializer, which was a third of this function's
    /// cost on the SSE-KMS GET path.
    pub fn to_record(&self, account_id: &str, region: &str, event_time: &str) -> Value {
        self.to_record_with_id(account_id, region, event_time, &new_event_id())
    }

    /// [`AuditEvent::to_record`] under a given event id.
    pub(crate) fn to_record_with_id(
        &self,
        account_id: &str,
        region: &str,
        event_time: &str,
        event_id: &str,
    ) -> Value {
        let text = |s: &str| Value::String(s.to_owned());
        let mut identity = Map::new();
        match &self.identity {
            Some(i) => {
                identity.insert("type".into(), text("IAMUser"));
                identity.insert("principalId".into(), text(&i.user_name));
                identity.insert("arn".into(), text(&i.arn));
                identity.insert("accountId".into(), text(account_id));
                identity.insert("userName".into(), text(&i.user_name));
                if let Some(k) = &i.access_key_id {
                    identity.insert("accessKeyId".into(), text(k));
                }
            }
            None => {
                identity.insert("accountId".into(), text(account_id));
            }
        }
        let (source_ip, user_agent, invoked_by) = self.origin_fields();
        if let Some(by) = invoked_by {
            identity.insert("invokedBy".into(), text(by));
        }
        let internal = matches!(self.origin, Origin::Internal);
        let resources = self
            .resources
            .iter()
            .map(|arn| {
                let mut r = Map::new();
                r.insert("accountId".into(), text(account_id));
                r.insert("type".into(), text(resource_type(arn)));
                r.insert("ARN".into(), text(arn));
                Value::Object(r)
            })
            .collect();
        let mut record = Map::new();
        let mut put = |name: &str, value: Value| {
            record.insert(name.to_owned(), value);
        };
        put("eventVersion", text("1.11"));
        put("userIdentity", Value::Object(identity));
        put("eventTime", text(event_time));
        put("eventSource", text(self.event_source));
        put("eventName", text(&self.event_name));
        put("awsRegion", text(region));
        put("sourceIPAddress", text(source_ip));
        put("userAgent", text(user_agent));
        put("requestParameters", self.request_parameters.clone());
        put("responseElements", self.response_elements.clone());
        put("requestID", text(&self.request_id));
        put("eventID", text(event_id));
        put("readOnly", Value::Bool(self.read_only));
        put("resources", Value::Array(resources));
        put(
            "eventType",
            text(if internal {
                "AwsServiceEvent"
            } else {
                "AwsApiCall"
            }),
        );
        put("managementEvent", Value::Bool(!self.data_event));
        put("recipientAccountId", text(account_id));
        put(
            "eventCategory",
            text(if self.data_event {
                "Data"
            } else {
                "Management"
            }),
        );
        if let Some((code, message)) = &self.error {
            put("errorCode", text(code));
            put("errorMessage", text(message));
        }
        if let Some(d) = &self.service_event_details {
            put("serviceEventDetails", d.clone());
        }
        if let Some(d) = &self.additional_event_data {
            put("additionalEventData", d.clone());
        }
        Value::Object(record)
    }
}

/// The largest record kept whole. A caller controls much of what a record holds (contexts,
/// descriptions, tags, junk members of a failed call), so without a bound any user could grow
/// the trail by megabytes a request.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

/// A member value longer than this (serialised) is dropped from an oversized record.
const MAX_KEPT_MEMBER_BYTES: usize = 512;

/// Brings `record` within [`MAX_RECORD_BYTES`]: if it is larger, the caller-supplied parts
/// (`requestParameters`, `responseElements`, `additionalEventData`) keep only their small
/// members and say so under `cofferTruncated`; if that is not enough, they are emptied.
pub fn bound_record(record: &mut Value) {
    // Measured by counting what serialising writes, without keeping it: every record passes
    // here, and nearly all are far under the cap.
    let size = |r: &Value| {
        let mut count = ByteCount(0);
        serde_json::to_writer(&mut count, r).map_or(usize::MAX, |()| count.0)
    };
    if size(record) <= MAX_RECORD_BYTES {
        return;
    }
    const PARTS: [&str; 3] = [
        "requestParameters",
        "responseElements",
        "additionalEventData",
    ];
    for part in PARTS {
        if let Some(Value::Object(m)) = record.get_mut(part) {
            let before = m.len();
            m.retain(|_, v| size(v) <= MAX_KEPT_MEMBER_BYTES);
            if m.len() != before {
                m.insert("cofferTruncated".into(), Value::Bool(true));
            }
        }
    }
    if size(record) <= MAX_RECORD_BYTES {
        return;
    }
    for part in PARTS {
        if let Some(v) = record.get_mut(part).filter(|v| !v.is_null()) {
            *v = json!({ "cofferTruncated": true });
        }
    }
    if let Some(Value::String(m)) = record.get_mut("errorMessage") {
        *m = m.chars().take(1024).collect();
    }
}

/// A writer that only counts the bytes written to it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// S3 decrypting for alice under key k1: the event tests start from.
#[cfg(test)]
pub(crate) fn sample_event() -> AuditEvent {
    AuditEvent {
        event_source: KMS_SOURCE,
        event_name: "Decrypt".into(),
        identity: Some(Identity {
            arn: "arn:aws:iam::111122223333:user/alice".into(),
            user_name: "alice".into(),
            access_key_id: Some("AKIAALICE".into()),
        }),
        origin: Origin::Service("s3.amazonaws.com".into()),
        request_parameters: json!({ "encryptionContext": { "aws:s3:arn": "arn:aws:s3:::b/k" } }),
        response_elements: Value::Null,
        error: None,
        read_only: true,
        resources: vec!["arn:aws:kms:us-east-1:111122223333:key/k1".into()],
        request_id: "r1".into(),
        data_event: false,
        service_event_details: None,
        additional_event_data: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_uuids_that_sort_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..2000).map(|_| new_event_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ids, "unique, and in the index's key order as made");
        let id = uuid::Uuid::parse_str(&ids[0]).unwrap();
        assert_eq!(id.get_version_num(), 7);
    }

    #[test]
    fn a_record_has_cloudtrails_members() {
        let event = AuditEvent {
            error: Some(("AccessDeniedException".into(), "no".into())),
            additional_event_data: Some(json!({ "n": 1 })),
            ..sample_event()
        };
        let mut r = event.to_record("111122223333", "us-east-1", "2026-11-30T10:00:00Z");
        assert!(uuid::Uuid::parse_str(r["eventID"].as_str().unwrap()).is_ok());
        r["eventID"] = json!("id");
        assert_eq!(
            r,
            json!({
                "eventVersion": "1.11",
                "userIdentity": {
                    "type": "IAMUser", "principalId": "alice",
                    "arn": "arn:aws:iam::111122223333:user/alice", "accountId": "111122223333",
                    "userName": "alice", "accessKeyId": "AKIAALICE", "invokedBy": "s3.amazonaws.com",
                },
                "eventTime": "2026-11-30T10:00:00Z",
                "eventSource": "kms.amazonaws.com",
                "eventName": "Decrypt",
                "awsRegion": "us-east-1",
                "sourceIPAddress": "s3.amazonaws.com",
                "userAgent": "s3.amazonaws.com",
                "requestParameters": { "encryptionContext": { "aws:s3:arn": "arn:aws:s3:::b/k" } },
                "responseElements": null,
                "requestID": "r1",
                "eventID": "id",
                "readOnly": true,
                "resources": [{
                    "accountId": "111122223333", "type": "AWS::KMS::Key",
                    "ARN": "arn:aws:kms:us-east-1:111122223333:key/k1",
                }],
                "eventType": "AwsApiCall",
                "managementEvent": true,
                "recipientAccountId": "111122223333",
                "eventCategory": "Management",
                "errorCode": "AccessDeniedException",
                "errorMessage": "no",
                "additionalEventData": { "n": 1 },
            })
        );
    }

    #[test]
    fn oversized_records_keep_only_small_members() {
        let mut r = json!({
            "eventName": "Encrypt",
            "requestParameters": { "keyId": "k", "encryptionContext": { "junk": "x".repeat(100_000) } },
            "responseElements": null,
        });
        bound_record(&mut r);
        assert!(serde_json::to_vec(&r).unwrap().len() <= MAX_RECORD_BYTES);
        assert_eq!(r["requestParameters"]["keyId"], "k");
        assert_eq!(r["requestParameters"]["cofferTruncated"], true);
        assert!(r["requestParameters"].get("encryptionContext").is_none());

        let many: serde_json::Map<String, Value> = (0..200)
            .map(|i| (format!("m{i}"), json!("y".repeat(400))))
            .collect();
        let mut r = json!({ "requestParameters": many, "responseElements": null });
        bound_record(&mut r);
        assert!(serde_json::to_vec(&r).unwrap().len() <= MAX_RECORD_BYTES);
        assert_eq!(r["requestParameters"], json!({ "cofferTruncated": true }));
        assert!(r["responseElements"].is_null());

        let mut small = json!({ "requestParameters": { "keyId": "k" } });
        let before = small.clone();
        bound_record(&mut small);
        assert_eq!(small, before);
    }
}
