//! GetObject, HeadObject and GetObjectAttributes.

use std::ops::Range as Span;
use std::sync::Arc;

use coffer_store::{BucketRecord, KmsRecordSnapshot, ObjectRecord};
use http::StatusCode;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::body;
use crate::checksum;
use crate::conditions::{Context, Preconditions};
use crate::error::{OrS3, no_such_key};
use crate::object::{etag, timestamp};
use crate::object_response::{Served, object_output, object_response_headers, response_overrides};
use crate::service::CofferS3;
use crate::sse::customer_key::{CustomerHeaders, CustomerKey, Purpose, take_customer_headers};
use crate::sse::encryption;

/// Which bytes of an object a read returns, and how the response describes them.
struct Selection {
    span: Span<u64>,
    /// `Content-Range` for a partial response.
    content_range: Option<String>,
    /// Whether the checksum of the whole object applies to what is sent.
    whole: bool,
}

impl Selection {
    /// What the response headers say about the bytes sent.
    fn served(self, part_number: Option<i32>) -> Served {
        Served {
            content_length: self.span.end - self.span.start,
            content_range: self.content_range,
            whole: self.whole,
            part_number,
        }
    }
}

fn select(
    record: &ObjectRecord,
    range: Option<&Range>,
    part_number: Option<i32>,
) -> S3Result<Selection> {
    let size = record.size;
    match (range, part_number) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter"
        )),
        (Some(r), None) => {
            // An empty span (any range of an empty object) is unsatisfiable too.
            let span = r
                .check(size)
                .ok()
                .filter(|span| span.start < span.end)
                .ok_or_else(|| s3_error!(InvalidRange, "The requested range is not satisfiable"))?;
            let content_range = format!("bytes {}-{}/{}", span.start, span.end - 1, size);
            Ok(Selection {
                whole: span.start == 0 && span.end == size,
                span,
                content_range: Some(content_range),
            })
        }
        (None, Some(n)) => {
            // Outside S3's range of part numbers is a bad request; within it but past the
            // object's last part, an unsatisfiable one.
            if !(1..=10_000).contains(&n) {
                return Err(s3_error!(
                    InvalidArgument,
                    "Part number must be an integer between 1 and 10000, inclusive"
                ));
            }
            let count = record.parts.len() as i32;
            if n < 1 || n > count.max(1) {
                return Err(crate::error::custom(
                    "InvalidPartNumber",
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "The requested partnumber is not satisfiable",
                ));
            }
            if !record.multipart {
                // S3 answers partNumber=1 of a single-part object as a 206 of all of it.
                return Ok(Selection {
                    span: 0..size,
                    content_range: (size > 0).then(|| format!("bytes 0-{}/{size}", size - 1)),
                    whole: true,
                });
            }
            let start: u64 = record.parts[..(n - 1) as usize]
                .iter()
                .map(|p| p.size)
                .sum();
            let len = record.parts[(n - 1) as usize].size;
            let span = start..start + len;
            let content_range =
                (len > 0).then(|| format!("bytes {}-{}/{}", span.start, span.end - 1, size));
            Ok(Selection {
                span,
                content_range,
                whole: false,
            })
        }
        (None, None) => Ok(Selection {
            span: 0..size,
            content_range: None,
            whole: true,
        }),
    }
}

/// The encryption headers of a write. Amazon S3 refuses them on a read, whatever the
/// object's mode: `400 InvalidArgument`, "x-amz-server-side-encryption header is not supported
/// for this operation." (a real response, quoted in ClickHouse/ClickHouse#64570).
const WRITE_ENCRYPTION_HEADERS: [&str; 4] = [
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-context",
    "x-amz-server-side-encryption-bucket-key-enabled",
];

fn refuse_write_encryption_headers(headers: &http::HeaderMap) -> S3Result<()> {
    match WRITE_ENCRYPTION_HEADERS
        .iter()
        .find(|h| headers.contains_key(**h))
    {
        Some(h) => Err(s3_error!(
            InvalidArgument,
            "{h} header is not supported for this operation."
        )),
        None => Ok(()),
    }
}

impl CofferS3 {
    /// What a reader of `bucket/key` needs: the record's parts and its opened data key
    /// (with the customer's key, for an SSE-C object).
    pub(crate) async fn source_data(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
        customer: Option<&CustomerKey>,
        user: &crate::User,
        key_read: Option<Arc<KmsRecordSnapshot>>,
    ) -> S3Result<body::SourceData> {
        Ok(body::SourceData {
            parts: record.parts.clone(),
            key: self
                .open_data_key_read(
                    bucket,
                    key,
                    record.encryption.as_ref(),
                    customer,
                    Some(user),
                    key_read,
                )
                .await?,
            name: format!("{bucket}/{key}"),
        })
    }

