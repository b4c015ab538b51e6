//! SSE-KMS glue: calling the KMS as the requesting user (through S3, as `kms:ViaService`
//! says), and reporting KMS errors as S3 reports them (`KMS.<exception>`, 400; authorisation
//! failures as plain `AccessDenied`, 403).

use std::sync::Arc;

use coffer_kms::{Caller, EncryptionContext, Kms, KmsApiError, Recorded};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use crate::auth::User;
use crate::service::CofferS3;
use crate::sse::encryption::S3_ARN_CONTEXT;

pub(crate) fn kms_error(e: KmsApiError) -> S3Error {
    match e.code {
        "AccessDeniedException" => {
            let mut err = S3Error::with_message(S3ErrorCode::AccessDenied, e.message);
            err.set_status_code(http::StatusCode::FORBIDDEN);
            err
        }
        "KMSInternalException" => crate::error::internal("the KMS failed"),
        code => {
            let mut err =
                S3Error::with_message(S3ErrorCode::Custom(format!("KMS.{code}").into()), e.message);
            err.set_status_code(http::StatusCode::BAD_REQUEST);
            err
        }
    }
}

/// The encryption context S3 uses: its own `aws:s3:arn` pair plus the caller's.
pub(crate) fn s3_context(arn: &str, extra: &EncryptionContext) -> EncryptionContext {
    let mut context = extra.clone();
    context.insert(S3_ARN_CONTEXT.to_owned(), arn.to_owned());
    context
}

/// The caller's pairs as stored in the object record.
pub(crate) fn stored_context(extra: &EncryptionContext) -> Option<String> {
    (!extra.is_empty()).then(|| serde_json::to_string(extra).unwrap_or_default())
}

pub(crate) fn parse_stored_context(stored: Option<&str>) -> S3Result<EncryptionContext> {
    match stored {
        None => Ok(EncryptionContext::new()),
        Some(s) => serde_json::from_str(s).map_err(crate::error::internal),
    }
}

/// The KMS as handlers call it, from a runtime worker. A call decided on the key record
/// the request already read (see [`Caller::key_read`]) reads and writes nothing in the
/// store: it runs on the worker, and only its audit record is awaited
/// ([`Recorded::on_disk`]). Any other call may read the store, over a network for a shared
/// one (or create `aws/s3` once), so it runs with the worker handed to other requests
/// meanwhile (`block_in_place`), rather than stalling every connection on that worker.
pub(crate) struct OffRuntime(pub Arc<dyn Kms>);

/// Whether `caller` holds the record, found, of the key with this store id.
fn holds(caller: &Caller, id: Option<String>) -> bool {
    matches!((&caller.key_read, id), (Some(read), Some(id)) if read.id == id && read.found.is_some())
}

/// Runs `call` on the worker if it is decided on a record `caller` holds, else off it.
fn decided<T>(caller: &Caller, id: Option<String>, call: impl FnOnce() -> T) -> T {
    if holds(caller, id) {
        call()
    } else {
        tokio::task::block_in_place(call)
    }
}

impl Kms for OffRuntime {
    fn key_arn_for_s3(&self, caller: &Caller, key: Option<&str>) -> Result<String, KmsApiError> {
        decided(caller, self.0.key_record_id_for_s3(key), || {
            self.0.key_arn_for_s3(caller, key)
        })
    }

    /// No read, so no need to leave the runtime.
    fn key_record_id_for_s3(&self, key: Option<&str>) -> Option<String> {
        self.0.key_record_id_for_s3(key)
    }

    fn key_record_id_of_blob(&self, blob: &[u8]) -> Option<String> {
        self.0.key_record_id_of_blob(blob)
    }

    fn check_access(
        &self,
        caller: &Caller,
        key: &str,
        action: &str,
        context: &EncryptionContext,
    ) -> Result<(), KmsApiError> {
        decided(caller, self.0.key_record_id_for_s3(Some(key)), || {
            self.0.check_access(caller, key, action, context)
        })
    }

    fn generate_data_key(
        &self,
        caller: &Caller,
        key: &str,
        context: &EncryptionContext,
    ) -> Recorded<coffer_kms::DataKeyOutput> {
        decided(caller, self.0.key_record_id_for_s3(Some(key)), || {
            self.0.generate_data_key(caller, key, context)
        })
    }

    fn encrypt(
        &self,
        caller: &Caller,
        key: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KmsApiError> {
        tokio::task::block_in_place(|| self.0.encrypt(caller, key, plaintext, context))
    }

    fn decrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Recorded<coffer_kms::Decrypted> {
        decided(caller, self.0.key_record_id_of_blob(blob), || {
            self.0.decrypt(caller, blob, context)
        })
    }
}

impl CofferS3 {
    pub(crate) fn kms(&self) -> S3Result<&Arc<dyn Kms>> {
        self.kms.as_ref().ok_or_else(|| {
            s3_error!(
                NotImplemented,
                "SSE-KMS is not available: this server runs without a KMS."
            )
        })
    }

    /// The id of the KMS record a write with these headers will seal under, when the
    /// headers ask for SSE-KMS and the KMS knows it without a read (see
    /// [`Kms::key_record_id_for_s3`]); a write relying on its bucket's default reads the
    /// key later, as does one that names an alias.
    pub(crate) fn kms_record_to_read(
        &self,
        sse: Option<&s3s::dto::ServerSideEncryption>,
        key: Option<&str>,
    ) -> Option<String> {
        if sse?.as_str() != crate::sse::encryption::SSE_KMS {
            return None;
        }
        self.kms.as_ref()?.key_record_id_for_s3(key)
    }

    /// The user as the KMS sees them when S3 calls on their behalf.
    /// [`CofferS3::kms_caller`] for a read that already holds its key's record.
    pub(crate) fn kms_caller_read(
        &self,
        user: &User,
        key_read: Option<Arc<coffer_store::KmsRecordSnapshot>>,
    ) -> Caller {
        Caller {
            key_read,
            ..self.kms_caller(user)
        }
    }

    pub(crate) fn kms_caller(&self, user: &User) -> Caller {
        Caller {
            arn: self.user_arn(user),
            user_name: user.name.clone(),
            admin: user.admin,
            via_service: Some(format!("s3.{}.amazonaws.com", self.identity.region)),
            client: None,
            key_read: None,
        }
    }
}
