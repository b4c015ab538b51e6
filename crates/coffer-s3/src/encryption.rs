//! The one place that decides how an object is encrypted, and that seals and opens its data
//! key.
//!
//! Every object gets a fresh random data key (DEK). SSE-S3 seals it under the current version
//! of the server's master key; SSE-C under a key-encryption key derived from the customer's
//! key and a random salt. Both bind the sealed key to the object's ARN (AAD), so a sealed key
//! moved to another record does not open. The DEK never reaches the disk unsealed, and is
//! never logged.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::{DataKey, KeyEncryptionKey, SealedKey, derive_kek, open_key, seal_key};
use coffer_store::{BucketRecord, EncryptionRecord, ObjectRecord};
use s3s::dto::ServerSideEncryption;
use s3s::{S3Result, s3_error};

use crate::customer_key::{self, CustomerHeaders, CustomerKey, Purpose};
use crate::error::internal;
use crate::service::CofferS3;

/// The record mode (and `x-amz-server-side-encryption` value) of SSE-S3.
pub(crate) const SSE_S3: &str = "AES256";
/// The record mode of SSE-C.
pub(crate) const SSE_C: &str = "SSE-C";
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
}

impl WriteMode {
    pub(crate) fn customer(&self) -> Option<&CustomerKey> {
        match self {
            WriteMode::Customer(k) => Some(k),
            WriteMode::SseS3 => None,
        }
    }
}

/// Validates a write's encryption request (SPEC §2.2 order). No header means SSE-S3 (S3's
/// default since 2023); a mode this build cannot honour is refused, never silently stored
/// another way.
pub(crate) fn requested_mode(
    sse: Option<&ServerSideEncryption>,
    customer: CustomerHeaders,
    kms_key: Option<&str>,
) -> S3Result<WriteMode> {
    if customer.is_present() {
        if sse.is_some() {
            return Err(s3_error!(
                InvalidArgument,
                "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
            ));
        }
        let key = customer.parse(Purpose::Write)?;
        return Ok(key.map_or(WriteMode::SseS3, WriteMode::Customer));
    }
    match sse.map(|s| s.as_str()) {
        None | Some(SSE_S3) if kms_key.is_none() => Ok(WriteMode::SseS3),
        Some("aws:kms") | Some("aws:kms:dsse") => Err(s3_error!(
            NotImplemented,
            "SSE-KMS is not supported by this server yet."
        )),
        None | Some(SSE_S3) => Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
        )),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "The encryption method specified is not supported"
        )),
    }
}

/// The `x-amz-server-side-encryption` a response reports for a record (none for SSE-C,
/// whose responses name the customer algorithm instead).
pub(crate) fn reported(record: &ObjectRecord) -> Option<ServerSideEncryption> {
    record
        .encryption
        .as_ref()
        .filter(|e| e.mode != SSE_C)
        .map(|e| ServerSideEncryption::from(e.mode.clone()))
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
    encryption.is_some_and(|e| e.mode == SSE_C)
}

/// A fresh ETag for an SSE-C object or part: S3's are not the plaintext's MD5 (which would
/// let anyone confirm a guess of the content), and differ between uploads of the same bytes.
pub(crate) fn opaque_etag() -> S3Result<String> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| internal("the system random source failed"))?;
    Ok(hex::encode(bytes))
}

