//! CreateMultipartUpload: the upload's content headers, checksum and encryption are fixed
//! here, and one data key is made for all its parts.

use coffer_store::{ObjectRecord, UploadRecord};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::checksum::Algorithm;
use crate::content_headers::content_headers;
use crate::error::OrS3;
use crate::object::{check_key, now_ms};
use crate::service::CofferS3;
use crate::sse::customer_key::take_customer_headers;
use crate::sse::encryption::{self, EncryptionHeaders};

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

impl CofferS3 {
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
        let (_, sealed_key) = self
            .new_data_key(&input.bucket, &input.key, &mode, &user, None)
            .await?;
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
        self.meta.create_upload(&upload).await.or_s3()?;
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
}
