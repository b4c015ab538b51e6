//! Sealing and opening an object's data key, per mode. SSE-S3 seals it under the current
//! master-key version; SSE-C under a key-encryption key derived from the customer's key and a
//! random salt; SSE-KMS asks the KMS, as the requesting user. Each binds the sealed key to the
//! object's ARN, so a sealed key moved to another record does not open.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::{DataKey, SealedKey, open_key, seal_key};
use coffer_kms::{Caller, EncryptionContext};
use coffer_store::{EncryptionRecord, KmsRecordSnapshot};
use s3s::S3Result;
use zeroize::Zeroizing;

use crate::auth::User;
use crate::error::internal;
use crate::service::CofferS3;
use crate::sse::bucket_keys::{BucketKeyUse, object_kek};
use crate::sse::customer_key::{self, CustomerKey};
use crate::sse::encryption::{WriteMode, customer_kek, integrity_alert, is_customer, object_arn};
use crate::sse::sse_kms::{kms_error, parse_stored_context, s3_context, stored_context};

fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

impl CofferS3 {
    /// A fresh data key for `bucket/key`, and the record that keeps it sealed. SSE-KMS asks
    /// the KMS for it (GenerateDataKey as `user`).
    /// `key_read`: the KMS key's record as the request read it with its bucket, if it did
    /// (see [`coffer_kms::Caller::key_read`]).
    pub(crate) async fn new_data_key(
        &self,
        bucket: &str,
        key: &str,
        mode: &WriteMode,
        user: &User,
        key_read: Option<Arc<KmsRecordSnapshot>>,
    ) -> S3Result<(DataKey, EncryptionRecord)> {
        if let WriteMode::Kms(request) = mode
            && !request.bucket_key
        {
            let kms = self.kms()?;
            let caller = self.kms_caller_read(user, key_read);
            let key_arn = kms
                .key_arn_for_s3(&caller, request.key.as_deref())
                .map_err(kms_error)?;
            let arn = object_arn(bucket, key);
            let out = kms
                .generate_data_key(&caller, &key_arn, &s3_context(&arn, &request.context))
                .on_disk()
                .await
                .map_err(kms_error)?;
            let plaintext = out
                .plaintext
                .ok_or_else(|| internal("the KMS returned no plaintext data key"))?;
            let dek = DataKey::from_bytes(&plaintext).map_err(internal)?;
            let record = EncryptionRecord::Kms {
                key_arn,
                sealed_key: B64.encode(&out.ciphertext),
                context: stored_context(&request.context),
            };
            return Ok((dek, record));
        }
        let dek = DataKey::generate().map_err(internal)?;
        let record = self.seal_data_key(&dek, bucket, key, mode, user, key_read)?;
        Ok((dek, record))
    }

    /// Seals an existing `dek` for `bucket/key` under `mode` (a copy, or a change of key).
    /// `key_read`: as for [`CofferS3::new_data_key`].
    pub(crate) fn seal_data_key(
        &self,
        dek: &DataKey,
        bucket: &str,
        key: &str,
        mode: &WriteMode,
        user: &User,
        key_read: Option<Arc<KmsRecordSnapshot>>,
    ) -> S3Result<EncryptionRecord> {
        let arn = object_arn(bucket, key);
        match mode {
            WriteMode::SseS3 => Ok(self.seal_under_master(dek, &arn)?),
            WriteMode::Customer(customer) => {
                let mut salt = [0u8; 32];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
                    .map_err(|_| internal("the system random source failed"))?;
                let kek = customer_kek(customer, &salt, &arn);
                let sealed = seal_key(&kek, dek, arn.as_bytes()).map_err(internal)?;
                Ok(EncryptionRecord::Customer {
                    sealed_key: B64.encode(sealed.as_bytes()),
                    customer_salt: B64.encode(salt),
                })
            }
            WriteMode::Kms(request) => {
                let kms = self.kms()?;
                let caller = self.kms_caller_read(user, key_read);
                let key_arn = kms
                    .key_arn_for_s3(&caller, request.key.as_deref())
                    .map_err(kms_error)?;
                if request.bucket_key {
                    let bucket_key = self.bucket_key_for_write(bucket, &key_arn, &arn, &caller)?;
                    let sealed =
                        seal_key(&bucket_key.kek, dek, arn.as_bytes()).map_err(internal)?;
                    return Ok(EncryptionRecord::KmsBucketKey {
                        key_arn,
                        bucket_key: bucket_key.blob,
                        sealed_key: B64.encode(sealed.as_bytes()),
                    });
                }
                let blob = kms
                    .encrypt(
                        &caller,
                        &key_arn,
                        dek.expose_secret(),
                        &s3_context(&arn, &request.context),
                    )
                    .map_err(kms_error)?;
                Ok(EncryptionRecord::Kms {
                    key_arn,
                    sealed_key: B64.encode(&blob),
                    context: stored_context(&request.context),
                })
            }
        }
    }

