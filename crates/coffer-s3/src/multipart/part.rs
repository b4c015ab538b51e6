//! UploadPart and UploadPartCopy: each part is sealed under a key derived from the upload's
//! data key, and recorded under its number (replacing an earlier upload of it).

use coffer_store::{ChecksumRecord, PartRecord, StoredPart, UploadRecord};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::{check_part_number, opaque_etags};
use crate::body::{self, MAX_PUT_SIZE};
use crate::checksum::{self, Algorithm};
use crate::conditions::Preconditions;
use crate::error::OrS3;
use crate::object::{now_ms, timestamp};
use crate::put::verify_ingested;
use crate::service::CofferS3;
use crate::sse::customer_key::{CustomerHeaders, CustomerKey, Purpose, take_customer_headers};
use crate::sse::encryption::{self, WriteMode};

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
    pub(super) async fn upload_part_key(
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
            .await
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
                inline: None,
            },
            last_modified_ms,
        };
        let upload_id = upload_id.to_owned();
        match self.meta.put_part(&upload_id, &part).await.or_s3() {
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
        let (part_key, etag_mac) = self
            .upload_part_key(&upload, number, mode.customer(), &user)
            .await?;
        let opaque = opaque_etags(&upload);
        let ingested = body::ingest(
            body::Destination::part(self.blobs.clone()),
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
        let (part_key, etag_mac) = self
            .upload_part_key(&upload, number, mode.customer(), &user)
            .await?;
        let source_data = self
            .source_data(
                &source_bucket,
                &source_key,
                &source,
                source_customer.as_ref(),
                &user,
                None,
            )
            .await?;
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
