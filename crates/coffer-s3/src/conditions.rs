//! Conditional requests (RFC 7232 as S3 applies them).

use coffer_store::{ObjectRecord, WriteCondition};
use s3s::dto::{ETagCondition, Timestamp};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use crate::object::to_ms;

/// The four conditional headers of a read or a copy source.
#[derive(Debug, Default)]
pub(crate) struct Preconditions {
    pub if_match: Option<ETagCondition>,
    pub if_none_match: Option<ETagCondition>,
    pub if_modified_since: Option<Timestamp>,
    pub if_unmodified_since: Option<Timestamp>,
}

/// What a failed condition answers: GET/HEAD send 304 for the "none match / modified since"
/// pair; a copy source fails every condition with 412.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Read,
    CopySource,
}

fn matches(cond: &ETagCondition, etag: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == etag,
    }
}

/// HTTP dates have one-second resolution; compare at that resolution.
fn seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

fn precondition_failed() -> S3Error {
    s3_error!(
        PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold"
    )
}

/// 304 carries the validators of the current object (RFC 9110 §15.4.5), which caches use.
fn not_modified(record: &ObjectRecord) -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::NotModified);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", record.etag)) {
        headers.insert(http::header::ETAG, v);
    }
    let mut date = Vec::new();
    if crate::object::timestamp(record.last_modified_ms)
        .format(s3s::dto::TimestampFormat::HttpDate, &mut date)
        .is_ok()
        && let Ok(v) = http::HeaderValue::from_bytes(&date)
    {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
}

impl Preconditions {
    pub(crate) fn check(&self, record: &ObjectRecord, context: Context) -> S3Result<()> {
        let modified = seconds(record.last_modified_ms);
        // If-Match wins over If-Unmodified-Since when both are present.
        if let Some(c) = &self.if_match {
            if !matches(c, &record.etag) {
                return Err(precondition_failed());
            }
        } else if let Some(t) = &self.if_unmodified_since
            && modified > seconds(to_ms(t))
        {
            return Err(precondition_failed());
        }
        let fail = || match context {
            Context::Read => not_modified(record),
            Context::CopySource => precondition_failed(),
        };
        // If-None-Match wins over If-Modified-Since when both are present.
        if let Some(c) = &self.if_none_match {
            if matches(c, &record.etag) {
                return Err(fail());
            }
        } else if let Some(t) = &self.if_modified_since
            && modified <= seconds(to_ms(t))
        {
            return Err(fail());
        }
        Ok(())
    }
}

/// Conditional writes: `If-None-Match: *` (create only) and `If-Match: <etag>` on PUT,
/// CompleteMultipartUpload and DELETE, as the condition the store checks inside the write's
/// transaction (so two racing create-only writes cannot both succeed).
pub(crate) fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<WriteCondition> {
    match (if_match, if_none_match) {
        (_, Some(c)) if !c.is_any() => Err(s3_error!(
            NotImplemented,
            "If-None-Match on writes accepts only '*'"
        )),
        (Some(_), Some(_)) => Err(s3_error!(
            NotImplemented,
            "If-Match and If-None-Match cannot be combined on a write"
        )),
        (None, Some(_)) => Ok(WriteCondition::IfAbsent),
        (Some(ETagCondition::Any), None) => Ok(WriteCondition::Always),
        (Some(ETagCondition::ETag(e)), None) => Ok(WriteCondition::IfMatch(e.value().to_owned())),
        (None, None) => Ok(WriteCondition::Always),
    }
}

/// Evaluates a write condition early, against a record read before the body arrives, so a
/// doomed upload fails before its bytes are sent. The store checks again at commit.
pub(crate) fn check_early(
    existing: Option<&ObjectRecord>,
    condition: &WriteCondition,
) -> S3Result<()> {
    match (condition, existing) {
        (WriteCondition::IfAbsent, Some(_)) => Err(precondition_failed()),
        (WriteCondition::IfMatch(_), None) => Err(crate::error::no_such_key()),
        (WriteCondition::IfMatch(e), Some(r)) if r.etag != *e => Err(precondition_failed()),
        _ => Ok(()),
    }
}
