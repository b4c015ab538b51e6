//! DeleteObject and DeleteObjects.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use coffer_store::WriteCondition;

use crate::error::OrS3;
use crate::service::CofferS3;

/// S3 accepts at most this many keys in one DeleteObjects request.
const MAX_DELETE_KEYS: usize = 1000;

impl CofferS3 {
    pub(crate) async fn do_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let user = self.requester(&req)?;
        let input = req.input;
        let decided = self
            .bucket_for_write(&user, &input.bucket, "s3:DeleteObject", Some(&input.key))
            .await?;
        let condition = crate::conditions::write_condition(input.if_match.as_ref(), None)?;
        let key = input.key;
        let (_, freed) = self
            .write_in_bucket(&decided, || {
                (self.meta).delete_object_in_bucket(&decided, &key, &condition)
            })
            .await
            .or_s3()?;
        self.release_blobs(freed);
        Ok(S3Response::with_status(
            DeleteObjectOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    pub(crate) async fn do_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let user = self.requester(&req)?;
        let input = req.input;
        let record = self.bucket_for_any_key(&user, &input.bucket).await?;
        let objects = input.delete.objects;
        if objects.is_empty() || objects.len() > MAX_DELETE_KEYS {
            return Err(crate::error::malformed_xml());
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let bucket = input.bucket;
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        let mut keys = Vec::new();
        for obj in objects {
            // Each key is its own s3:DeleteObject: a denied one is an error of its own.
            if !self.may(&user, &record, "s3:DeleteObject", Some(&obj.key)) {
                errors.push(Error {
                    code: Some("AccessDenied".to_owned()),
                    key: Some(obj.key),
                    message: Some("Access Denied".to_owned()),
                    version_id: obj.version_id,
                });
            } else if obj.version_id.as_deref().is_some_and(|v| v != "null") {
                // Buckets are unversioned: "null" is the only version there is.
                errors.push(Error {
                    code: Some("NoSuchVersion".to_owned()),
                    key: Some(obj.key),
                    message: Some("The specified version does not exist.".to_owned()),
                    version_id: obj.version_id,
                });
            } else if let Some(etag) = obj.e_tag {
                // A conditional delete (S3, 2024): needs s3:GetObject as well, and removes
                // the key only if it still has this ETag, atomically.
                if !self.may(&user, &record, "s3:GetObject", Some(&obj.key)) {
                    errors.push(Error {
                        code: Some("AccessDenied".to_owned()),
                        key: Some(obj.key),
                        message: Some("Access Denied".to_owned()),
                        version_id: obj.version_id,
                    });
                    continue;
                }
                let condition = WriteCondition::IfMatch(etag.value().to_owned());
                let (b, k) = (bucket.clone(), obj.key.clone());
                match self.meta.delete_object(&b, &k, &condition).await.or_s3() {
                    Ok((_, freed)) => {
                        self.release_blobs(freed);
                        deleted.push(DeletedObject {
                            key: Some(obj.key),
                            version_id: obj.version_id,
                            ..Default::default()
                        });
                    }
                    Err(e) if e.status_code().is_some_and(|s| s.is_client_error()) => {
                        errors.push(Error {
                            code: Some(e.code().as_str().to_owned()),
                            key: Some(obj.key),
                            message: e.message().map(str::to_owned),
                            version_id: obj.version_id,
                        });
                    }
                    Err(e) => return Err(e),
                }
            } else {
                keys.push((obj.key, obj.version_id));
            }
        }
        let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
        let (_, freed) = self.meta.delete_objects(&bucket, &names).await.or_s3()?;
        // Deleting a key that is not there succeeds, as on S3.
        deleted.extend(keys.into_iter().map(|(key, version_id)| DeletedObject {
            key: Some(key),
            version_id,
            ..Default::default()
        }));
        self.release_blobs(freed);
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: (!quiet).then_some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }
}
