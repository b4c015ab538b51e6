//! Bucket default encryption: PutBucketEncryption, GetBucketEncryption,
//! DeleteBucketEncryption (SPEC.md §4.2–4.3).
//!
//! PUT and GET are served through a route of their own rather than `s3s`'s typed operations:
//! s3s 0.14's model predates `BlockedEncryptionTypes` and refuses a configuration that carries
//! it as malformed, while clients copying AWS's current output send it.

use coffer_store::BucketEncryption;
use s3s::dto::*;
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};
use serde::Deserialize;

use crate::error::{OrS3, malformed_xml};
use crate::service::CofferS3;
use crate::sse::encryption::{BLOCK_SSE_C, SSE_KMS, SSE_S3};
use crate::xml_body::{from_xml, xml_body};

/// Largest configuration accepted (a real one is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;
const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

#[derive(Deserialize)]
#[serde(rename = "ServerSideEncryptionConfiguration")]
struct ConfigXml {
    #[serde(rename = "Rule", default)]
    rules: Vec<RuleXml>,
}

#[derive(Deserialize)]
struct RuleXml {
    #[serde(rename = "ApplyServerSideEncryptionByDefault")]
    default: Option<DefaultXml>,
    #[serde(rename = "BucketKeyEnabled")]
    bucket_key_enabled: Option<bool>,
    #[serde(rename = "BlockedEncryptionTypes")]
    blocked: Option<BlockedXml>,
}

#[derive(Deserialize)]
struct DefaultXml {
    #[serde(rename = "SSEAlgorithm")]
    algorithm: String,
    #[serde(rename = "KMSMasterKeyID")]
    kms_key_id: Option<String>,
}

#[derive(Deserialize)]
struct BlockedXml {
    #[serde(rename = "EncryptionType", default)]
    types: Vec<String>,
}

/// Validates the one rule a configuration must hold. `previous` supplies the blocked types
/// when the rule does not name them (a PUT without them does not clear an existing block).
fn validate(config: ConfigXml, previous: Option<&BucketEncryption>) -> S3Result<BucketEncryption> {
    let [rule]: [RuleXml; 1] = config.rules.try_into().map_err(|_| malformed_xml())?;
    let (algorithm, kms_key_id) = match rule.default {
        Some(d) => (d.algorithm, d.kms_key_id),
        None => (SSE_S3.to_owned(), None),
    };
    let blocked_types = match rule.blocked {
        Some(b) => {
            if b.types.iter().any(|t| t != BLOCK_SSE_C && t != "NONE") {
                return Err(malformed_xml());
            }
            b.types
        }
        None => previous
            .map(|p| p.blocked_types.clone())
            .unwrap_or_default(),
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
            blocked_types,
        }),
        // The key's existence is not checked here: as on S3, a missing key fails the writes
        // that use it. Its form is: a key id, key ARN, alias name or alias ARN is made of
        // `[A-Za-z0-9:/_-]`, and anything else (control characters, which GET could not
        // render back as the same XML) can name no key.
        SSE_KMS if kms_key_id.as_deref().is_some_and(|k| !is_key_reference(k)) => Err(s3_error!(
            InvalidArgument,
            "KMSMasterKeyID must be a KMS key id, key ARN, alias name or alias ARN"
        )),
        SSE_KMS => Ok(BucketEncryption {
            algorithm,
            kms_key_id,
            bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
            blocked_types,
        }),
        "aws:kms:dsse" => Err(s3_error!(
            NotImplemented,
            "DSSE-KMS is not supported by this server."
        )),
        _ => Err(malformed_xml()),
    }
}

fn is_key_reference(k: &str) -> bool {
    (1..=2048).contains(&k.len())
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'_' | b'-'))
}

/// Parses and validates a PutBucketEncryption body ; public for the fuzz targets, which
/// check that what it accepts survives [`render_bucket_encryption`] and a second parse.
pub fn parse_bucket_encryption(
    body: &[u8],
    previous: Option<&BucketEncryption>,
) -> S3Result<BucketEncryption> {
    validate(from_xml(body)?, previous)
}

/// The configuration GET answers; a bucket always has one (never configured = SSE-S3).
pub fn render_bucket_encryption(e: Option<BucketEncryption>) -> String {
    let e = e.unwrap_or(BucketEncryption {
        algorithm: SSE_S3.to_owned(),
        kms_key_id: None,
        bucket_key_enabled: false,
        blocked_types: Vec::new(),
    });
    let mut rule = format!(
        "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>{}</SSEAlgorithm>",
        quick_xml::escape::escape(&e.algorithm)
    );
    if let Some(k) = &e.kms_key_id {
        rule.push_str(&format!(
            "<KMSMasterKeyID>{}</KMSMasterKeyID>",
            quick_xml::escape::escape(k)
        ));
    }
    rule.push_str("</ApplyServerSideEncryptionByDefault>");
    rule.push_str(&format!(
        "<BucketKeyEnabled>{}</BucketKeyEnabled>",
        e.bucket_key_enabled
    ));
    if !e.blocked_types.is_empty() {
        rule.push_str("<BlockedEncryptionTypes>");
        for t in &e.blocked_types {
            rule.push_str(&format!(
                "<EncryptionType>{}</EncryptionType>",
                quick_xml::escape::escape(t)
            ));
        }
        rule.push_str("</BlockedEncryptionTypes>");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServerSideEncryptionConfiguration xmlns=\"{NAMESPACE}\"><Rule>{rule}</Rule></ServerSideEncryptionConfiguration>"
    )
}

