//! Object records: building them from request headers and turning them into response fields.

use std::collections::BTreeMap;

use coffer_store::ObjectRecord;
use s3s::dto::{ETag, Metadata, Timestamp};
use s3s::{S3Result, s3_error};

/// S3's limit on a key's length in bytes.
const MAX_KEY_LEN: usize = 1024;
/// S3's limit on user metadata (keys and values, UTF-8 bytes).
const MAX_METADATA_SIZE: usize = 2 * 1024;

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

/// The content headers and user metadata an object carries, as a write sets them.
#[derive(Debug, Default)]
pub(crate) struct ObjectHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<Timestamp>,
    pub website_redirect_location: Option<String>,
    pub metadata: Option<Metadata>,
    pub storage_class: Option<String>,
    /// The tag set, already checked against S3's limits.
    pub tags: coffer_store::Tags,
}

impl ObjectHeaders {
    /// A record with these headers and no data yet.
    pub(crate) fn into_record(self) -> S3Result<ObjectRecord> {
        let user_metadata: BTreeMap<String, String> = self
            .metadata
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let meta_size: usize = user_metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if meta_size > MAX_METADATA_SIZE {
            return Err(s3_error!(
                MetadataTooLarge,
                "Your metadata headers exceed the maximum allowed metadata size."
            ));
        }
        let storage_class = match self.storage_class.as_deref() {
            None | Some("STANDARD") => None,
            Some(other) => {
                return Err(s3_error!(
                    InvalidStorageClass,
                    "The storage class you specified is not valid: {other}"
                ));
            }
        };
        Ok(ObjectRecord {
            v: coffer_store::RECORD_VERSION,
            size: 0,
            etag: String::new(),
            last_modified_ms: now_ms(),
            parts: Vec::new(),
            multipart: false,
            checksum: None,
            content_type: Some(
                self.content_type
                    .unwrap_or_else(|| "binary/octet-stream".to_owned()),
            ),
            content_encoding: self.content_encoding,
            content_disposition: self.content_disposition,
            content_language: self.content_language,
            cache_control: self.cache_control,
            expires_ms: self.expires.as_ref().map(to_ms),
            website_redirect_location: self.website_redirect_location,
            user_metadata,
            storage_class,
            encryption: None,
            tags: self.tags,
        })
    }
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

    #[test]
    fn oversized_metadata_is_refused() {
        let mut m = Metadata::new();
        m.insert("k".into(), "v".repeat(2048));
        let h = ObjectHeaders {
            metadata: Some(m),
            ..Default::default()
        };
        assert_eq!(
            h.into_record().unwrap_err().code(),
            &s3s::S3ErrorCode::MetadataTooLarge
        );
    }
}
