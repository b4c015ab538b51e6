//! The headers GetObject and HeadObject answer with. S3 describes an object the same way to
//! both verbs, so one function decides every value; the two s3s output types differ only in
//! what they can carry (GET a body; HEAD no `x-amz-tagging-count` field in s3s 0.14).

use coffer_store::ObjectRecord;
use s3s::dto::{
    ChecksumCRC32, ChecksumCRC32C, ChecksumCRC64NVME, ChecksumSHA1, ChecksumSHA256, ChecksumType,
    ETag, Metadata, ServerSideEncryption, StorageClass, Timestamp,
};

use crate::checksum;
use crate::object::{etag, metadata_of, timestamp};
use crate::sse::customer_key::CustomerKey;
use crate::sse::encryption;

/// The `response-*` query parameters of a read: values the caller wants in place of the
/// stored content headers.
pub(crate) struct ResponseOverrides {
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub content_type: Option<String>,
    pub expires: Option<Timestamp>,
}

/// The [`ResponseOverrides`] of a `GetObjectInput` or `HeadObjectInput`, moved out of it.
macro_rules! response_overrides {
    ($input:expr) => {
        $crate::object_response::ResponseOverrides {
            cache_control: $input.response_cache_control,
            content_disposition: $input.response_content_disposition,
            content_encoding: $input.response_content_encoding,
            content_language: $input.response_content_language,
            content_type: $input.response_content_type,
            expires: $input.response_expires,
        }
    };
}
pub(crate) use response_overrides;

/// Which bytes of the object a read answers with, as its headers describe them.
pub(crate) struct Served {
    pub content_length: u64,
    /// `Content-Range`, for a partial response.
    pub content_range: Option<String>,
    /// Whether the whole object is sent, so its checksum applies.
    pub whole: bool,
    /// `partNumber`, when the read asked for one part.
    pub part_number: Option<i32>,
}

/// Every header a GET or HEAD of an object reports, named as the s3s output fields are.
pub(crate) struct ObjectResponseHeaders {
    pub accept_ranges: Option<String>,
    pub content_length: Option<i64>,
    pub content_range: Option<String>,
    pub e_tag: Option<ETag>,
    pub last_modified: Option<Timestamp>,
    pub parts_count: Option<i32>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub content_type: Option<String>,
    pub expires: Option<Timestamp>,
    pub metadata: Option<Metadata>,
    pub website_redirect_location: Option<String>,
    pub storage_class: Option<StorageClass>,
    pub server_side_encryption: Option<ServerSideEncryption>,
    pub ssekms_key_id: Option<String>,
    pub bucket_key_enabled: Option<bool>,
    pub sse_customer_algorithm: Option<String>,
    pub sse_customer_key_md5: Option<String>,
    pub checksum_crc32: Option<ChecksumCRC32>,
    pub checksum_crc32c: Option<ChecksumCRC32C>,
    pub checksum_crc64nvme: Option<ChecksumCRC64NVME>,
    pub checksum_sha1: Option<ChecksumSHA1>,
    pub checksum_sha256: Option<ChecksumSHA256>,
    pub checksum_type: Option<ChecksumType>,
    /// `x-amz-tagging-count`.
    pub tag_count: Option<i32>,
}

/// The headers of a GET or HEAD of `record`: `served` says which bytes; `overrides` replace
/// stored content headers; the SSE-C echo names `customer`'s key; checksums are reported
/// only when the caller asked (`checksum_mode`) and the whole object is sent.
pub(crate) fn object_response_headers(
    record: &ObjectRecord,
    served: Served,
    overrides: ResponseOverrides,
    customer: Option<&CustomerKey>,
    checksum_mode: bool,
) -> ObjectResponseHeaders {
    let sums = if served.whole && checksum_mode {
        checksum::to_dto(record.checksum.as_ref())
    } else {
        Default::default()
    };
    let (sse_customer_algorithm, sse_customer_key_md5) = encryption::customer_echo(customer);
    let (ssekms_key_id, bucket_key_enabled) = encryption::kms_echo(record);
    ObjectResponseHeaders {
        accept_ranges: Some("bytes".to_owned()),
        content_length: Some(served.content_length as i64),
        content_range: served.content_range,
        e_tag: Some(etag(record)),
        last_modified: Some(timestamp(record.last_modified_ms)),
        parts_count: (record.multipart && served.part_number.is_some())
            .then_some(record.parts.len() as i32),
        cache_control: overrides.cache_control.or(record.cache_control.clone()),
        content_disposition: overrides
            .content_disposition
            .or(record.content_disposition.clone()),
        content_encoding: overrides
            .content_encoding
            .or(record.content_encoding.clone()),
        content_language: overrides
            .content_language
            .or(record.content_language.clone()),
        content_type: overrides.content_type.or(record.content_type.clone()),
        expires: overrides.expires.or(record.expires_ms.map(timestamp)),
        metadata: metadata_of(record),
        website_redirect_location: record.website_redirect_location.clone(),
        storage_class: record.storage_class.clone().map(StorageClass::from),
        server_side_encryption: encryption::reported(record),
        ssekms_key_id,
        bucket_key_enabled,
        sse_customer_algorithm,
        sse_customer_key_md5,
        checksum_crc32: sums.checksum_crc32,
        checksum_crc32c: sums.checksum_crc32c,
        checksum_crc64nvme: sums.checksum_crc64nvme,
        checksum_sha1: sums.checksum_sha1,
        checksum_sha256: sums.checksum_sha256,
        checksum_type: sums.checksum_type,
        tag_count: crate::tagging::count(&record.tags),
    }
}

/// A `GetObjectOutput` or `HeadObjectOutput` carrying `$headers` (an
/// [`ObjectResponseHeaders`]) and the output-specific fields listed after them. The tag
/// count is not among the shared fields: `HeadObjectOutput` has no field for it.
macro_rules! object_output {
    ($output:ident, $headers:expr, { $($field:ident: $value:expr),* $(,)? }) => {{
        let h: $crate::object_response::ObjectResponseHeaders = $headers;
        $output {
            accept_ranges: h.accept_ranges,
            content_length: h.content_length,
            content_range: h.content_range,
            e_tag: h.e_tag,
            last_modified: h.last_modified,
            parts_count: h.parts_count,
            cache_control: h.cache_control,
            content_disposition: h.content_disposition,
            content_encoding: h.content_encoding,
            content_language: h.content_language,
            content_type: h.content_type,
            expires: h.expires,
            metadata: h.metadata,
            website_redirect_location: h.website_redirect_location,
            storage_class: h.storage_class,
            server_side_encryption: h.server_side_encryption,
            ssekms_key_id: h.ssekms_key_id,
            bucket_key_enabled: h.bucket_key_enabled,
            sse_customer_algorithm: h.sse_customer_algorithm,
            sse_customer_key_md5: h.sse_customer_key_md5,
            checksum_crc32: h.checksum_crc32,
            checksum_crc32c: h.checksum_crc32c,
            checksum_crc64nvme: h.checksum_crc64nvme,
            checksum_sha1: h.checksum_sha1,
            checksum_sha256: h.checksum_sha256,
            checksum_type: h.checksum_type,
            $($field: $value,)*
            ..Default::default()
        }
    }};
}
pub(crate) use object_output;
