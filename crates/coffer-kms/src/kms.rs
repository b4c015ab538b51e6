//! What the S3 layer asks of a KMS, as S3 asks AWS KMS: data keys for new objects, and
//! decryption of the data keys of existing ones, always as the requesting user. The S3
//! layer never sees a KMS key's material. The built-in KMS implements it; an external KMS
//! (AWS KMS, Vault Transit) would too.

use serde_json::{Value, json};

use crate::api_error::KmsApiError;
use crate::audit_events::{call_event, context_json};
use crate::builtin::{BuiltinKms, Caller, DataKeyOutput, Decrypted, S3_MANAGED_ALIAS};
use crate::ciphertext::EncryptionContext;
use crate::key_ref::KeyRef;
use crate::recorded::Recorded;
use crate::records::KeyRecord;

pub trait Kms: Send + Sync + 'static {
    /// The ARN of the key `key` names (`None`: the `aws/s3` managed key, created on first
    /// use), as S3 reports it; from `caller`'s `key_read` when that is the key's record.
    fn key_arn_for_s3(&self, caller: &Caller, key: Option<&str>) -> Result<String, KmsApiError>;

    /// The metadata store's id for the record of the key `key` names, when that is known
    /// without a read (a key id or key ARN, or `aws/s3` once its key is known), so that S3
    /// can read the record with the bucket and hand it over as [`Caller::key_read`].
    fn key_record_id_for_s3(&self, key: Option<&str>) -> Option<String>;

    /// The metadata store's id for the record of the key a ciphertext `blob` names (what
    /// [`Kms::decrypt`] of it uses), or `None` for a blob that names none.
    fn key_record_id_of_blob(&self, blob: &[u8]) -> Option<String>;

    /// Whether `caller` may use `key` for `action` (e.g. `kms:Decrypt`) with `context` now:
    /// the key's policy and state, without a cryptographic operation. S3 Bucket Keys use it
    /// to keep enforcing both while they save the KMS calls themselves.
    fn check_access(
        &self,
        caller: &Caller,
        key: &str,
        action: &str,
        context: &EncryptionContext,
    ) -> Result<(), KmsApiError>;

    /// A fresh 256-bit data key under `key` (an ARN from [`Kms::key_arn_for_s3`]).
    fn generate_data_key(
        &self,
        caller: &Caller,
        key: &str,
        context: &EncryptionContext,
    ) -> Recorded<DataKeyOutput>;

    /// Encrypts an existing data key under `key` (re-sealing on copy or key change).
    fn encrypt(
        &self,
        caller: &Caller,
        key: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KmsApiError>;

    /// Decrypts a data key.
    fn decrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Recorded<Decrypted>;
}

/// One KMS request S3 made on a user's behalf, around `call`: counted, timed, and recorded in
/// the audit trail (success or failure); its result may be used once the record is on disk.
/// The JSON API counts and records its own requests.
fn on_behalf<T>(
    kms: &BuiltinKms,
    caller: &Caller,
    operation: &'static str,
    parameters: Value,
    resources: Vec<String>,
    call: impl FnOnce() -> Result<T, KmsApiError>,
) -> Recorded<T> {
    metrics::counter!("coffer_kms_requests_total", "operation" => operation, "via" => "s3")
        .increment(1);
    let started = std::time::Instant::now();
    let result = call();
    let event = call_event(
        caller,
        operation,
        parameters,
        Value::Null,
        resources,
        result.as_ref().err(),
    );
    match kms.record_queued(&event) {
        Ok(receipt) => Recorded::new(result, receipt, started),
        Err(e) => Recorded::new(Err(e), None, started),
    }
}

impl BuiltinKms {
    fn names_s3_managed_key(&self, key: Option<&str>) -> bool {
        match key {
            None | Some(S3_MANAGED_ALIAS) => true,
            Some(k) => k == self.identity().alias_arn(S3_MANAGED_ALIAS),
        }
    }
}

impl Kms for BuiltinKms {
    fn key_arn_for_s3(&self, caller: &Caller, key: Option<&str>) -> Result<String, KmsApiError> {
        let record = if self.names_s3_managed_key(key) {
            self.s3_managed_key_for_use(caller.key_read.as_deref())?
        } else {
            self.resolve_for_use(caller, key.unwrap_or_default())?
        };
        Ok(self.key_arn(&record))
    }

    fn key_record_id_for_s3(&self, key: Option<&str>) -> Option<String> {
        let id = if self.names_s3_managed_key(key) {
            self.known_s3_managed_key_id()?
        } else {
            match KeyRef::parse(key?, self.identity()).ok()? {
                KeyRef::Id(id) => id,
                KeyRef::Alias(_) => return None,
            }
        };
        Some(KeyRecord::store_id(&id))
    }

    fn key_record_id_of_blob(&self, blob: &[u8]) -> Option<String> {
        let header = crate::ciphertext::header(blob).ok()?;
        Some(KeyRecord::store_id(&header.key_id))
    }

    fn check_access(
        &self,
        caller: &Caller,
        key: &str,
        action: &str,
        context: &EncryptionContext,
    ) -> Result<(), KmsApiError> {
        BuiltinKms::check_access(self, caller, key, action, context)
    }

    fn generate_data_key(
        &self,
        caller: &Caller,
        key: &str,
        context: &EncryptionContext,
    ) -> Recorded<DataKeyOutput> {
        on_behalf(
            self,
            caller,
            "GenerateDataKey",
            json!({"keyId": key, "keySpec": "AES_256", "encryptionContext": context_json(context)}),
            vec![key.to_owned()],
            || BuiltinKms::generate_data_key(self, caller, key, 32, context, true),
        )
    }

    fn encrypt(
        &self,
        caller: &Caller,
        key: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KmsApiError> {
        on_behalf(
            self,
            caller,
            "Encrypt",
            json!({"keyId": key, "encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": context_json(context)}),
            vec![key.to_owned()],
            || BuiltinKms::encrypt(self, caller, key, plaintext, context).map(|(blob, _)| blob),
        )
        .wait()
    }

    fn decrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Recorded<Decrypted> {
        // The key is named by the blob itself; a blob that names none is recorded without.
        let key_arn = crate::ciphertext::header(blob)
            .map(|h| self.identity().key_arn(&h.key_id))
            .ok();
        on_behalf(
            self,
            caller,
            "Decrypt",
            json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": context_json(context)}),
            key_arn.into_iter().collect(),
            || BuiltinKms::decrypt(self, caller, blob, context, None),
        )
    }
}
