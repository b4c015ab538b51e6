//! Bucket default encryption: PutBucketEncryption, GetBucketEncryption,
//! DeleteBucketEncryption (SPEC.md §4.2–4.3).

use coffer_store::BucketEncryption;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::encryption::SSE_S3;
use crate::error::OrS3;
use crate::service::CofferS3;

fn malformed() -> s3s::S3Error {
    s3_error!(
        MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

/// Validates the one rule a configuration must hold and turns it into what is stored.
fn rule_to_record(config: ServerSideEncryptionConfiguration) -> S3Result<BucketEncryption> {
    let [rule]: [ServerSideEncryptionRule; 1] = config.rules.try_into().map_err(|_| malformed())?;
    let (algorithm, kms_key_id) = match rule.apply_server_side_encryption_by_default {
        Some(d) => (d.sse_algorithm.as_str().to_owned(), d.kms_master_key_id),
        None => (SSE_S3.to_owned(), None),
    };
    match algorithm.as_str() {
        SSE_S3 if kms_key_id.is_some() => Err(s3_error!(
            InvalidArgument,
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
        )),
        SSE_S3 => Ok(BucketEncryption {
            algorithm,
            kms_key_id: None,
            bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
        }),
        "aws:kms" | "aws:kms:dsse" => Err(s3_error!(
            NotImplemented,
            "SSE-KMS bucket defaults are not supported by this server yet."
        )),
        _ => Err(malformed()),
    }
}

fn record_to_rule(e: Option<BucketEncryption>) -> ServerSideEncryptionConfiguration {
    let e = e.unwrap_or(BucketEncryption {
        algorithm: SSE_S3.to_owned(),
        kms_key_id: None,
        bucket_key_enabled: false,
    });
    ServerSideEncryptionConfiguration {
        rules: vec![ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                sse_algorithm: ServerSideEncryption::from(e.algorithm),
                kms_master_key_id: e.kms_key_id,
            }),
            bucket_key_enabled: Some(e.bucket_key_enabled),
        }],
    }
}

impl CofferS3 {
    pub(crate) async fn do_put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let user = self.caller(&req)?;
        let input = req.input;
        self.owned_bucket(&user, &input.bucket).await?;
        let record = rule_to_record(input.server_side_encryption_configuration)?;
        let bucket = input.bucket;
        self.blocking(move |meta, _| {
            meta.set_bucket_encryption(&bucket, Some(record.clone()))
                .or_s3()
        })
        .await?;
        Ok(S3Response::new(PutBucketEncryptionOutput::default()))
    }

    /// A bucket always has a configuration: never configured (or reset) is SSE-S3.
    pub(crate) async fn do_get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let user = self.caller(&req)?;
        let bucket = self.owned_bucket(&user, &req.input.bucket).await?;
        Ok(S3Response::new(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(record_to_rule(bucket.encryption)),
        }))
    }

    pub(crate) async fn do_delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        let user = self.caller(&req)?;
        let bucket = req.input.bucket;
        self.owned_bucket(&user, &bucket).await?;
        self.blocking(move |meta, _| meta.set_bucket_encryption(&bucket, None).or_s3())
            .await?;
        Ok(S3Response::with_status(
            DeleteBucketEncryptionOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }
}