fn customer_kek(key: &CustomerKey, salt: &[u8], object: &str) -> KeyEncryptionKey {
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

    /// A fresh data key for `bucket/key`, and the record that keeps it sealed.
    pub(crate) fn new_data_key(
        &self,
        bucket: &str,
        key: &str,
        mode: &WriteMode,
    ) -> S3Result<(DataKey, EncryptionRecord)> {
        let dek = DataKey::generate().map_err(internal)?;
        let record = self.seal_data_key(&dek, bucket, key, mode)?;
        Ok((dek, record))
    }

    /// Seals `dek` for `bucket/key`: under the current master-key version, or under the
    /// customer's key with a fresh salt.
    pub(crate) fn seal_data_key(
        &self,
        dek: &DataKey,
        bucket: &str,
        key: &str,
        mode: &WriteMode,
    ) -> S3Result<EncryptionRecord> {
        let arn = object_arn(bucket, key);
        match mode {
            WriteMode::SseS3 => {
                let (version, master) = self.keyring.current();
                let sealed = seal_key(master.as_ref(), dek, arn.as_bytes()).map_err(internal)?;
                Ok(EncryptionRecord {
                    mode: SSE_S3.to_owned(),
                    master_version: version,
                    sealed_key: B64.encode(sealed.as_bytes()),
                    customer_salt: None,
                })
            }
            WriteMode::Customer(customer) => {
                let mut salt = [0u8; 32];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
                    .map_err(|_| internal("the system random source failed"))?;
                let kek = customer_kek(customer, &salt, &arn);
                let sealed = seal_key(&kek, dek, arn.as_bytes()).map_err(internal)?;
                Ok(EncryptionRecord {
                    mode: SSE_C.to_owned(),
                    master_version: 0,
                    sealed_key: B64.encode(sealed.as_bytes()),
                    customer_salt: Some(B64.encode(salt)),
                })
            }
        }
    }

    /// Opens the data key of the object stored at `bucket/key` (`None` for a record written
    /// before encryption at rest), with the customer's key when the request carried one.
    ///
    /// An SSE-C object needs the key (`InvalidRequest` without it, `AccessDenied` for
    /// another key); other objects refuse one. An SSE-S3 key that does not open is an
    /// integrity failure.
    pub(crate) fn open_data_key(
        &self,
        bucket: &str,
        key: &str,
        encryption: Option<&EncryptionRecord>,
        customer: Option<&CustomerKey>,
    ) -> S3Result<Option<Arc<DataKey>>> {
        let customer_object = is_customer(encryption);
        match (customer_object, customer) {
            (true, None) => return Err(customer_key::key_required()),
            (false, Some(_)) => return Err(customer_key::not_applicable()),
            _ => {}
        }
        let Some(e) = encryption else { return Ok(None) };
        let arn = object_arn(bucket, key);
        let sealed = B64
            .decode(&e.sealed_key)
            .ok()
            .and_then(|b| SealedKey::from_bytes(&b).ok());
        match (e.mode.as_str(), customer) {
            (SSE_S3, _) => {
                let master = self.keyring.version(e.master_version).ok_or_else(|| {
                    internal(format!("master key version {} is gone", e.master_version))
                })?;
                let sealed = sealed
                    .ok_or_else(|| integrity_alert(bucket, key, "sealed data key is malformed"))?;
                let dek: DataKey = open_key(master.as_ref(), &sealed, arn.as_bytes())
                    .map_err(|_| integrity_alert(bucket, key, "sealed data key does not open"))?;
                Ok(Some(Arc::new(dek)))
            }
            (SSE_C, Some(customer)) => {
                // A wrong key and an altered record look alike here; both are a 403, and
                // a wrong key is the customer's everyday mistake, not an alert.
                let salt = e
                    .customer_salt
                    .as_deref()
                    .and_then(|s| B64.decode(s).ok())
                    .ok_or_else(|| integrity_alert(bucket, key, "SSE-C salt is malformed"))?;
                let sealed = sealed
                    .ok_or_else(|| integrity_alert(bucket, key, "sealed data key is malformed"))?;
                let kek = customer_kek(customer, &salt, &arn);
                let dek: DataKey = open_key(&kek, &sealed, arn.as_bytes())
                    .map_err(|_| customer_key::wrong_key())?;
                Ok(Some(Arc::new(dek)))
            }
            (other, _) => Err(internal(format!("unknown encryption mode {other:?}"))),
        }
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