    /// What HEAD and GetObjectAttributes check without reading data: the SSE-C key (a wrong
    /// one is a 403), and no SSE-C headers for other objects. SSE-KMS objects need no KMS
    /// call here, as on S3.
    async fn check_metadata_read(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
        customer: Option<&CustomerKey>,
    ) -> S3Result<()> {
        if customer.is_some() || encryption::is_customer(record.encryption.as_ref()) {
            self.open_data_key(bucket, key, record.encryption.as_ref(), customer, None)
                .await?;
        }
        Ok(())
    }

    /// Validates a read's SSE-C headers (after refusing them over plain HTTP).
    fn read_customer_key<T>(
        &self,
        req: &S3Request<T>,
        headers: CustomerHeaders,
    ) -> S3Result<Option<CustomerKey>> {
        self.require_secure_transport(&req.extensions, headers.is_present())?;
        headers.parse(Purpose::Read)
    }

    /// Loads an object the caller may read.
    async fn readable_object(
        &self,
        user: &crate::requester::Requester,
        action: &str,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<ObjectRecord> {
        let (bucket_record, object) = self.meta.get_bucket_and_object(bucket, key).await.or_s3()?;
        self.check_readable(user, action, key, version_id, bucket_record, object)
    }

    /// [`CofferS3::readable_object`] for a GET, which also needs the record of the KMS key the
    /// object is sealed under: read with the object, in the same round trip, where the
    /// backend can.
    async fn readable_object_and_key(
        &self,
        user: &crate::requester::Requester,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<(ObjectRecord, Option<Arc<KmsRecordSnapshot>>)> {
        let read = self.meta.get_object_for_read(bucket, key).await.or_s3()?;
        let record = self.check_readable(
            user,
            "s3:GetObject",
            key,
            version_id,
            read.bucket,
            read.object,
        )?;
        Ok((record, read.kms_key.map(Arc::new)))
    }

    /// The object of a read, if the bucket exists and the caller may read it. The policy may
    /// name the object's stored tags (`s3:ExistingObjectTag/<key>`).
    fn check_readable(
        &self,
        user: &crate::requester::Requester,
        action: &str,
        key: &str,
        version_id: Option<&str>,
        bucket_record: Option<BucketRecord>,
        object: Option<ObjectRecord>,
    ) -> S3Result<ObjectRecord> {
        let bucket_record = crate::bucket_policy::found_bucket(bucket_record)?;
        self.check_object_access(user, &bucket_record, action, key, object.as_ref())?;
        let record = object.ok_or_else(no_such_key)?;
        // Unversioned buckets hold one version per key, and S3 calls it "null".
        if let Some(v) = version_id
            && v != "null"
        {
            return Err(s3_error!(InvalidArgument, "Invalid version id specified"));
        }
        Ok(record)
    }

    pub(crate) async fn do_get_object(
        &self,
        mut req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let user = self.requester(&req)?;
        refuse_write_encryption_headers(&req.headers)?;
        let origin = self.request_origin(&req);
        let sse_c = take_customer_headers!(req.input);
        let customer = self.read_customer_key(&req, sse_c)?;
        let input = req.input;
        let conditions = Preconditions {
            if_match: input.if_match.clone(),
            if_none_match: input.if_none_match.clone(),
            if_modified_since: input.if_modified_since.clone(),
            if_unmodified_since: input.if_unmodified_since.clone(),
        };
        // A blob can vanish between reading the record and opening it when the object is
        // overwritten or deleted at that moment: read the record again and serve what is
        // there now (or NoSuchKey).
        let mut attempts = 0;
        let (record, selection, opened) = loop {
            let (record, key_read) = self
                .readable_object_and_key(
                    &user,
                    &input.bucket,
                    &input.key,
                    input.version_id.as_deref(),
                )
                .await?;
            // The SSE-C key before the conditions: a 304 or 412 would tell a caller without
            // the key that the object exists and what its ETag is.
            self.check_metadata_read(&input.bucket, &input.key, &record, customer.as_ref())
                .await?;
            conditions.check(&record, Context::Read)?;
            let selection = select(&record, input.range.as_ref(), input.part_number)?;
            let len = selection.span.end - selection.span.start;
            let source = self
                .source_data(
                    &input.bucket,
                    &input.key,
                    &record,
                    customer.as_ref(),
                    &user,
                    key_read,
                )
                .await?;
            match body::open_range(self.blobs.clone(), source, selection.span.start, len).await {
                Ok(opened) => break (record, selection, opened),
                Err(body::OpenError::Missing(_)) if attempts < 3 => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        };
        self.data_event(origin, &user, "GetObject", &input.bucket, &input.key, None)
            .await?;
        let body = opened.into_body().await?;
        let partial = selection.content_range.is_some();
        let served = selection.served(input.part_number);
        let wants_checksum = checksum_mode(&input.checksum_mode);
        let headers = object_response_headers(
            &record,
            served,
            response_overrides!(input),
            customer.as_ref(),
            wants_checksum,
        );
        let tag_count = headers.tag_count;
        let output = object_output!(GetObjectOutput, headers, {
            body: Some(body),
            tag_count: tag_count,
        });
        let mut resp = S3Response::new(output);
        if partial {
            resp.status = Some(StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
    }

    pub(crate) async fn do_head_object(
        &self,
        mut req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let user = self.requester(&req)?;
        refuse_write_encryption_headers(&req.headers)?;
        let sse_c = take_customer_headers!(req.input);
        let customer = self.read_customer_key(&req, sse_c)?;
        let input = req.input;
        let record = self
            .readable_object(
                &user,
                "s3:GetObject",
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
            )
            .await?;
        // HEAD reads no data, but S3 still proves an SSE-C key: a wrong one is a 403.
        self.check_metadata_read(&input.bucket, &input.key, &record, customer.as_ref())
            .await?;
        Preconditions {
            if_match: input.if_match,
            if_none_match: input.if_none_match,
            if_modified_since: input.if_modified_since,
            if_unmodified_since: input.if_unmodified_since,
        }
        .check(&record, Context::Read)?;
        let selection = select(&record, input.range.as_ref(), input.part_number)?;
        let partial = selection.content_range.is_some();
        let served = selection.served(input.part_number);
        let wants_checksum = checksum_mode(&input.checksum_mode);
        let headers = object_response_headers(
            &record,
            served,
            response_overrides!(input),
            customer.as_ref(),
            wants_checksum,
        );
        let tag_count = headers.tag_count;
        let output = object_output!(HeadObjectOutput, headers, {});
        let mut resp = S3Response::new(output);
        // S3 sends `x-amz-tagging-count` on HEAD too; s3s 0.14's HeadObjectOutput has no
        // field for it.
        if let Some(n) = tag_count {
            resp.headers
                .insert("x-amz-tagging-count", http::HeaderValue::from(n));
        }
        if partial {
            resp.status = Some(StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
    }

    pub(crate) async fn do_get_object_attributes(
        &self,
        mut req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let user = self.requester(&req)?;
        let sse_c = take_customer_headers!(req.input);
        let customer = self.read_customer_key(&req, sse_c)?;
        let input = req.input;
        let record = self
            .readable_object(
                &user,
                "s3:GetObjectAttributes",
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
            )
            .await?;
        self.check_metadata_read(&input.bucket, &input.key, &record, customer.as_ref())
            .await?;
        // SDKs join the header's list with ", ": each name may carry a leading space.
        let wants = |name: &str| {
            input
                .object_attributes
                .iter()
                .any(|a| a.as_str().trim().eq_ignore_ascii_case(name))
        };
        if input.object_attributes.is_empty() {
            return Err(s3_error!(
                InvalidArgument,
                "Invalid attribute name specified."
            ));
        }
        let mut out = GetObjectAttributesOutput {
            last_modified: Some(timestamp(record.last_modified_ms)),
            ..Default::default()
        };
        if wants("ETag") {
            out.e_tag = Some(etag(&record));
        }
        if wants("ObjectSize") {
            out.object_size = Some(record.size as i64);
        }
        if wants("StorageClass") {
            out.storage_class = Some(StorageClass::from(
                record
                    .storage_class
                    .clone()
                    .unwrap_or_else(|| "STANDARD".to_owned()),
            ));
        }
        if wants("Checksum") && record.checksum.is_some() {
            out.checksum = Some(checksum::to_dto(record.checksum.as_ref()));
        }
        if wants("ObjectParts") && record.multipart {
            let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
            let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
            let after: Vec<_> = record.parts.iter().filter(|p| p.number > marker).collect();
            let truncated = after.len() > max;
            let page: Vec<ObjectPart> = after
                .into_iter()
                .take(max)
                .map(|p| {
                    let sums = checksum::to_dto(p.checksum.as_ref());
                    ObjectPart {
                        part_number: Some(p.number as i32),
                        size: Some(p.size as i64),
                        checksum_crc32: sums.checksum_crc32,
                        checksum_crc32c: sums.checksum_crc32c,
                        checksum_crc64nvme: sums.checksum_crc64nvme,
                        checksum_sha1: sums.checksum_sha1,
                        checksum_sha256: sums.checksum_sha256,
                    }
                })
                .collect();
            out.object_parts = Some(GetObjectAttributesParts {
                is_truncated: Some(truncated),
                max_parts: Some(max as i32),
                next_part_number_marker: page.last().and_then(|p| p.part_number),
                part_number_marker: Some(marker as i32),
                total_parts_count: Some(record.parts.len() as i32),
                parts: Some(page),
            });
        }
        Ok(S3Response::new(out))
    }
}

fn checksum_mode(mode: &Option<ChecksumMode>) -> bool {
    mode.as_ref().is_some_and(|m| m.as_str() == "ENABLED")
}