    /// The bucket key for a new object of `bucket` under the KMS key `key_arn`: a cached one
    /// (after checking the caller may use the key), or a fresh one from the KMS.
    fn bucket_key_for_write(
        &self,
        bucket: &str,
        key_arn: &str,
        object: &str,
        caller: &Caller,
    ) -> S3Result<BucketKeyUse> {
        let kms = self.kms()?;
        let context = s3_context(&bucket_arn(bucket), &EncryptionContext::new());
        kms.check_access(caller, key_arn, "kms:GenerateDataKey", &context)
            .map_err(kms_error)?;
        if let Some(cached) = self.bucket_keys.for_write(bucket, key_arn, object) {
            return Ok(cached);
        }
        let recorded = kms.generate_data_key(caller, key_arn, &context);
        let out = coffer_store::run_blocking(|| recorded.wait()).map_err(kms_error)?;
        let material = out
            .plaintext
            .ok_or_else(|| internal("the KMS returned no plaintext data key"))?;
        let blob = B64.encode(&out.ciphertext);
        let kek = object_kek(&material, object);
        self.bucket_keys
            .insert_made(bucket, key_arn, material, blob.clone());
        Ok(BucketKeyUse { kek, blob })
    }

    /// The plaintext of a bucket key, from the cache (after checking the caller may use the
    /// KMS key) or from the KMS.
    fn open_bucket_key(
        &self,
        bucket: &str,
        key_arn: &str,
        blob: &str,
        caller: &Caller,
    ) -> S3Result<Zeroizing<Vec<u8>>> {
        let kms = self.kms()?;
        let context = s3_context(&bucket_arn(bucket), &EncryptionContext::new());
        kms.check_access(caller, key_arn, "kms:Decrypt", &context)
            .map_err(kms_error)?;
        if let Some(material) = self.bucket_keys.opened(blob) {
            return Ok(material);
        }
        let raw = B64
            .decode(blob)
            .map_err(|_| internal("bucket key ciphertext is malformed"))?;
        let recorded = kms.decrypt(caller, &raw, &context);
        let out = coffer_store::run_blocking(|| recorded.wait()).map_err(kms_error)?;
        self.bucket_keys.insert_opened(blob, out.plaintext.clone());
        Ok(out.plaintext)
    }

    /// Seals under the current SSE-S3 master-key version (also what rekeying does).
    pub(crate) fn seal_under_master(&self, dek: &DataKey, arn: &str) -> S3Result<EncryptionRecord> {
        let (version, master) = self.keyring.current();
        let sealed = seal_key(master.as_ref(), dek, arn.as_bytes()).map_err(internal)?;
        Ok(EncryptionRecord::SseS3 {
            master_version: version,
            sealed_key: B64.encode(sealed.as_bytes()),
        })
    }

