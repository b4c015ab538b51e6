//! The one place that decides how an object is encrypted: the request's headers (validated
//! in SPEC.md §2.2's order) or the bucket's default, and what responses report about it.
//! `data_key.rs` then seals and opens the object's data key accordingly; the SSE-C transport
//! and blocking rules live here too.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::{KeyEncryptionKey, derive_kek};
use coffer_kms::EncryptionContext;
use coffer_store::{BucketRecord, EncryptionRecord, ObjectRecord};
use s3s::dto::ServerSideEncryption;
use s3s::{S3Result, s3_error};

use crate::error::internal;
use crate::service::CofferS3;
use crate::sse::customer_key::{self, CustomerHeaders, CustomerKey, Purpose};

/// The `x-amz-server-side-encryption` value (and bucket-default algorithm) of SSE-S3.
pub(crate) const SSE_S3: &str = "AES256";
/// The `x-amz-server-side-encryption` value (and bucket-default algorithm) of SSE-KMS.
pub(crate) const SSE_KMS: &str = "aws:kms";
/// The encryption-context pair S3 adds: the object's (or, with a bucket key, the bucket's)
/// ARN.
pub(crate) const S3_ARN_CONTEXT: &str = "aws:s3:arn";
/// `BlockedEncryptionTypes` value that blocks SSE-C writes.
pub(crate) const BLOCK_SSE_C: &str = "SSE-C";

/// The AAD that binds a sealed data key to one object.
pub(crate) fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// How a write protects its new object's data key.
#[derive(Debug)]
pub(crate) enum WriteMode {
    SseS3,
    Customer(CustomerKey),
    Kms(KmsRequest),
}

/// An SSE-KMS write: the key as named (`None`: `aws/s3`), the caller's extra encryption
/// context, and whether an S3 Bucket Key is used.
#[derive(Debug, Clone, Default)]
pub(crate) struct KmsRequest {
    pub key: Option<String>,
    pub context: EncryptionContext,
    pub bucket_key: bool,
}

impl WriteMode {
    pub(crate) fn customer(&self) -> Option<&CustomerKey> {
        match self {
            WriteMode::Customer(k) => Some(k),
            _ => None,
        }
    }
}

/// The encryption headers of a write (PutObject, POST, CopyObject target,
/// CreateMultipartUpload).
pub(crate) struct EncryptionHeaders<'a> {
    pub sse: Option<&'a ServerSideEncryption>,
    pub customer: CustomerHeaders,
    pub kms_key: Option<&'a str>,
    /// `x-amz-server-side-encryption-context`: base64 of a JSON string map.
    pub kms_context: Option<&'a str>,
    pub bucket_key: Option<bool>,
}

fn parse_kms_context(header: Option<&str>) -> S3Result<EncryptionContext> {
    let Some(header) = header else {
        return Ok(EncryptionContext::new());
    };
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map"
        )
    };
    let json = B64.decode(header).map_err(|_| invalid())?;
    let context: EncryptionContext = serde_json::from_slice(&json).map_err(|_| invalid())?;
    // S3 sets this pair itself; a caller may not point the context at another object.
    if context.contains_key(S3_ARN_CONTEXT) {
        return Err(s3_error!(
            InvalidArgument,
            "Encryption context keys beginning with aws: are reserved"
        ));
    }
    Ok(context)
}

/// Decides a write's encryption (SPEC §2.2 order): the request's headers, else the bucket's
/// default. A mode this build cannot honour is refused, never silently stored another way.
pub(crate) fn requested_mode(
    headers: EncryptionHeaders<'_>,
    bucket: &BucketRecord,
) -> S3Result<WriteMode> {
    if headers.customer.is_present() {
        if headers.sse.is_some() {
            return Err(s3_error!(
                InvalidArgument,
                "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
            ));
        }
        let key = headers.customer.parse(Purpose::Write)?;
        return Ok(key.map_or(WriteMode::SseS3, WriteMode::Customer));
    }
    match headers.sse.map(|s| s.as_str()) {
        Some(SSE_KMS) => Ok(WriteMode::Kms(KmsRequest {
            key: headers.kms_key.map(str::to_owned),
            context: parse_kms_context(headers.kms_context)?,
            bucket_key: headers.bucket_key.unwrap_or_else(|| {
                bucket
                    .encryption
                    .as_ref()
                    .is_some_and(|e| e.algorithm == SSE_KMS && e.bucket_key_enabled)
            }),
        })),
        Some("aws:kms:dsse") => Err(s3_error!(
            NotImplemented,
            "DSSE-KMS is not supported by this server."
        )),
        _ if headers.kms_key.is_some() || headers.kms_context.is_some() => Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
        )),
        Some(SSE_S3) => Ok(WriteMode::SseS3),
        None => Ok(bucket_default(bucket, headers.bucket_key)),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "The encryption method specified is not supported"
        )),
    }
}

