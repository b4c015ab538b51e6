//! Multipart uploads: create, upload part (and part copy), complete, abort, list.

use coffer_store::{
    BucketRecord, ChecksumRecord, CompletedUploadRecord, EncryptionRecord, ObjectRecord,
    PartRecord, StoredPart, UploadRecord,
};
use md5::Digest as _;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::body::{self, MAX_PUT_SIZE};
use crate::checksum::{self, Algorithm};
use crate::conditions::{self, Preconditions};
use crate::content_headers::content_headers;
use crate::error::OrS3;
use crate::object::{check_key, now_ms, timestamp};
use crate::put::verify_ingested;
use crate::service::CofferS3;
use crate::sse::customer_key::{CustomerHeaders, CustomerKey, Purpose, take_customer_headers};
use crate::sse::encryption::{self, EncryptionHeaders, WriteMode};

/// Every part but the last must be at least this large, as on S3.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
const MAX_PART_NUMBER: i32 = 10_000;

fn check_part_number(n: i32) -> S3Result<u32> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(n as u32)
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ))
    }
}

/// A fresh upload id: a strictly increasing clock value first, so the ids of one key sort in
/// initiation order (as S3 pages them), then random bits so ids cannot be guessed.
fn new_upload_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    let stamp = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |prev| {
            Some(now.max(prev + 1))
        })
        .map_or(now, |prev| now.max(prev + 1));
    format!(
        "{stamp:016x}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    )
}

fn no_such_upload() -> s3s::S3Error {
    crate::error::store_error(coffer_store::StoreError::NoSuchUpload)
}

/// What CompleteMultipartUpload answers for a completion. S3 does not echo SSE-C there
/// (SPEC §1.3).
fn completion_output(done: &CompletedUploadRecord) -> CompleteMultipartUploadOutput {
    let sums = checksum::to_dto(done.checksum.as_ref());
    CompleteMultipartUploadOutput {
        server_side_encryption: done
            .server_side_encryption
            .clone()
            .map(ServerSideEncryption::from),
        ssekms_key_id: done.kms_key_arn.clone(),
        bucket_key_enabled: done.bucket_key_enabled.then_some(true),
        bucket: Some(done.bucket.clone()),
        key: Some(done.key.clone()),
        location: Some(format!("/{}/{}", done.bucket, done.key)),
        e_tag: Some(ETag::Strong(done.etag.clone())),
        checksum_crc32: sums.checksum_crc32,
        checksum_crc32c: sums.checksum_crc32c,
        checksum_crc64nvme: sums.checksum_crc64nvme,
        checksum_sha1: sums.checksum_sha1,
        checksum_sha256: sums.checksum_sha256,
        checksum_type: sums.checksum_type,
        ..Default::default()
    }
}

/// The checksum type a multipart upload uses for an algorithm, validating the combination.
fn checksum_kind(algorithm: Algorithm, declared: Option<&str>) -> S3Result<&'static str> {
    let full_ok = matches!(
        algorithm,
        Algorithm::Crc32 | Algorithm::Crc32c | Algorithm::Crc64Nvme
    );
    match declared {
        Some("FULL_OBJECT") if full_ok => Ok("FULL_OBJECT"),
        Some("COMPOSITE") if algorithm != Algorithm::Crc64Nvme => Ok("COMPOSITE"),
        None if algorithm == Algorithm::Crc64Nvme => Ok("FULL_OBJECT"),
        None => Ok("COMPOSITE"),
        Some(other) => Err(s3_error!(
            InvalidRequest,
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            other,
            algorithm.name().to_lowercase()
        )),
    }
}

/// Whether an upload's parts get opaque ETags: all but SSE-S3's (SPEC §3.1).
fn opaque_etags(upload: &UploadRecord) -> bool {
    upload
        .template
        .encryption
        .as_ref()
        .is_some_and(EncryptionRecord::has_opaque_etags)
}

/// A part request's SSE-C headers: the upload's key again, or none.
fn part_mode(headers: CustomerHeaders) -> S3Result<WriteMode> {
    Ok(headers
        .parse(Purpose::Write)?
        .map_or(WriteMode::SseS3, WriteMode::Customer))
}

