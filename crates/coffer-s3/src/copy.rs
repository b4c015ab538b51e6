//! CopyObject. A copy shares the source's blobs (records count references), so it costs a
//! metadata transaction, not a rewrite of the data.

use coffer_store::{EncryptionRecord, ObjectRecord};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::body;
use crate::checksum;
use crate::conditions::{Context, Preconditions};
use crate::content_headers::{ContentHeaders, content_headers};
use crate::error::{OrS3, no_such_key};
use crate::object::{check_key, now_ms, timestamp};
use crate::service::CofferS3;
use crate::sse::customer_key::{Purpose, take_customer_headers};
use crate::sse::encryption::{self, EncryptionHeaders, WriteMode};

impl CofferS3 {
    /// Resolves a copy source the caller may read, with its record.
    pub(crate) async fn copy_source(
        &self,
        user: &crate::requester::Requester,
        source: &CopySource,
        conditions: Preconditions,
    ) -> S3Result<(String, String, ObjectRecord)> {
        let (bucket, key, version) = match source {
            CopySource::Bucket {
                bucket,
                key,
                version_id,
            } => (bucket.to_string(), key.to_string(), version_id.as_deref()),
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "Access point and Outpost copy sources are not supported"
                ));
            }
        };
        if version.is_some_and(|v| v != "null") {
            return Err(s3_error!(InvalidArgument, "Invalid version id specified"));
        }
        self.bucket_for_object(user, &bucket, "s3:GetObject", &key)
            .await?;
        let record = self
            .load_object(&bucket, &key)
            .await?
            .ok_or_else(no_such_key)?;
        conditions.check(&record, Context::CopySource)?;
        Ok((bucket, key, record))
    }

    pub(crate) async fn do_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        // `x-amz-tagging-directive`: COPY (the default) keeps the source's tags, REPLACE
        // takes the request's `x-amz-tagging`, none if it has none.
        let replace_tags = match req.input.tagging_directive.as_ref().map(|d| d.as_str()) {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => return Err(s3_error!(InvalidArgument, "Unknown tagging directive.")),
        };
        let request_tags = replace_tags
            .then(|| crate::tagging::requested_for_policy(req.input.tagging.as_deref(), false))
            .flatten();
        let user = self
            .requester(&req)?
            .with_request_tags(request_tags.as_ref());
        let mut input = req.input;
        let target_headers = take_customer_headers!(input);
        let source_headers = take_customer_headers!(copy_source input);
        let sse_c = target_headers.is_present() || source_headers.is_present();
        // The bucket policy first, then anything about the SSE headers.
        let bucket_record = self
            .bucket_for(&user, &input.bucket, "s3:PutObject", Some(&input.key))
            .await?;
        self.check_object_acl(&bucket_record.owner, input.acl.as_ref(), (&input).into())?;
        self.require_secure_transport(&req.extensions, sse_c)?;
        check_key(&input.key)?;
        // The target's encryption comes from the request or the destination bucket's
        // default, never from the source (SPEC §3.5).
        let mode = encryption::requested_mode(
            EncryptionHeaders {
                sse: input.server_side_encryption.as_ref(),
                customer: target_headers,
                kms_key: input.ssekms_key_id.as_deref(),
                kms_context: input.ssekms_encryption_context.as_deref(),
                bucket_key: input.bucket_key_enabled,
            },
            &bucket_record,
        )?;
        let source_customer = source_headers.parse(Purpose::Read)?;
        self.check_not_blocked(&bucket_record, &mode, &user, "s3:PutObject", &input.key)?;
        crate::put::refuse_object_lock(
            input.object_lock_mode.is_some()
                || input.object_lock_retain_until_date.is_some()
                || input.object_lock_legal_hold_status.is_some(),
        )?;
        let replace = match input.metadata_directive.as_ref().map(|d| d.as_str()) {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(_) => return Err(s3_error!(InvalidArgument, "Unknown metadata directive.")),
        };
        let (src_bucket, src_key, source) = self
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
        let in_place = src_bucket == input.bucket && src_key == input.key;
        let new_class = input.storage_class.as_ref().map(|s| s.as_str().to_owned());
        // Naming an encryption, even the current one, counts as a change (SPEC §3.6), and
        // so does a target SSE-C key: that is how a customer rotates theirs.
        if in_place
            && !replace
            && new_class.is_none()
            && input.website_redirect_location.is_none()
            && input.server_side_encryption.is_none()
            && mode.customer().is_none()
        {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let mut record = if replace {
            // The tags are decided below, by the tagging directive.
            content_headers!(input, tags: Default::default()).into_record()?
        } else {
            let mut r = source.clone();
            if new_class.is_some() {
                r.storage_class = ContentHeaders {
                    storage_class: new_class,
                    ..Default::default()
                }
                .into_record()?
                .storage_class;
            }
            if input.website_redirect_location.is_some() {
                r.website_redirect_location = input.website_redirect_location;
            }
            r
        };
        record.tags = if replace_tags {
            crate::tagging::from_header(input.tagging.as_deref().unwrap_or_default())?
        } else {
            source.tags.clone()
        };
        record.size = source.size;
        record.parts = source.parts.clone();
        // A copy is one object as S3 writes it, not the source's parts: its ETag is a
        // single-part one (below) and it has no parts to address.
        record.multipart = false;
        record.checksum = source.checksum.clone();
        record.last_modified_ms = now_ms();
        // The copy shares the source's sealed segments; only its data key is re-sealed, bound
        // to the destination's name and to the target's key (the current master-key version,
        // or the customer's new key).
        let source_key = self
            .open_data_key(
                &src_bucket,
                &src_key,
                source.encryption.as_ref(),
                source_customer.as_ref(),
                Some(&user),
            )
            .await?;
        record.etag = self
            .copy_etag(&src_bucket, &src_key, &source, &source_key, &mode)
            .await?;
        record.encryption = match &source_key {
            Some(dek) => {
                Some(self.seal_data_key(dek, &input.bucket, &input.key, &mode, &user, None)?)
            }
            None => None,
        };

        let source_blobs: Vec<_> = source.blobs().cloned().collect();
        let (bucket, key, committed) = (input.bucket, input.key, record.clone());
        let freed = self
            .meta
            .copy_object(
                (&src_bucket, &src_key),
                &source_blobs,
                (&bucket, &key),
                &committed,
            )
            .await
            .or_s3()?;
        self.release_blobs(freed);
        let sums = checksum::to_dto(record.checksum.as_ref());
        let echo = encryption::customer_echo(mode.customer());
        let kms_echo = encryption::kms_echo(&record);
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(record.etag.clone())),
                last_modified: Some(timestamp(record.last_modified_ms)),
                checksum_crc32: sums.checksum_crc32,
                checksum_crc32c: sums.checksum_crc32c,
                checksum_crc64nvme: sums.checksum_crc64nvme,
                checksum_sha1: sums.checksum_sha1,
                checksum_sha256: sums.checksum_sha256,
                checksum_type: sums.checksum_type,
            }),
            server_side_encryption: encryption::reported(&record),
            ssekms_key_id: kms_echo.0,
            bucket_key_enabled: kms_echo.1,
            sse_customer_algorithm: echo.0,
            sse_customer_key_md5: echo.1,
            ..Default::default()
        }))
    }

    /// A copy's ETag, always a single-part one as S3 gives copies (a multipart source's
    /// `…-N` does not carry over): an SSE-C or SSE-KMS target gets a fresh opaque one; an
    /// SSE-S3 target gets its plaintext's MD5, which a multipart, SSE-C or SSE-KMS source
    /// does not keep, so it is computed by reading the source (reading, not rewriting).
    async fn copy_etag(
        &self,
        bucket: &str,
        key: &str,
        source: &ObjectRecord,
        source_key: &Option<std::sync::Arc<coffer_crypto::DataKey>>,
        mode: &WriteMode,
    ) -> S3Result<String> {
        let source_opaque = source
            .encryption
            .as_ref()
            .is_some_and(EncryptionRecord::has_opaque_etags);
        match mode {
            WriteMode::Customer(_) | WriteMode::Kms(_) => encryption::opaque_etag(),
            WriteMode::SseS3 if !source_opaque && !source.multipart => Ok(source.etag.clone()),
            WriteMode::SseS3 => {
                let data = body::SourceData {
                    parts: source.parts.clone(),
                    key: source_key.clone(),
                    name: format!("{bucket}/{key}"),
                };
                let md5 = body::plaintext_md5(self.blobs.clone(), data, source.size).await?;
                Ok(hex::encode(md5))
            }
        }
    }
}