/// The mode a write without encryption headers gets: the bucket's default.
pub(crate) fn bucket_default(bucket: &BucketRecord, bucket_key: Option<bool>) -> WriteMode {
    match bucket.encryption.as_ref() {
        Some(e) if e.algorithm == SSE_KMS => WriteMode::Kms(KmsRequest {
            key: e.kms_key_id.clone(),
            context: EncryptionContext::new(),
            bucket_key: bucket_key.unwrap_or(e.bucket_key_enabled),
        }),
        _ => WriteMode::SseS3,
    }
}

/// The `x-amz-server-side-encryption` a response reports for a record (none for SSE-C,
/// whose responses name the customer algorithm instead).
pub(crate) fn reported(record: &ObjectRecord) -> Option<ServerSideEncryption> {
    record
        .encryption
        .as_ref()
        .and_then(EncryptionRecord::server_side_encryption)
        .map(|value| ServerSideEncryption::from(value.to_owned()))
}

/// The SSE-C echo of a response: algorithm and key MD5, when the object is SSE-C.
pub(crate) fn customer_echo(customer: Option<&CustomerKey>) -> (Option<String>, Option<String>) {
    match customer {
        Some(k) => (
            Some(customer_key::CUSTOMER_ALGORITHM.to_owned()),
            Some(k.md5().to_owned()),
        ),
        None => (None, None),
    }
}

pub(crate) fn is_customer(encryption: Option<&EncryptionRecord>) -> bool {
    encryption.is_some_and(EncryptionRecord::is_customer)
}

/// The SSE-KMS echo of a response: the key's ARN, and `true` when a bucket key is used
/// (S3 leaves the header out when false).
pub(crate) fn kms_echo(record: &ObjectRecord) -> (Option<String>, Option<bool>) {
    match record
        .encryption
        .as_ref()
        .and_then(EncryptionRecord::kms_key)
    {
        Some((key_arn, bucket_key)) => (Some(key_arn.to_owned()), bucket_key.then_some(true)),
        None => (None, None),
    }
}

/// A fresh random ETag, for an SSE-C or SSE-KMS copy (which reads no plaintext to digest):
/// S3's are not the plaintext's MD5, which would let anyone confirm a guess of the content.
/// Written objects and parts get a keyed digest instead (`DataKey::etag_mac`), so a retried
/// part keeps its ETag.
pub(crate) fn opaque_etag() -> S3Result<String> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| internal("the system random source failed"))?;
    Ok(hex::encode(bytes))
}

pub(crate) fn customer_kek(key: &CustomerKey, salt: &[u8], object: &str) -> KeyEncryptionKey {
    derive_kek(key.expose_secret(), salt, object.as_bytes())
}

impl CofferS3 {
    /// Refuses SSE-C on a connection where the key would travel in the clear, unless the
    /// operator allowed it for loopback clients.
    pub(crate) fn require_secure_transport(
        &self,
        extensions: &http::Extensions,
        sse_c: bool,
    ) -> S3Result<()> {
        if !sse_c {
            return Ok(());
        }
        let transport = extensions.get::<crate::Transport>();
        let ok = transport
            .is_some_and(|t| t.secure || (t.loopback && self.options.allow_sse_c_over_http));
        if ok {
            Ok(())
        } else {
            Err(customer_key::insecure())
        }
    }

    /// Refuses an SSE-C write into a bucket that blocks SSE-C (403, SPEC §4.4).
    pub(crate) fn check_not_blocked(
        &self,
        bucket: &BucketRecord,
        mode: &WriteMode,
        user: &crate::User,
        action: &str,
        key: &str,
    ) -> S3Result<()> {
        let blocks = bucket
            .encryption
            .as_ref()
            .is_some_and(|e| e.blocked_types.iter().any(|t| t == BLOCK_SSE_C));
        if blocks && mode.customer().is_some() {
            return Err(customer_key::blocked(
                &self.user_arn(user),
                action,
                &object_arn(&bucket.name, key),
            ));
        }
        Ok(())
    }
}

/// Logs an integrity alert and returns the error the client gets: stored data or keys were
/// altered, swapped or damaged, and nothing derived from them is returned.
pub(crate) fn integrity_alert(bucket: &str, key: &str, what: &str) -> s3s::S3Error {
    metrics::counter!("coffer_integrity_alerts_total").increment(1);
    tracing::error!(target: "coffer::integrity", bucket, key, what, "integrity alert");
    s3s::S3Error::with_message(
        s3s::S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    )
}
