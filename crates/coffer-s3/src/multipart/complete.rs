//! CompleteMultipartUpload: the listed parts become one object, with its ETag and checksum
//! composed from theirs; a retried completion gets the answer the first one got.

use coffer_store::{ChecksumRecord, CompletedUploadRecord, ObjectRecord, StoredPart, UploadRecord};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::{MIN_PART_SIZE, no_such_upload};
use crate::checksum::{self, Algorithm};
use crate::conditions::{self};
use crate::error::OrS3;
use crate::object::now_ms;
use crate::service::CofferS3;
use crate::sse::customer_key::{Purpose, take_customer_headers};
use crate::sse::encryption::{self};

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

impl CofferS3 {
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
                self.upload_part_key(&upload, 1, Some(&customer), &user)
                    .await?;
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
        let stored = self.meta.list_parts(&id).await.or_s3()?;
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
        let mut md5 = coffer_md5::Md5::new();
        for p in &parts {
            md5.update(&hex::decode(&p.md5_hex).map_err(crate::error::internal)?);
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
            .meta
            .complete_upload(&id, &record, &condition, &done)
            .await
            .or_s3();
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
            .meta
            .get_completed_upload(&id)
            .await
            .or_s3()?
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