impl CofferS3 {
    /// `PUT /<bucket>?encryption`.
    pub async fn put_bucket_encryption(
        &self,
        req: S3Request<Body>,
        bucket: &str,
    ) -> S3Result<S3Response<Body>> {
        let user = self.requester(&req)?;
        let record = self
            .bucket_for(&user, bucket, "s3:PutEncryptionConfiguration", None)
            .await?;
        let config = validate(
            xml_body(req.input, MAX_BODY).await?,
            record.encryption.as_ref(),
        )?;
        let name = bucket.to_owned();
        self.meta
            .set_bucket_encryption(&name, Some(config.clone()))
            .await
            .or_s3()?;
        Ok(S3Response::new(Body::empty()))
    }

    /// `GET /<bucket>?encryption`.
    pub async fn get_bucket_encryption(
        &self,
        req: S3Request<Body>,
        bucket: &str,
    ) -> S3Result<S3Response<Body>> {
        let user = self.requester(&req)?;
        let record = self
            .bucket_for(&user, bucket, "s3:GetEncryptionConfiguration", None)
            .await?;
        let mut resp = S3Response::new(Body::from(render_bucket_encryption(record.encryption)));
        resp.headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/xml"),
        );
        Ok(resp)
    }

    pub(crate) async fn do_delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        let user = self.requester(&req)?;
        let bucket = req.input.bucket;
        let record = self
            .bucket_for(&user, &bucket, "s3:PutEncryptionConfiguration", None)
            .await?;
        // The default goes back to SSE-S3; an SSE-C block is a separate control and stays
        // (AWS leaves its effect here unspecified; lifting a block takes an explicit NONE).
        let reset = record
            .encryption
            .filter(|e| !e.blocked_types.is_empty())
            .map(|e| BucketEncryption {
                algorithm: SSE_S3.to_owned(),
                kms_key_id: None,
                bucket_key_enabled: false,
                blocked_types: e.blocked_types,
            });
        self.meta
            .set_bucket_encryption(&bucket, reset)
            .await
            .or_s3()?;
        Ok(S3Response::with_status(
            DeleteBucketEncryptionOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bucket_encryption as parse;
    use super::render_bucket_encryption as render;

    #[test]
    fn blocked_types_parse_round_trip_and_survive_an_omitting_put() {
        let xml = br#"<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled><BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes></Rule></ServerSideEncryptionConfiguration>"#;
        let e = parse(xml, None).unwrap();
        assert_eq!(e.blocked_types, ["SSE-C"]);
        assert!(e.bucket_key_enabled);
        assert!(render(Some(e.clone())).contains("<BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes>"));
        let omitting = br#"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"#;
        assert_eq!(parse(omitting, Some(&e)).unwrap().blocked_types, ["SSE-C"]);
    }

    #[test]
    fn a_kms_key_id_that_names_no_key_is_refused() {
        // Found by the s3_xml fuzz target: an escaped carriage return (or a NUL) was stored,
        // and GET rendered a configuration that no longer said the same thing.
        for bad in ["alias/a&#13;b", "alias/a&#0;", "alias/a b", ""] {
            let xml = format!(
                "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>{bad}</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
            );
            let refused = parse(xml.as_bytes(), None).map(|e| e.kms_key_id);
            assert!(refused.is_err(), "{bad:?} accepted as {refused:?}");
        }
        let good = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let xml = format!(
            "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>{good}</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
        );
        assert_eq!(
            parse(xml.as_bytes(), None).unwrap().kms_key_id.as_deref(),
            Some(good)
        );
    }

    #[test]
    fn malformed_configurations_are_malformed_xml() {
        for bad in [
            &b"<ServerSideEncryptionConfiguration></ServerSideEncryptionConfiguration>"[..],
            b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>ROT13</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>",
            b"<ServerSideEncryptionConfiguration><Rule><BlockedEncryptionTypes><EncryptionType>SSE-X</EncryptionType></BlockedEncryptionTypes></Rule></ServerSideEncryptionConfiguration>",
            b"not xml",
        ] {
            assert_eq!(parse(bad, None).unwrap_err().code(), &s3s::S3ErrorCode::MalformedXML);
        }
    }
}
