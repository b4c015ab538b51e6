//! CopyObject. A copy shares the source's blobs (records count references), so it costs a
//! metadata transaction, not a rewrite of the data.

use coffer_store::ObjectRecord;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::checksum;
use crate::conditions::{Context, Preconditions};
use crate::encryption;
use crate::error::{OrS3, no_such_key};
use crate::object::{ObjectHeaders, check_key, now_ms, timestamp};
use crate::service::CofferS3;

impl CofferS3 {
    /// Resolves a copy source the caller may read, with its record.
    pub(crate) async fn copy_source(
        &self,
        user: &crate::User,
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
        self.owned_bucket(user, &bucket).await?;
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
        let user = self.caller(&req)?;
        let input = req.input;
        self.owned_bucket(&user, &input.bucket).await?;
        check_key(&input.key)?;
        encryption::requested_mode(
            input.server_side_encryption.as_ref(),
            input
                .sse_customer_algorithm
                .as_deref()
                .or(input.copy_source_sse_customer_algorithm.as_deref()),
            input.ssekms_key_id.as_deref(),
        )?;
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
        // Naming an encryption, even the current one, counts as a change (SPEC §3.6).
        if in_place
            && !replace
            && new_class.is_none()
            && input.website_redirect_location.is_none()
            && input.server_side_encryption.is_none()
        {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let mut record = if replace {
            ObjectHeaders {
                content_type: input.content_type,
                content_encoding: input.content_encoding,
                content_disposition: input.content_disposition,
                content_language: input.content_language,
                cache_control: input.cache_control,
                expires: input.expires,
                website_redirect_location: input.website_redirect_location,
                metadata: input.metadata,
                storage_class: new_class,
            }
            .into_record()?
        } else {
            let mut r = source.clone();
            if new_class.is_some() {
                r.storage_class = ObjectHeaders {
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
        record.size = source.size;
        record.etag = source.etag.clone();
        record.parts = source.parts.clone();
        record.multipart = source.multipart;
        record.checksum = source.checksum.clone();
        record.last_modified_ms = now_ms();
        // The copy shares the source's sealed segments; only its data key is re-sealed, bound
        // to the destination's name and the current master-key version.
        record.encryption =
            match self.open_data_key(&src_bucket, &src_key, source.encryption.as_ref())? {
                Some(dek) => Some(self.seal_data_key(&dek, &input.bucket, &input.key)?),
                None => None,
            };

        let source_blobs: Vec<_> = source.blobs().cloned().collect();
        let (bucket, key, committed) = (input.bucket, input.key, record.clone());
        let freed = self
            .blocking(move |meta, _| {
                meta.copy_object(
                    (&src_bucket, &src_key),
                    &source_blobs,
                    (&bucket, &key),
                    &committed,
                )
                .or_s3()
            })
            .await?;
        self.release_blobs(freed);
        let sums = checksum::to_dto(record.checksum.as_ref());
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
            ..Default::default()
        }))
    }
}