    /// Opens the data key of the object stored at `bucket/key` (`None` for a record written
    /// before encryption at rest), with the customer's key when the request carried one, and
    /// as `user` when the KMS must decrypt it.
    ///
    /// An SSE-C object needs the key (`InvalidRequest` without it, `AccessDenied` for
    /// another key); other objects refuse one. An SSE-S3 key that does not open is an
    /// integrity failure; an SSE-KMS one is whatever the KMS says.
    pub(crate) async fn open_data_key(
        &self,
        bucket: &str,
        key: &str,
        encryption: Option<&EncryptionRecord>,
        customer: Option<&CustomerKey>,
        user: Option<&User>,
    ) -> S3Result<Option<Arc<DataKey>>> {
        self.open_data_key_read(bucket, key, encryption, customer, user, None)
            .await
    }

    /// [`CofferS3::open_data_key`], handing the KMS the key record the request read with the
    /// object (see [`coffer_store::MetaStore::get_object_for_read`]) so it need not read it
    /// again.
    pub(crate) async fn open_data_key_read(
        &self,
        bucket: &str,
        key: &str,
        encryption: Option<&EncryptionRecord>,
        customer: Option<&CustomerKey>,
        user: Option<&User>,
        key_read: Option<Arc<KmsRecordSnapshot>>,
    ) -> S3Result<Option<Arc<DataKey>>> {
        match (is_customer(encryption), customer) {
            (true, None) => return Err(customer_key::key_required()),
            (false, Some(_)) => return Err(customer_key::not_applicable()),
            _ => {}
        }
        let Some(e) = encryption else { return Ok(None) };
        let arn = object_arn(bucket, key);
        let raw = B64.decode(e.sealed_key()).ok();
        let sealed = || {
            raw.as_deref()
                .and_then(|b| SealedKey::from_bytes(b).ok())
                .ok_or_else(|| integrity_alert(bucket, key, "sealed data key is malformed"))
        };
        let dek: DataKey = match e {
            EncryptionRecord::SseS3 { master_version, .. } => {
                let master = self.keyring.version(*master_version).ok_or_else(|| {
                    internal(format!("master key version {master_version} is gone"))
                })?;
                open_key(master.as_ref(), &sealed()?, arn.as_bytes())
                    .map_err(|_| integrity_alert(bucket, key, "sealed data key does not open"))?
            }
            EncryptionRecord::Customer { customer_salt, .. } => {
                let customer = customer.ok_or_else(customer_key::key_required)?;
                // A wrong key and an altered record look alike here; both are a 403, and
                // a wrong key is the customer's everyday mistake, not an alert.
                let salt = B64
                    .decode(customer_salt)
                    .map_err(|_| integrity_alert(bucket, key, "SSE-C salt is malformed"))?;
                let kek = customer_kek(customer, &salt, &arn);
                open_key(&kek, &sealed()?, arn.as_bytes()).map_err(|_| customer_key::wrong_key())?
            }
            EncryptionRecord::KmsBucketKey {
                key_arn,
                bucket_key,
                ..
            } => {
                let user = user.ok_or_else(|| internal("an SSE-KMS read without a caller"))?;
                let caller = self.kms_caller_read(user, key_read);
                let material = self.open_bucket_key(bucket, key_arn, bucket_key, &caller)?;
                open_key(&object_kek(&material, &arn), &sealed()?, arn.as_bytes())
                    .map_err(|_| integrity_alert(bucket, key, "sealed data key does not open"))?
            }
            EncryptionRecord::Kms { context, .. } => {
                let user = user.ok_or_else(|| internal("an SSE-KMS read without a caller"))?;
                let blob = raw
                    .as_deref()
                    .ok_or_else(|| integrity_alert(bucket, key, "KMS ciphertext is malformed"))?;
                let context = s3_context(&arn, &parse_stored_context(context.as_deref())?);
                let out = self
                    .kms()?
                    .decrypt(&self.kms_caller_read(user, key_read), blob, &context)
                    .on_disk()
                    .await
                    .map_err(kms_error)?;
                DataKey::from_bytes(&out.plaintext).map_err(internal)?
            }
        };
        Ok(Some(Arc::new(dek)))
    }
}
