//! UpdateObjectEncryption (`PUT /<bucket>/<key>?encryption`, SPEC.md §3.7): moves an SSE-S3
//! or SSE-KMS object under an SSE-KMS key by re-sealing its data key. No data is rewritten;
//! ETag, checksums, dates and storage class stay. Served through a route of its own: s3s
//! 0.14's model predates the operation.

use s3s::{Body, S3Request, S3Response, S3Result, s3_error};
use serde::Deserialize;

use crate::error::{OrS3, malformed_xml, no_such_key};
use crate::service::CofferS3;
use crate::sse::encryption::{KmsRequest, WriteMode};
use crate::xml_body::{from_xml, xml_body};

const MAX_BODY: usize = 16 * 1024;

#[derive(Deserialize)]
#[serde(rename = "ObjectEncryption")]
struct ObjectEncryptionXml {
    #[serde(rename = "SSE-KMS")]
    sse_kms: Option<SseKmsXml>,
}

#[derive(Deserialize)]
struct SseKmsXml {
    #[serde(rename = "KMSKeyArn")]
    key_arn: Option<String>,
    #[serde(rename = "BucketKeyEnabled")]
    bucket_key_enabled: Option<String>,
}

/// What an UpdateObjectEncryption body asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEncryptionRequest {
    /// A full KMS key ARN (the operation accepts no key id or alias).
    pub key_arn: String,
    pub bucket_key: bool,
}

/// Parses and validates an UpdateObjectEncryption body; public for the fuzz targets.
pub fn parse_object_encryption(body: &[u8]) -> S3Result<ObjectEncryptionRequest> {
    validate(from_xml(body)?)
}

fn validate(parsed: ObjectEncryptionXml) -> S3Result<ObjectEncryptionRequest> {
    let sse_kms = parsed.sse_kms.ok_or_else(malformed_xml)?;
    let key_arn = sse_kms
        .key_arn
        .filter(|a| is_key_arn(a))
        .ok_or_else(|| {
            s3_error!(
                InvalidRequest,
                "Requests that modify an object's encryption type to SSE-KMS require an Amazon Web Services KMS key Amazon Resource Name (ARN). Specify a KMS key ARN and try again."
            )
        })?;
    let bucket_key = match sse_kms.bucket_key_enabled.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(s3_error!(
                InvalidRequest,
                "The BucketKeyEnabled value isn't valid. Valid values are true or false. Specify a valid value and try again."
            ));
        }
    };
    Ok(ObjectEncryptionRequest {
        key_arn,
        bucket_key,
    })
}

/// `arn:aws[-a-z0-9]*:kms:[-a-z0-9]*:[0-9]{12}:key/.+`, the form the operation requires.
fn is_key_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    matches!(parts[..], [
        "arn",
        partition,
        "kms",
        region,
        account,
        resource,
    ] if partition.starts_with("aws")
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.strip_prefix("key/").is_some_and(|id| !id.is_empty()))
}

impl CofferS3 {
    pub async fn update_object_encryption(
        &self,
        req: S3Request<Body>,
        bucket: &str,
        key: &str,
    ) -> S3Result<S3Response<Body>> {
        let user = self.requester(&req)?;
        self.bucket_for(&user, bucket, "s3:UpdateObjectEncryption", Some(key))
            .await?;
        if let Some(version) = req
            .uri
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("versionId=")))
            && version != "null"
        {
            return Err(s3_error!(InvalidArgument, "Invalid version id specified"));
        }
        let ObjectEncryptionRequest {
            key_arn,
            bucket_key,
        } = validate(xml_body(req.input, MAX_BODY).await?)?;

        let record = self
            .load_object(bucket, key)
            .await?
            .ok_or_else(no_such_key)?;
        let old = match record.encryption.as_ref() {
            Some(e) if !e.is_customer() => e.clone(),
            Some(_) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The UpdateObjectEncryption operation doesn't support source objects with the encryption type DSSE-KMS or SSE-C. Only source objects encrypted with SSE-S3 or SSE-KMS are supported."
                ));
            }
            _ => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The UpdateObjectEncryption operation doesn't supported unencrypted source objects. Only source objects encrypted with SSE-S3 or SSE-KMS are supported."
                ));
            }
        };
        let dek = self
            .open_data_key(bucket, key, Some(&old), None, Some(&user))
            .await?
            .ok_or_else(|| crate::error::internal("an encrypted object without a data key"))?;
        let mode = WriteMode::Kms(KmsRequest {
            key: Some(key_arn),
            context: Default::default(),
            bucket_key,
        });
        let fresh = self.seal_data_key(&dek, bucket, key, &mode, &user, None)?;
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let changed = self
            .meta
            .reseal_object(&b, &k, old.sealed_key(), &fresh)
            .await
            .or_s3()?;
        if !changed {
            return Err(crate::error::custom(
                "OperationAborted",
                http::StatusCode::CONFLICT,
                "A conflicting conditional operation is currently in progress against this resource. Please try again.",
            ));
        }
        Ok(S3Response::new(Body::empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_key_arns_qualify() {
        assert!(is_key_arn(
            "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        ));
        for bad in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/app",
            "arn:aws:kms:us-east-1:000000000000:alias/app",
            "arn:aws:kms:us-east-1:0000:key/x",
            "arn:aws:kms:us-east-1:000000000000:key/",
        ] {
            assert!(!is_key_arn(bad), "{bad}");
        }
    }
}
