//! CloudTrail's LookupEvents (SPEC.md §8.7) over the trail, so that
//! `aws cloudtrail lookup-events --lookup-attributes AttributeKey=EventName,AttributeValue=Decrypt`
//! works against Coffer.

use crate::index::Cursor;
use serde_json::{Value, json};

use crate::lookup::Filter;
use crate::trail::AuditLog;

/// A LookupEvents error: exception name and message (all 400).
pub type LookupError = (&'static str, String);

fn epoch(rfc3339: &str) -> Value {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| json!(t.unix_timestamp()))
        .unwrap_or(Value::Null)
}

fn time_bound(v: &Value, member: &str) -> Result<Option<String>, LookupError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_f64()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s as i64).ok())
            .map(|t| Some(crate::layout::rfc3339(t)))
            .ok_or((
                "InvalidTimeRangeException",
                format!("{member} is not a time"),
            )),
        _ => Err((
            "InvalidTimeRangeException",
            format!("{member} is not a time"),
        )),
    }
}

/// NextToken: the place of the previous page's last event (opaque to clients):
/// `seq.time`, then `.stream` in a trail several gateways share.
fn token(place: &Cursor) -> String {
    let (time, stream, seq) = place;
    if stream.is_empty() {
        format!("{seq}.{time}")
    } else {
        format!("{seq}.{time}.{stream}")
    }
}

fn parse_token(t: &str) -> Option<Cursor> {
    let (seq, rest) = t.split_once('.')?;
    let (time, stream) = rest.split_once('.').unwrap_or((rest, ""));
    Some((time.to_owned(), stream.to_owned(), seq.parse().ok()?))
}

/// Answers one LookupEvents request body.
pub fn lookup_events(trail: &AuditLog, body: &[u8]) -> Result<Value, LookupError> {
    let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|_| {
            (
                "SerializationException",
                "The request body is not JSON".to_owned(),
            )
        })?
    };
    let mut filter = Filter {
        from: time_bound(&request["StartTime"], "StartTime")?,
        to: time_bound(&request["EndTime"], "EndTime")?,
        // Event history holds management events only.
        management: Some(true),
        ..Default::default()
    };
    if let (Some(f), Some(t)) = (&filter.from, &filter.to)
        && f > t
    {
        return Err((
            "InvalidTimeRangeException",
            "Start time must be earlier than end time.".into(),
        ));
    }
    let attributes = request["LookupAttributes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if attributes.len() > 1 {
        return Err((
            "InvalidLookupAttributesException",
            "You cannot specify more than one lookup attribute.".into(),
        ));
    }
    if let Some(a) = attributes.first() {
        let value = a["AttributeValue"].as_str().unwrap_or_default().to_owned();
        if value.is_empty() || value.len() > 2000 {
            return Err((
                "InvalidLookupAttributesException",
                "AttributeValue must be 1 to 2000 characters.".into(),
            ));
        }
        match a["AttributeKey"].as_str() {
            Some("EventName") => filter.event_name = Some(value),
            Some("Username") => filter.user = Some(value),
            Some("EventSource") => filter.event_source = Some(value),
            Some("EventId") => filter.event_id = Some(value),
            Some("AccessKeyId") => filter.access_key_id = Some(value),
            Some("ResourceName") => filter.key = Some(value),
            Some("ReadOnly") => filter.read_only = Some(value == "true"),
            Some("ResourceType") => filter.resource_type = Some(value),
            _ => {
                return Err((
                    "InvalidLookupAttributesException",
                    "AttributeKey must be one of EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId.".into(),
                ));
            }
        }
    }
    let max = match request["MaxResults"].as_i64() {
        None => 50,
        Some(n) if (1..=50).contains(&n) => n as usize,
        Some(_) => {
            return Err((
                "InvalidMaxResultsException",
                "MaxResults must be between 1 and 50.".into(),
            ));
        }
    };
    let before = match request["NextToken"].as_str() {
        None => None,
        Some(t) => Some(parse_token(t).ok_or((
            "InvalidNextTokenException",
            "The NextToken is not valid.".to_owned(),
        ))?),
    };
    let (records, next) = trail
        .find(&filter, before.as_ref(), max)
        .map_err(|e| ("CloudTrailException", format!("the audit index: {e}")))?;
    let page: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "EventId": r["eventID"],
                "EventName": r["eventName"],
                "ReadOnly": r["readOnly"].as_bool().unwrap_or(false).to_string(),
                "AccessKeyId": r["userIdentity"]["accessKeyId"],
                "EventTime": epoch(r["eventTime"].as_str().unwrap_or_default()),
                "EventSource": r["eventSource"],
                "Username": r["userIdentity"]["userName"],
                "Resources": r["resources"].as_array().into_iter().flatten().map(|res| json!({
                    "ResourceType": res["type"],
                    "ResourceName": res["ARN"],
                })).collect::<Vec<_>>(),
                "CloudTrailEvent": r.to_string(),
            })
        })
        .collect();
    let mut out = json!({ "Events": page });
    if let Some(place) = next {
        out["NextToken"] = json!(token(&place));
    }
    Ok(out)
}
