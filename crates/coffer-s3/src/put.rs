//! PutObject (and browser POST uploads, which `s3s` turns into a PutObject).

use coffer_store::{ChecksumRecord, ObjectRecord, StoredPart, WriteCondition};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use subtle::ConstantTimeEq;

use crate::body::{self, Ingested, MAX_PUT_SIZE};
use crate::checksum::{self, ChecksumRequest};
use crate::conditions;
use crate::content_headers::content_headers;
use crate::error::OrS3;
use crate::object::{check_key, now_ms};
use crate::service::CofferS3;
use crate::sse::customer_key::take_customer_headers;
use crate::sse::encryption::{self, EncryptionHeaders, WriteMode};

/// Buckets here have no Object Lock configuration, so lock settings are refused as S3
/// refuses them on such a bucket, never accepted and silently dropped.
pub(crate) fn refuse_object_lock(requested: bool) -> S3Result<()> {
    if requested {
        return Err(s3_error!(
            InvalidRequest,
            "Bucket is missing Object Lock Configuration"
        ));
    }
    Ok(())
}

/// Checks an ingested body against Content-MD5 and the requested checksum. On mismatch the
/// new blob is dropped before the error is returned.
pub(crate) fn verify_ingested(
    svc: &CofferS3,
    ingested: &Ingested,
    content_md5: Option<[u8; 16]>,
    request: Option<&ChecksumRequest>,
    trailers: Option<&s3s::TrailingHeaders>,
) -> S3Result<Option<ChecksumRecord>> {
    let result = (|| {
        if let Some(expected) = content_md5
            && !ingested
                .md5
                .is_some_and(|got| bool::from(expected.ct_eq(&got)))
        {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
        match (request, &ingested.checksum) {
            (Some(r), Some(raw)) => {
                let value = checksum::b64(raw);
                checksum::verify(r, &value, trailers)?;
                Ok(Some(ChecksumRecord {
                    algorithm: r.algorithm.name().to_owned(),
                    value,
                    kind: "FULL_OBJECT".to_owned(),
                }))
            }
            _ => Ok(None),
        }
    })();
    if result.is_err() {
        svc.release_blobs(ingested.new_blobs());
    }
    result
}

impl CofferS3 {
    pub(crate) async fn do_put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        // A browser POST carries its tags in a form field, as an XML document.
        let post = req.method == http::Method::POST;
        let request_tags = crate::tagging::requested_for_policy(req.input.tagging.as_deref(), post);
        let user = self
            .requester(&req)?
            .with_encryption(
                req.input
                    .server_side_encryption
                    .as_ref()
                    .map(|s| s.as_str()),
                req.input.ssekms_key_id.as_deref(),
                req.input.sse_customer_algorithm.as_deref(),
            )
            .with_request_tags(request_tags.as_ref());
        // The bucket policy comes first: a denied request learns nothing about its headers.
        let kms_id = self.kms_record_to_read(
            req.input.server_side_encryption.as_ref(),
            req.input.ssekms_key_id.as_deref(),
        );
        let (bucket_record, key_read) = self
            .bucket_and_key_for(
                &user,
                &req.input.bucket,
                "s3:PutObject",
                Some(&req.input.key),
                kms_id,
            )
            .await?;
        self.check_object_acl(
            &bucket_record.owner,
            req.input.acl.as_ref(),
            (&req.input).into(),
        )?;
        self.require_secure_transport(
            &req.extensions,
            req.input.sse_customer_algorithm.is_some()
                || req.input.sse_customer_key.is_some()
                || req.input.sse_customer_key_md5.is_some(),
        )?;
        let origin = self.request_origin(&req);
        let trailers = req.trailing_headers;
        let headers = req.headers;
        let mut input = req.input;
        check_key(&input.key)?;
        let sse_requested = input.server_side_encryption.is_some()
            || input.sse_customer_algorithm.is_some()
            || input.sse_customer_key.is_some();
        let mode = encryption::requested_mode(
            EncryptionHeaders {
                sse: input.server_side_encryption.as_ref(),
                customer: take_customer_headers!(input),
                kms_key: input.ssekms_key_id.as_deref(),
                kms_context: input.ssekms_encryption_context.as_deref(),
                bucket_key: input.bucket_key_enabled,
            },
            &bucket_record,
        )?;
        self.check_not_blocked(&bucket_record, &mode, &user, "s3:PutObject", &input.key)?;
        refuse_object_lock(
            input.object_lock_mode.is_some()
                || input.object_lock_retain_until_date.is_some()
                || input.object_lock_legal_hold_status.is_some(),
        )?;
        if input.write_offset_bytes.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "Appending to objects is not supported"
            ));
        }
        if input
            .content_length
            .is_some_and(|n| n < 0 || n as u64 > MAX_PUT_SIZE)
        {
            return Err(s3_error!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed object size."
            ));
        }
        let content_md5 = checksum::content_md5(input.content_md5.as_deref())?;
        let checksum_request = checksum::requested(
            &headers,
            input.checksum_algorithm.as_ref().map(|a| a.as_str()),
        )?;
        let tags = crate::tagging::requested(input.tagging.as_deref(), post)?;
        let template = content_headers!(input, tags: tags).into_record()?;

        let (bucket, key) = (input.bucket, input.key);
        let condition =
            conditions::write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        if condition != WriteCondition::Always {
            let existing = self.load_object(&bucket, &key).await?;
            conditions::check_early(existing.as_ref(), &condition)?;
        }

        let (dek, sealed_key) = self
            .new_data_key(&bucket, &key, &mode, &user, key_read)
            .await?;
        let ingested = body::ingest(
            body::Destination::object(self.blobs.clone()),
            dek.part_key(1),
            input.body,
            body::EtagDigests {
                md5: matches!(mode, WriteMode::SseS3) || content_md5.is_some(),
                mac: (!matches!(mode, WriteMode::SseS3)).then(|| dek.etag_mac()),
            },
            checksum_request.as_ref().map(|r| r.algorithm),
            MAX_PUT_SIZE,
            input.content_length,
        )
        .await?;
        let requested = verify_ingested(
            self,
            &ingested,
            content_md5,
            checksum_request.as_ref(),
            trailers.as_ref(),
        )?;
        // Only SSE-S3 ETags are the plaintext's MD5 (SPEC §3.1); the others are a keyed
        // digest under the object's own data key.
        let etag = match mode {
            WriteMode::SseS3 => ingested.md5,
            WriteMode::Customer(_) | WriteMode::Kms(_) => ingested.etag_mac,
        }
        .map(hex::encode)
        .ok_or_else(|| crate::error::internal("body without its ETag digest"))?;
        let record = ObjectRecord {
            size: ingested.size,
            etag: etag.clone(),
            last_modified_ms: now_ms(),
            checksum: Some(
                requested
                    .clone()
                    .unwrap_or_else(|| checksum::default_record(ingested.crc64nvme)),
            ),
            parts: vec![StoredPart {
                number: 1,
                size: ingested.size,
                md5_hex: etag,
                blob: ingested.blob,
                checksum: requested,
                crc64nvme: Some(ingested.crc64nvme),
                inline: ingested.inline,
            }],
            encryption: Some(sealed_key),
            ..template
        };
        let etag = record.etag.clone();
        let sums = checksum::to_dto(record.checksum.as_ref());
        let (sse_customer_algorithm, sse_customer_key_md5) =
            encryption::customer_echo(mode.customer());
        let (ssekms_key_id, bucket_key_enabled) = encryption::kms_echo(&record);
        let committed = record.clone();
        let applied = crate::data_events::sse_applied(&mode, sse_requested);
        let (event_bucket, event_key) = (bucket.clone(), key.clone());
        let freed = self
            .write_in_bucket(&bucket_record, || {
                (self.meta).put_object_in_bucket(&bucket_record, &key, &committed, &condition)
            })
            .await
            .or_s3();
        let freed = match freed {
            Ok(f) => f,
            Err(e) => {
                self.release_blobs(record.blobs().cloned().collect());
                return Err(e);
            }
        };
        self.release_blobs(freed);
        self.data_event(
            origin,
            &user,
            "PutObject",
            &event_bucket,
            &event_key,
            Some(applied),
        )
        .await?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            checksum_type: sums.checksum_type,
            server_side_encryption: encryption::reported(&record),
            ssekms_key_id,
            bucket_key_enabled,
            sse_customer_algorithm,
            sse_customer_key_md5,
            ..Default::default()
        }))
    }

    pub(crate) async fn load_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> S3Result<Option<ObjectRecord>> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        self.meta.get_object(&b, &k).await.or_s3()
    }
}
