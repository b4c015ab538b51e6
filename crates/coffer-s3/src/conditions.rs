//! Conditional requests (RFC 7232 as S3 applies them).

use coffer_store::ObjectRecord;
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

fn not_modified() -> S3Error {
    S3Error::new(S3ErrorCode::NotModified)
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
            Context::Read => not_modified(),
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

/// Conditional writes: `If-None-Match: *` (create only) and `If-Match: <etag>` on PUT and
/// CompleteMultipartUpload.
pub(crate) fn check_write(
    existing: Option<&ObjectRecord>,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    if let Some(c) = if_none_match {
        if !c.is_any() {
            return Err(s3_error!(
                NotImplemented,
                "If-None-Match on writes accepts only '*'"
            ));
        }
        if existing.is_some() {
            return Err(precondition_failed());
        }
    }
    if let Some(c) = if_match {
        match existing {
            None => return Err(crate::error::no_such_key()),
            Some(r) if !matches(c, &r.etag) => return Err(precondition_failed()),
            Some(_) => {}
        }
    }
    Ok(())
}