impl CofferS3 {
    /// The key part `number` of an upload seals under, and the digest its opaque ETag is
    /// computed with (none where ETags are MD5s). An SSE-C upload needs the key it was
    /// created with on every part, and other uploads refuse one (SPEC §2.1 #13, #14).
    fn upload_part_key(
        &self,
        upload: &UploadRecord,
        number: u32,
        customer: Option<&CustomerKey>,
        user: &crate::User,
    ) -> S3Result<(coffer_crypto::PartKey, Option<coffer_crypto::EtagMac>)> {
        if encryption::is_customer(upload.template.encryption.as_ref()) != customer.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters."
            ));
        }
        let dek = self
            .open_data_key(
                &upload.bucket,
                &upload.key,
                upload.template.encryption.as_ref(),
                customer,
                Some(user),
            )
            .map_err(|e| {
                if customer.is_some() && *e.code() == s3s::S3ErrorCode::AccessDenied {
                    s3_error!(
                        InvalidRequest,
                        "The provided encryption parameters did not match the ones used originally."
                    )
                } else {
                    e
                }
            })?
            .ok_or_else(|| crate::error::internal("upload has no data key"))?;
        let mac = opaque_etags(upload).then(|| dek.etag_mac());
        Ok((dek.part_key(number), mac))
    }

    /// A part's ETag: its MD5 under SSE-S3, otherwise an opaque keyed digest of its bytes
    /// under the upload's data key, so a retried part gets the ETag of its first upload.
    fn part_etag(upload: &UploadRecord, ingested: &body::Ingested) -> S3Result<String> {
        if opaque_etags(upload) {
            let mac = ingested
                .etag_mac
                .ok_or_else(|| crate::error::internal("part body without its ETag digest"))?;
            return Ok(hex::encode(mac));
        }
        let md5 = ingested
            .md5
            .ok_or_else(|| crate::error::internal("part body without its MD5"))?;
        Ok(hex::encode(md5))
    }

    /// Records a written part (replacing an earlier upload of its number). If the upload is
    /// gone meanwhile, the new blob is released and the error returned.
    async fn store_part(
        &self,
        upload_id: &str,
        number: u32,
        ingested: body::Ingested,
        etag: String,
        checksum: Option<ChecksumRecord>,
        last_modified_ms: i64,
    ) -> S3Result<()> {
        let blob = ingested.blob.clone();
        let part = PartRecord {
            v: coffer_store::RECORD_VERSION,
            part: StoredPart {
                number,
                size: ingested.size,
                md5_hex: etag,
                blob: ingested.blob,
                checksum,
                crc64nvme: Some(ingested.crc64nvme),
            },
            last_modified_ms,
        };
        let upload_id = upload_id.to_owned();
        match self
            .blocking(move |meta, _| meta.put_part(&upload_id, &part).or_s3())
            .await
        {
            Ok(freed) => {
                self.release_blobs(freed);
                Ok(())
            }
            Err(e) => {
                self.release_blobs(vec![blob]);
                Err(e)
            }
        }
    }

    /// An upload of this bucket and key the caller may use, with its bucket.
    async fn upload(
        &self,
        user: &crate::requester::Requester,
        action: &str,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> S3Result<(BucketRecord, UploadRecord)> {
        let bucket_record = self.bucket_for(user, bucket, action, Some(key)).await?;
        let id = upload_id.to_owned();
        let upload = self
            .blocking(move |meta, _| meta.get_upload(&id).or_s3())
            .await?
            .ok_or_else(no_such_upload)?;
        if upload.bucket != bucket || upload.key != key {
            return Err(no_such_upload());
        }
        Ok((bucket_record, upload))
    }

    pub(crate) async fn do_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let request_tags =
            crate::tagging::requested_for_policy(req.input.tagging.as_deref(), false);
        let user = self
            .requester(&req)?
            .with_request_tags(request_tags.as_ref());
        let mut input = req.input;
        let sse_c = take_customer_headers!(input);
        // The bucket policy first, then anything about the SSE headers.
        let bucket_record = self
            .bucket_for(&user, &input.bucket, "s3:PutObject", Some(&input.key))
            .await?;
        self.check_object_acl(&bucket_record.owner, input.acl.as_ref(), (&input).into())?;
        self.require_secure_transport(&req.extensions, sse_c.is_present())?;
        check_key(&input.key)?;
        let mode = encryption::requested_mode(
            EncryptionHeaders {
                sse: input.server_side_encryption.as_ref(),
                customer: sse_c,
                kms_key: input.ssekms_key_id.as_deref(),
                kms_context: input.ssekms_encryption_context.as_deref(),
                bucket_key: input.bucket_key_enabled,
            },
            &bucket_record,
        )?;
        self.check_not_blocked(&bucket_record, &mode, &user, "s3:PutObject", &input.key)?;
        crate::put::refuse_object_lock(
            input.object_lock_mode.is_some()
                || input.object_lock_retain_until_date.is_some()
                || input.object_lock_legal_hold_status.is_some(),
        )?;
        let algorithm = match input.checksum_algorithm.as_ref() {
            Some(a) => Some(Algorithm::parse(a.as_str()).ok_or_else(|| {
                s3_error!(
                    InvalidRequest,
                    "Checksum algorithm provided is unsupported."
                )
            })?),
            None => None,
        };
        let kind = match algorithm {
            Some(a) => Some(checksum_kind(
                a,
                input.checksum_type.as_ref().map(|t| t.as_str()),
            )?),
            None if input.checksum_type.is_some() => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
                ));
            }
            None => None,
        };
        // The completed object gets the upload's tags.
        let tags = crate::tagging::from_header(input.tagging.as_deref().unwrap_or_default())?;
        let template = content_headers!(input, tags: tags).into_record()?;
        // One data key for the whole upload; each part seals under its own key derived from
        // it, so parts upload in any order and in parallel.
        let (_, sealed_key) = self.new_data_key(&input.bucket, &input.key, &mode, &user)?;
        let template = ObjectRecord {
            encryption: Some(sealed_key),
            ..template
        };
        let upload = UploadRecord {
            v: coffer_store::RECORD_VERSION,
            upload_id: new_upload_id(),
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            initiator: user.name.clone(),
            initiated_ms: now_ms(),
            template,
            checksum_algorithm: algorithm.map(|a| a.name().to_owned()),
            checksum_type: kind.map(str::to_owned),
        };
        let upload_id = upload.upload_id.clone();
        let reported = encryption::reported(&upload.template);
        let echo = encryption::customer_echo(mode.customer());
        let (ssekms_key_id, bucket_key_enabled) = encryption::kms_echo(&upload.template);
        self.blocking(move |meta, _| meta.create_upload(&upload).or_s3())
            .await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            server_side_encryption: reported,
            ssekms_key_id,
            bucket_key_enabled,
            sse_customer_algorithm: echo.0,
            sse_customer_key_md5: echo.1,
            checksum_algorithm: algorithm.map(|a| ChecksumAlgorithm::from(a.name().to_owned())),
            checksum_type: kind.map(|k| ChecksumType::from(k.to_owned())),
            ..Default::default()
        }))
    }

    pub(crate) async fn do_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let user = self.requester(&req)?;
        let trailers = req.trailing_headers.clone();
        let headers = req.headers.clone();
        let mut input = req.input;
        let sse_c = take_customer_headers!(input);
        let number = check_part_number(input.part_number)?;
        let (bucket_record, upload) = self
            .upload(
                &user,
                "s3:PutObject",
                &input.bucket,
                &input.key,
                &input.upload_id,
            )
            .await?;
        self.require_secure_transport(&req.extensions, sse_c.is_present())?;
        let mode = part_mode(sse_c)?;
        self.check_not_blocked(&bucket_record, &mode, &user, "s3:PutObject", &input.key)?;
        let content_md5 = checksum::content_md5(input.content_md5.as_deref())?;
        let mut request = checksum::requested(
            &headers,
            input.checksum_algorithm.as_ref().map(|a| a.as_str()),
        )?;
        if let Some(declared) = upload
            .checksum_algorithm
            .as_deref()
            .and_then(Algorithm::parse)
        {
            match &request {
                Some(r) if r.algorithm != declared => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                        declared.name().to_lowercase(),
                        r.algorithm.name().to_lowercase()
                    ));
                }
                Some(_) => {}
                None => {
                    request = Some(checksum::ChecksumRequest {
                        algorithm: declared,
                        expected: None,
                        in_trailer: false,
                    })
                }
            }
        }
        let (part_key, etag_mac) = self.upload_part_key(&upload, number, mode.customer(), &user)?;
        let opaque = opaque_etags(&upload);
        let ingested = body::ingest(
            self.blobs.clone(),
            part_key,
            input.body,
            body::EtagDigests {
                md5: !opaque || content_md5.is_some(),
                mac: etag_mac,
            },
            request.as_ref().map(|r| r.algorithm),
            MAX_PUT_SIZE,
            input.content_length,
        )
        .await?;
        let sum = verify_ingested(
            self,
            &ingested,
            content_md5,
            request.as_ref(),
            trailers.as_ref(),
        )?;
        let etag = Self::part_etag(&upload, &ingested)?;
        self.store_part(
            &input.upload_id,
            number,
            ingested,
            etag.clone(),
            sum.clone(),
            now_ms(),
        )
        .await?;
        let sums = checksum::to_dto(sum.as_ref());
        let echo = encryption::customer_echo(mode.customer());
        let kms_echo = encryption::kms_echo(&upload.template);
        Ok(S3Response::new(UploadPartOutput {
            server_side_encryption: encryption::reported(&upload.template),
            ssekms_key_id: kms_echo.0,
            bucket_key_enabled: kms_echo.1,
            sse_customer_algorithm: echo.0,
            sse_customer_key_md5: echo.1,
            e_tag: Some(ETag::Strong(etag)),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            ..Default::default()
        }))
    }

    pub(crate) async fn do_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let user = self.requester(&req)?;
        let mut input = req.input;
        let target_headers = take_customer_headers!(input);
        let source_headers = take_customer_headers!(copy_source input);
        let number = check_part_number(input.part_number)?;
        let (bucket_record, upload) = self
            .upload(
                &user,
                "s3:PutObject",
                &input.bucket,
                &input.key,
                &input.upload_id,
            )
            .await?;
        self.require_secure_transport(
            &req.extensions,
            target_headers.is_present() || source_headers.is_present(),
        )?;
        let mode = part_mode(target_headers)?;
        let source_customer = source_headers.parse(Purpose::Read)?;
        self.check_not_blocked(&bucket_record, &mode, &user, "s3:PutObject", &input.key)?;
        let (source_bucket, source_key, source) = self
            .copy_source(
                &user,
                &input.copy_source,
                Preconditions {
                    if_match: input.copy_source_if_match,
                    if_none_match: input.copy_source_if_none_match,
                    if_modified_since: input.copy_source_if_modified_since,
                    if_unmodified_since: input.copy_source_if_unmodified_since,
                },
            )
            .await?;
        let (offset, len) = match input.copy_source_range.as_deref() {
            None => (0, source.size),
            Some(r) => parse_copy_range(r, source.size)?,
        };
        if len > MAX_PUT_SIZE {
            return Err(s3_error!(
                EntityTooLarge,
                "Part exceeds the maximum allowed size"
            ));
        }
        let algorithm = upload
            .checksum_algorithm
            .as_deref()
            .and_then(Algorithm::parse);
        let (part_key, etag_mac) = self.upload_part_key(&upload, number, mode.customer(), &user)?;
        let source_data = self.source_data(
            &source_bucket,
            &source_key,
            &source,
            source_customer.as_ref(),
            &user,
        )?;
        let ingested = body::copy_range(
            self.blobs.clone(),
            source_data,
            offset,
            len,
            part_key,
            body::EtagDigests {
                md5: !opaque_etags(&upload),
                mac: etag_mac,
            },
            algorithm,
        )
        .await?;
        let etag = Self::part_etag(&upload, &ingested)?;
        let sum = match (algorithm, &ingested.checksum) {
            (Some(a), Some(raw)) => Some(ChecksumRecord {
                algorithm: a.name().to_owned(),
                value: checksum::b64(raw),
                kind: "FULL_OBJECT".to_owned(),
            }),
            _ => None,
        };
        let now = now_ms();
        self.store_part(
            &input.upload_id,
            number,
            ingested,
            etag.clone(),
            sum.clone(),
            now,
        )
        .await?;
        let sums = checksum::to_dto(sum.as_ref());
        let echo = encryption::customer_echo(mode.customer());
        // The upload's KMS key and bucket-key use, as UploadPart reports them.
        let (ssekms_key_id, bucket_key_enabled) = encryption::kms_echo(&upload.template);
        Ok(S3Response::new(UploadPartCopyOutput {
            ssekms_key_id,
            bucket_key_enabled,
            sse_customer_algorithm: echo.0,
            sse_customer_key_md5: echo.1,
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(etag)),
                last_modified: Some(timestamp(now)),
                checksum_crc32: sums.checksum_crc32,
                checksum_crc32c: sums.checksum_crc32c,
                checksum_crc64nvme: sums.checksum_crc64nvme,
                checksum_sha1: sums.checksum_sha1,
                checksum_sha256: sums.checksum_sha256,
            }),
            server_side_encryption: encryption::reported(&upload.template),
            ..Default::default()
        }))
    }

    pub(crate) async fn do_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let user = self.requester(&req)?;
        let mut input = req.input;
        let sse_c = take_customer_headers!(input);
        let requested = input
            .multipart_upload
            .take()
            .and_then(|m| m.parts)
            .unwrap_or_default();
        let upload = match self
            .upload(
                &user,
                "s3:PutObject",
                &input.bucket,
                &input.key,
                &input.upload_id,
            )
            .await
        {
            Ok((_, upload)) => upload,
            // A retry of a completion that succeeded gets its answer again.
            Err(e) if *e.code() == s3s::S3ErrorCode::NoSuchUpload => {
                return self.completed_again(&input, &requested).await;
            }
            Err(e) => return Err(e),
        };
        self.require_secure_transport(&req.extensions, sse_c.is_present())?;
        // A key that is sent must be the upload's. S3 needs it for an SSE-C upload created
        // with a checksum algorithm ("required only when the object was created using a
        // checksum algorithm or if your bucket policy requires the use of SSE-C"; the policy
        // sees the request's SSE-C headers as `s3:x-amz-server-side-encryption-customer-*`).
        match sse_c.parse(Purpose::Write)? {
            Some(customer) => {
                self.upload_part_key(&upload, 1, Some(&customer), &user)?;
            }
            None if encryption::is_customer(upload.template.encryption.as_ref())
                && upload.checksum_algorithm.is_some() =>
            {
                return Err(s3_error!(
                    InvalidRequest,
                    "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters."
                ));
            }
            None => {}
        }
        if requested.is_empty() {
            return Err(crate::error::malformed_xml());
        }
        let id = input.upload_id.clone();
        let stored = self
            .blocking(move |meta, _| meta.list_parts(&id).or_s3())
            .await?;
        // S3's order of checks: the list's order, then that each part exists with its ETag,
        // then the minimum size of every part but the last.
        let mut numbers = Vec::with_capacity(requested.len());
        for p in &requested {
            let n = p
                .part_number
                .ok_or_else(|| s3_error!(MalformedXML, "Each part must name its PartNumber"))?;
            if numbers.last().is_some_and(|&prev| n <= prev) {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number."
                ));
            }
            numbers.push(n);
        }
        let mut parts: Vec<StoredPart> = Vec::with_capacity(requested.len());
        for (p, n) in requested.iter().zip(&numbers) {
            let found = stored
                .iter()
                .find(|s| s.part.number as i32 == *n)
                .filter(|s| p.e_tag.as_ref().is_none_or(|e| e.value() == s.part.md5_hex))
                .ok_or_else(|| {
                    s3_error!(
                        InvalidPart,
                        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
                    )
                })?;
            parts.push(found.part.clone());
        }
        if parts[..parts.len() - 1]
            .iter()
            .any(|p| p.size < MIN_PART_SIZE)
        {
            return Err(s3_error!(
                EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed object size."
            ));
        }
        let size: u64 = parts.iter().map(|p| p.size).sum();
        if let Some(expected) = input.mpu_object_size
            && expected as u64 != size
        {
            return Err(s3_error!(
                InvalidRequest,
                "The provided 'x-amz-mp-object-size' header value {expected} does not match what was computed: {size}"
            ));
        }
        let mut md5 = md5::Md5::new();
        for p in &parts {
            md5.update(hex::decode(&p.md5_hex).map_err(crate::error::internal)?);
        }
        let etag = format!("{}-{}", hex::encode(md5.finalize()), parts.len());
        let object_checksum = multipart_checksum(&upload, &parts)?;
        let sent = [
            (Algorithm::Crc32, &input.checksum_crc32),
            (Algorithm::Crc32c, &input.checksum_crc32c),
            (Algorithm::Crc64Nvme, &input.checksum_crc64nvme),
            (Algorithm::Sha1, &input.checksum_sha1),
            (Algorithm::Sha256, &input.checksum_sha256),
        ]
        .into_iter()
        .find_map(|(a, v)| v.as_ref().map(|v| (a, v)));
        if let Some((algorithm, value)) = sent {
            match &object_checksum {
                Some(c) if c.algorithm == algorithm.name() && &c.value != value => {
                    return Err(s3_error!(
                        BadDigest,
                        "The {} you specified did not match the calculated checksum.",
                        algorithm.name()
                    ));
                }
                Some(c) if c.algorithm == algorithm.name() => {}
                // An upload declared with one algorithm cannot be completed with another.
                _ if upload.checksum_algorithm.is_some() => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                        upload
                            .checksum_algorithm
                            .as_deref()
                            .unwrap_or_default()
                            .to_lowercase(),
                        algorithm.name().to_lowercase()
                    ));
                }
                _ => {}
            }
        }
        let condition =
            conditions::write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let record = ObjectRecord {
            size,
            etag: etag.clone(),
            last_modified_ms: now_ms(),
            parts,
            multipart: true,
            checksum: object_checksum,
            ..upload.template
        };
        let (ssekms_key_id, bucket_key_enabled) = encryption::kms_echo(&record);
        let completed = CompletedUploadRecord {
            v: coffer_store::RECORD_VERSION,
            upload_id: input.upload_id.clone(),
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            completed_ms: record.last_modified_ms,
            parts: record
                .parts
                .iter()
                .map(|p| (p.number, p.md5_hex.clone()))
                .collect(),
            etag,
            checksum: record.checksum.clone(),
            server_side_encryption: encryption::reported(&record).map(|s| s.as_str().to_owned()),
            kms_key_arn: ssekms_key_id,
            bucket_key_enabled: bucket_key_enabled.unwrap_or(false),
        };
        let id = input.upload_id.clone();
        let done = completed.clone();
        let freed = self
            .blocking(move |meta, _| {
                meta.complete_upload(&id, &record, &condition, &done)
                    .or_s3()
            })
            .await;
        let freed = match freed {
            Ok(freed) => freed,
            // Completed meanwhile by a concurrent retry of this request.
            Err(e) if *e.code() == s3s::S3ErrorCode::NoSuchUpload => {
                return self.completed_again(&input, &requested).await;
            }
            Err(e) => return Err(e),
        };
        self.release_blobs(freed);
        Ok(S3Response::new(completion_output(&completed)))
    }

    /// A CompleteMultipartUpload of an upload that is gone: if it was completed lately with
    /// the same part list, the answer it got then (S3 answers a retried completion alike);
    /// otherwise `NoSuchUpload`, as S3 answers a different list for a completed upload.
    async fn completed_again(
        &self,
        input: &CompleteMultipartUploadInput,
        requested: &[CompletedPart],
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let id = input.upload_id.clone();
        let done = self
            .blocking(move |meta, _| meta.get_completed_upload(&id).or_s3())
            .await?
            .filter(|d| {
                d.bucket == input.bucket
                    && d.key == input.key
                    && now_ms() - d.completed_ms < coffer_store::COMPLETED_UPLOAD_RETENTION_MS
                    && d.parts.len() == requested.len()
                    && d.parts.iter().zip(requested).all(|((n, etag), p)| {
                        p.part_number == Some(*n as i32)
                            && p.e_tag.as_ref().is_none_or(|e| e.value() == etag)
                    })
            })
            .ok_or_else(no_such_upload)?;
        Ok(S3Response::new(completion_output(&done)))
    }
    pub(crate) async fn do_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let user = self.requester(&req)?;
        let input = req.input;
        self.upload(
            &user,
            "s3:AbortMultipartUpload",
            &input.bucket,
            &input.key,
            &input.upload_id,
        )
        .await?;
        let id = input.upload_id;
        let freed = self
            .blocking(move |meta, _| meta.abort_upload(&id).or_s3())
            .await?;
        self.release_blobs(freed);
        Ok(S3Response::with_status(
            AbortMultipartUploadOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    pub(crate) async fn do_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let user = self.requester(&req)?;
        let input = req.input;
        let (_, upload) = self
            .upload(
                &user,
                "s3:ListMultipartUploadParts",
                &input.bucket,
                &input.key,
                &input.upload_id,
            )
            .await?;
        let id = input.upload_id.clone();
        let parts = self
            .blocking(move |meta, _| meta.list_parts(&id).or_s3())
            .await?;
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let after: Vec<_> = parts
            .into_iter()
            .filter(|p| p.part.number > marker)
            .collect();
        let truncated = after.len() > max;
        let page: Vec<Part> = after
            .into_iter()
            .take(max)
            .map(|p| {
                let sums = checksum::to_dto(p.part.checksum.as_ref());
                Part {
                    e_tag: Some(ETag::Strong(p.part.md5_hex.clone())),
                    last_modified: Some(timestamp(p.last_modified_ms)),
                    part_number: Some(p.part.number as i32),
                    size: Some(p.part.size as i64),
                    checksum_crc32: sums.checksum_crc32,
                    checksum_crc32c: sums.checksum_crc32c,
                    checksum_crc64nvme: sums.checksum_crc64nvme,
                    checksum_sha1: sums.checksum_sha1,
                    checksum_sha256: sums.checksum_sha256,
                }
            })
            .collect();
        let owner = self.owner(&upload.initiator);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            is_truncated: Some(truncated),
            max_parts: Some(max as i32),
            part_number_marker: Some(marker as i32),
            next_part_number_marker: page.last().and_then(|p| p.part_number),
            initiator: Some(Initiator {
                display_name: owner.display_name.clone(),
                id: owner.id.clone(),
            }),
            owner: Some(owner),
            storage_class: Some(StorageClass::from("STANDARD".to_owned())),
            checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
            checksum_type: upload.checksum_type.map(ChecksumType::from),
            parts: Some(page),
            ..Default::default()
        }))
    }

    pub(crate) async fn do_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let user = self.requester(&req)?;
        let input = req.input;
        self.bucket_for(&user, &input.bucket, "s3:ListBucketMultipartUploads", None)
            .await?;
        let bucket = input.bucket.clone();
        let uploads = self
            .blocking(move |meta, _| meta.list_uploads(&bucket).or_s3())
            .await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let id_marker = input.upload_id_marker.clone().unwrap_or_default();
        let max = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let mut page = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        // The last entry shown, upload or common prefix: where the next page resumes.
        let mut last: Option<(String, Option<String>)> = None;
        for u in uploads.into_iter().filter(|u| u.key.starts_with(&prefix)) {
            let past_marker = key_marker.is_empty()
                || u.key > key_marker
                || (u.key == key_marker && !id_marker.is_empty() && u.upload_id > id_marker);
            if !past_marker {
                continue;
            }
            let cp = delimiter.as_deref().and_then(|d| {
                u.key[prefix.len()..]
                    .find(d)
                    .map(|i| u.key[..prefix.len() + i + d.len()].to_owned())
            });
            if cp.is_some() && (prefixes.last() == cp.as_ref() || cp.as_ref() == Some(&key_marker))
            {
                continue;
            }
            if page.len() + prefixes.len() == max {
                truncated = true;
                break;
            }
            match cp {
                Some(cp) => {
                    last = Some((cp.clone(), None));
                    prefixes.push(cp);
                }
                None => {
                    last = Some((u.key.clone(), Some(u.upload_id.clone())));
                    page.push(u);
                }
            }
        }
        let enc = |s: String| match input.encoding_type.as_ref().map(|e| e.as_str()) {
            Some("url") => crate::object::url_encode(&s),
            _ => s,
        };
        let (next_key_marker, next_upload_id_marker) = match (truncated, last) {
            (true, Some((k, id))) => (Some(enc(k)), id),
            _ => (None, None),
        };
        let uploads = page
            .into_iter()
            .map(|u| {
                let owner = self.owner(&u.initiator);
                MultipartUpload {
                    initiated: Some(timestamp(u.initiated_ms)),
                    initiator: Some(Initiator {
                        display_name: owner.display_name.clone(),
                        id: owner.id.clone(),
                    }),
                    key: Some(enc(u.key)),
                    owner: Some(owner),
                    storage_class: Some(StorageClass::from("STANDARD".to_owned())),
                    upload_id: Some(u.upload_id),
                    checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
                    checksum_type: u.checksum_type.map(ChecksumType::from),
                }
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix.map(enc),
            delimiter: input.delimiter.map(enc),
            key_marker: input.key_marker.map(enc),
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            next_key_marker,
            next_upload_id_marker,
            uploads: Some(uploads),
            common_prefixes: Some(
                prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(enc(p)),
                    })
                    .collect(),
            ),
            encoding_type: input.encoding_type,
            request_charged: None,
        }))
    }
}

