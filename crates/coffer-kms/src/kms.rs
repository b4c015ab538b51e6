//! What the S3 layer asks of a KMS, as S3 asks AWS KMS: data keys for new objects, and
//! decryption of the data keys of existing ones, always as the requesting user. The S3
//! layer never sees a KMS key's material. The built-in KMS implements it; an external KMS
//! (AWS KMS, Vault Transit) would too.

use serde_json::{Value, json};

use crate::api_error::KmsApiError;
use crate::audit_events::{call_event, context_json};
use crate::builtin::{BuiltinKms, Caller, DataKeyOutput, Decrypted, S3_MANAGED_ALIAS};
use crate::ciphertext::EncryptionContext;

pub trait Kms: Send + Sync + 'static {
    /// The ARN of the key `key` names (`None`: the `aws/s3` managed key, created on first
    /// use), as S3 reports it.
    fn key_arn_for_s3(&self, key: Option<&str>) -> Result<String, KmsApiError>;

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
    ) -> Result<DataKeyOutput, KmsApiError>;

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
    ) -> Result<Decrypted, KmsApiError>;
}

/// One KMS request S3 made on a user's behalf, around `call`: counted, timed, and recorded in
/// the audit trail (success or failure) before its result is returned. The JSON API counts
/// and records its own requests.
fn on_behalf<T>(
    kms: &BuiltinKms,
    caller: &Caller,
    operation: &'static str,
    parameters: Value,
    resources: Vec<String>,
    call: impl FnOnce() -> Result<T, KmsApiError>,
) -> Result<T, KmsApiError> {
    metrics::counter!("coffer_kms_requests_total", "operation" => operation, "via" => "s3")
        .increment(1);
    let started = std::time::Instant::now();
    let result = call();
    kms.record(&call_event(
        caller,
        operation,
        parameters,
        Value::Null,
        resources,
        result.as_ref().err(),
    ))?;
    metrics::histogram!("coffer_kms_request_duration_seconds", "via" => "s3")
        .record(started.elapsed().as_secs_f64());
    if let Err(e) = &result {
        metrics::counter!("coffer_kms_errors_total", "code" => e.code).increment(1);
    }
    result
}

impl Kms for BuiltinKms {
    fn key_arn_for_s3(&self, key: Option<&str>) -> Result<String, KmsApiError> {
        let record = match key {
            None | Some(S3_MANAGED_ALIAS) => self.s3_managed_key()?,
            Some(k) if k == self.identity().alias_arn(S3_MANAGED_ALIAS) => self.s3_managed_key()?,
            Some(k) => self.resolve(k)?,
        };
        Ok(self.key_arn(&record))
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
    ) -> Result<DataKeyOutput, KmsApiError> {
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
    }

    fn decrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Result<Decrypted, KmsApiError> {
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
