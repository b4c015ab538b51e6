//! The headers a write sets on its object: content type, encoding, disposition and
//! language, cache control, expiry, website redirect, user metadata, storage class and tags.
//! PutObject, CopyObject with `REPLACE` and CreateMultipartUpload take them from requests
//! whose inputs name these fields alike; [`content_headers!`] reads them from any of those.

use std::collections::BTreeMap;

use coffer_store::ObjectRecord;
use s3s::dto::{Metadata, Timestamp};
use s3s::{S3Result, s3_error};

use crate::object::{now_ms, to_ms};

/// S3's limit on user metadata (keys and values, UTF-8 bytes).
const MAX_METADATA_SIZE: usize = 2 * 1024;

/// The content headers and user metadata an object carries, as a write sets them (PUT and
/// POST, CopyObject with `REPLACE`, CreateMultipartUpload).
#[derive(Debug, Default)]
pub(crate) struct ContentHeaders {
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

impl ContentHeaders {
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

/// The [`ContentHeaders`] of a write's input (`PutObjectInput`, `CopyObjectInput`,
/// `CreateMultipartUploadInput`), moved out of it, with the tag set the verb decided.
macro_rules! content_headers {
    ($input:expr, tags: $tags:expr) => {
        $crate::content_headers::ContentHeaders {
            content_type: $input.content_type,
            content_encoding: $input.content_encoding,
            content_disposition: $input.content_disposition,
            content_language: $input.content_language,
            cache_control: $input.cache_control,
            expires: $input.expires,
            website_redirect_location: $input.website_redirect_location,
            metadata: $input.metadata,
            storage_class: $input.storage_class.map(|s| s.as_str().to_owned()),
            tags: $tags,
        }
    };
}
pub(crate) use content_headers;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_metadata_is_refused() {
        let mut m = Metadata::new();
        m.insert("k".into(), "v".repeat(2048));
        let h = ContentHeaders {
            metadata: Some(m),
            ..Default::default()
        };
        assert_eq!(
            h.into_record().unwrap_err().code(),
            &s3s::S3ErrorCode::MetadataTooLarge
        );
    }
}