/// `bytes=first-last` within an object of `size` bytes, as (offset, length).
fn parse_copy_range(range: &str, size: u64) -> S3Result<(u64, u64)> {
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "Range specified is not valid for source object of size: {size}"
        )
    };
    let spec = range.strip_prefix("bytes=").ok_or_else(invalid)?;
    let (a, b) = spec.split_once('-').ok_or_else(invalid)?;
    let first: u64 = a.trim().parse().map_err(|_| invalid())?;
    let last: u64 = b.trim().parse().map_err(|_| invalid())?;
    if first > last || last >= size {
        return Err(invalid());
    }
    Ok((first, last - first + 1))
}

/// The object checksum of a completed upload: what the client declared at creation (composite
/// or full-object), else S3's default full-object CRC64NVME.
fn multipart_checksum(
    upload: &UploadRecord,
    parts: &[StoredPart],
) -> S3Result<Option<ChecksumRecord>> {
    let declared = upload
        .checksum_algorithm
        .as_deref()
        .and_then(Algorithm::parse);
    let Some(algorithm) = declared else {
        let crcs: Option<Vec<(u64, u64)>> = parts
            .iter()
            .map(|p| p.crc64nvme.map(|c| (c, p.size)))
            .collect();
        return Ok(crcs.map(|c| checksum::default_record(checksum::combine_crc64nvme(c))));
    };
    let values: Vec<String> = parts
        .iter()
        .map(|p| {
            p.checksum
                .as_ref()
                .filter(|c| c.algorithm == algorithm.name())
                .map(|c| c.value.clone())
                .ok_or_else(|| {
                    s3_error!(
                        InvalidRequest,
                        "The upload was created using a {} checksum. The complete request must include the checksum for each part.",
                        algorithm.name().to_lowercase()
                    )
                })
        })
        .collect::<S3Result<_>>()?;
    let kind = upload.checksum_type.as_deref().unwrap_or("COMPOSITE");
    let value = if kind == "FULL_OBJECT" {
        let raw = values
            .iter()
            .zip(parts)
            .map(|(v, p)| checksum::decode(v).map(|r| (r, p.size)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| crate::error::internal("stored part checksum is not base64"))?;
        let combined = checksum::combine_crc(algorithm, raw)
            .ok_or_else(|| crate::error::internal("cannot combine part checksums"))?;
        checksum::b64(&combined)
    } else {
        checksum::composite(algorithm, &values)?
    };
    Ok(Some(ChecksumRecord {
        algorithm: algorithm.name().to_owned(),
        value,
        kind: kind.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges_must_lie_inside_the_source() {
        assert_eq!(parse_copy_range("bytes=0-9", 10).unwrap(), (0, 10));
        assert_eq!(parse_copy_range("bytes=5-5", 10).unwrap(), (5, 1));
        for bad in ["bytes=0-10", "bytes=5-4", "0-3", "bytes=-3", "bytes=a-b"] {
            assert!(parse_copy_range(bad, 10).is_err(), "{bad}");
        }
    }
}
