//! The one place that decides how an object is encrypted, and that seals and opens its data
//! key.
//!
//! Every object gets a fresh random data key (DEK). SSE-S3 seals it under the current version
//! of the server's master key with the object's ARN as AAD, so a sealed key moved to another
//! record does not open. The DEK never reaches the disk unsealed, and is never logged.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::{DataKey, SealedKey, open_key, seal_key};
use coffer_store::{EncryptionRecord, ObjectRecord};
use s3s::dto::ServerSideEncryption;
use s3s::{S3Result, s3_error};

use crate::error::internal;
use crate::service::CofferS3;

/// The only mode this build writes.
pub(crate) const SSE_S3: &str = "AES256";

/// The AAD that binds a sealed data key to one object.
pub(crate) fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// Validates a write's encryption request. No header means SSE-S3 (S3's default since 2023);
/// a mode this build cannot honour is refused, never silently stored another way.
pub(crate) fn requested_mode(
    sse: Option<&ServerSideEncryption>,
    customer_algorithm: Option<&str>,
    kms_key: Option<&str>,
) -> S3Result<()> {
    if customer_algorithm.is_some() {
        return Err(s3_error!(
            NotImplemented,
            "SSE-C (customer-provided keys) is not supported by this server yet."
        ));
    }
    match sse.map(|s| s.as_str()) {
        None | Some(SSE_S3) if kms_key.is_none() => Ok(()),
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

/// The `x-amz-server-side-encryption` a response reports for a record.
pub(crate) fn reported(record: &ObjectRecord) -> Option<ServerSideEncryption> {
    record
        .encryption
        .as_ref()
        .map(|e| ServerSideEncryption::from(e.mode.clone()))
}

impl CofferS3 {
    /// A fresh data key for `bucket/key`, and the record that keeps it sealed.
    pub(crate) fn new_data_key(
        &self,
        bucket: &str,
        key: &str,
    ) -> S3Result<(DataKey, EncryptionRecord)> {
        let dek = DataKey::generate().map_err(internal)?;
        let record = self.seal_data_key(&dek, bucket, key)?;
        Ok((dek, record))
    }

    /// Seals `dek` for `bucket/key` under the current master-key version.
    pub(crate) fn seal_data_key(
        &self,
        dek: &DataKey,
        bucket: &str,
        key: &str,
    ) -> S3Result<EncryptionRecord> {
        let (version, master) = self.keyring.current();
        let sealed =
            seal_key(master.as_ref(), dek, object_arn(bucket, key).as_bytes()).map_err(internal)?;
        Ok(EncryptionRecord {
            mode: SSE_S3.to_owned(),
            master_version: version,
            sealed_key: B64.encode(sealed.as_bytes()),
        })
    }

    /// Opens the data key of the object stored at `bucket/key` (`None` for a record written
    /// before encryption at rest). A key that does not open is an integrity failure.
    pub(crate) fn open_data_key(
        &self,
        bucket: &str,
        key: &str,
        encryption: Option<&EncryptionRecord>,
    ) -> S3Result<Option<Arc<DataKey>>> {
        let Some(e) = encryption else { return Ok(None) };
        if e.mode != SSE_S3 {
            return Err(internal(format!("unknown encryption mode {:?}", e.mode)));
        }
        let master = self
            .keyring
            .version(e.master_version)
            .ok_or_else(|| internal(format!("master key version {} is gone", e.master_version)))?;
        let sealed = B64
            .decode(&e.sealed_key)
            .ok()
            .and_then(|b| SealedKey::from_bytes(&b).ok())
            .ok_or_else(|| integrity_alert(bucket, key, "sealed data key is malformed"))?;
        let dek: DataKey =
            open_key(master.as_ref(), &sealed, object_arn(bucket, key).as_bytes())
                .map_err(|_| integrity_alert(bucket, key, "sealed data key does not open"))?;
        Ok(Some(Arc::new(dek)))
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
