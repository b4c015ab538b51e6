//! Bucket operations: create, delete, head, list, location.

use coffer_store::{BucketRecord, StoreError};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::error::OrS3;
use crate::object::{now_ms, timestamp};
use crate::service::CofferS3;

impl CofferS3 {
    pub(crate) async fn do_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let user = self.requester(&req)?;
        let input = req.input;
        if input.object_lock_enabled_for_bucket == Some(true) {
            return Err(s3_error!(
                NotImplemented,
                "Object Lock is not supported by this server."
            ));
        }
        self.check_new_bucket_acl(&user.name, &input)?;
        let region = &self.identity.region;
        if let Some(constraint) = input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
        {
            // us-east-1 is the one region named by leaving the constraint out.
            let named = constraint.as_str();
            if named != region || region == "us-east-1" {
                return Err(s3_error!(
                    IllegalLocationConstraintException,
                    "The {named} location constraint is incompatible for the region specific endpoint this request was sent to."
                ));
            }
        }
        let record = BucketRecord {
            v: coffer_store::RECORD_VERSION,
            name: input.bucket.clone(),
            owner: user.name.clone(),
            region: region.clone(),
            created_ms: now_ms(),
            // AWS creates buckets with SSE-C blocked since April 2026; the operator chooses.
            encryption: self.options.block_sse_c_on_new_buckets.then(|| {
                coffer_store::BucketEncryption {
                    algorithm: crate::sse::encryption::SSE_S3.to_owned(),
                    kms_key_id: None,
                    bucket_key_enabled: false,
                    blocked_types: vec![crate::sse::encryption::BLOCK_SSE_C.to_owned()],
                }
            }),
            policy: None,
            tags: Default::default(),
        };
        let result = self.meta.create_bucket(&record).await;
        match result {
            Ok(()) => {}
            // us-east-1 keeps its legacy answer: re-creating your own bucket succeeds.
            Err(StoreError::BucketExists { owner }) if owner == user.name => {
                if region != "us-east-1" {
                    return Err(s3_error!(
                        BucketAlreadyOwnedByYou,
                        "Your previous request to create the named bucket succeeded and you already own it."
                    ));
                }
            }
            Err(StoreError::BucketExists { .. }) => {
                return Err(s3_error!(
                    BucketAlreadyExists,
                    "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
                ));
            }
            Err(e) => return Err(crate::error::store_error(e)),
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        }))
    }

    pub(crate) async fn do_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let user = self.requester(&req)?;
        let bucket = req.input.bucket;
        self.bucket_for(&user, &bucket, "s3:DeleteBucket", None)
            .await?;
        let freed = self.meta.delete_bucket(&bucket).await.or_s3()?;
        self.release_blobs(freed);
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    pub(crate) async fn do_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let user = self.requester(&req)?;
        let record = self
            .bucket_for(&user, &req.input.bucket, "s3:ListBucket", None)
            .await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(record.region),
            ..Default::default()
        }))
    }

    pub(crate) async fn do_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let user = self.requester(&req)?;
        let record = self
            .bucket_for(&user, &req.input.bucket, "s3:ListBucket", None)
            .await?;
        let location_constraint =
            (record.region != "us-east-1").then(|| BucketLocationConstraint::from(record.region));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint,
        }))
    }

    pub(crate) async fn do_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let user = self.requester(&req)?;
        let input = req.input;
        let all = self.meta.list_buckets().await.or_s3()?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = input.continuation_token.clone().unwrap_or_default();
        let max = input.max_buckets.unwrap_or(10_000).clamp(1, 10_000) as usize;
        let mine: Vec<BucketRecord> = all
            .into_iter()
            .filter(|b| b.owner == user.name && b.name.starts_with(&prefix) && b.name > after)
            .collect();
        let truncated = mine.len() > max;
        let page: Vec<Bucket> = mine
            .into_iter()
            .take(max)
            .map(|b| Bucket {
                bucket_region: Some(b.region),
                creation_date: Some(timestamp(b.created_ms)),
                name: Some(b.name),
            })
            .collect();
        let continuation_token = if truncated {
            page.last().and_then(|b| b.name.clone())
        } else {
            None
        };
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(page),
            continuation_token,
            owner: Some(self.owner(&user.name)),
            prefix: input.prefix,
        }))
    }
}

impl CofferS3 {
    /// Buckets are unversioned: an empty configuration, as S3 reports for a bucket that
    /// never had versioning enabled.
    pub(crate) async fn do_get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let user = self.requester(&req)?;
        self.bucket_for(&user, &req.input.bucket, "s3:GetBucketVersioning", None)
            .await?;
        Ok(S3Response::new(GetBucketVersioningOutput::default()))
    }
}
