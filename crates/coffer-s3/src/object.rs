//! Small pieces every object verb uses: key checks, times, ETags and user metadata as
//! response fields.

use coffer_store::ObjectRecord;
use s3s::dto::{ETag, Metadata, Timestamp};
use s3s::{S3Result, s3_error};

/// S3's limit on a key's length in bytes.
const MAX_KEY_LEN: usize = 1024;

/// Now, in milliseconds, truncated to whole seconds: S3 keeps Last-Modified to the second,
/// so listings, HEAD and conditional requests all agree.
pub(crate) fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() * 1000
}

pub(crate) fn timestamp(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

pub(crate) fn to_ms(t: &Timestamp) -> i64 {
    let t: time::OffsetDateTime = t.clone().into();
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn etag(record: &ObjectRecord) -> ETag {
    ETag::Strong(record.etag.clone())
}

pub(crate) fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(s3_error!(InvalidArgument, "Object key must not be empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(s3_error!(KeyTooLongError, "Your key is too long"));
    }
    Ok(())
}

pub(crate) fn metadata_of(record: &ObjectRecord) -> Option<Metadata> {
    (!record.user_metadata.is_empty()).then(|| {
        record
            .user_metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// Percent-encodes a key for `encoding-type=url` listings (RFC 3986 unreserved and `/` kept).
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_slashes_and_escapes_the_rest() {
        assert_eq!(url_encode("a b/c+d%é"), "a%20b/c%2Bd%25%C3%A9");
    }
}
