//! Cryptographic operations: encrypt, data keys, decrypt, re-encrypt and random bytes.

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::{BuiltinKms, Caller, DataKeyOutput, Decrypted, MAX_PLAINTEXT};
use crate::api_error::KmsApiError;
use crate::ciphertext::{self, EncryptionContext};
use crate::records::KeyRecord;

impl BuiltinKms {
    pub fn encrypt(
        &self,
        caller: &Caller,
        given: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<(Vec<u8>, String), KmsApiError> {
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
            return Err(KmsApiError::validation(
                "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
            ));
        }
        let record = self.authorized_key(caller, given, "kms:Encrypt", Some(context))?;
        self.check_usable(&record)?;
        let version = record.current_version();
        let material = self.material(&record, version)?;
        let blob = ciphertext::seal(&record.key_id, version, &material, plaintext, context)?;
        Ok((blob, self.key_arn(&record)))
    }

    pub fn generate_data_key(
        &self,
        caller: &Caller,
        given: &str,
        bytes: usize,
        context: &EncryptionContext,
        with_plaintext: bool,
    ) -> Result<DataKeyOutput, KmsApiError> {
        let action = if with_plaintext {
            "kms:GenerateDataKey"
        } else {
            "kms:GenerateDataKeyWithoutPlaintext"
        };
        let record = self.authorized_key(caller, given, action, Some(context))?;
        self.check_usable(&record)?;
        let mut key = Zeroizing::new(vec![0u8; bytes]);
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| KmsApiError::internal("the system random source failed"))?;
        let version = record.current_version();
        let material = self.material(&record, version)?;
        let blob = ciphertext::seal(&record.key_id, version, &material, &key, context)?;
        Ok(DataKeyOutput {
            plaintext: with_plaintext.then_some(key),
            ciphertext: blob,
            key_arn: self.key_arn(&record),
            material_id: self.material_id(&record, version),
        })
    }

    /// Opens a blob. The key comes from the blob; a `KeyId` the caller names must be it.
    pub fn decrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        context: &EncryptionContext,
        expected_key: Option<&str>,
    ) -> Result<Decrypted, KmsApiError> {
        let (record, version, plaintext) =
            self.open_blob(caller, "kms:Decrypt", blob, context, expected_key)?;
        Ok(Decrypted {
            plaintext,
            key_arn: self.key_arn(&record),
            material_id: self.material_id(&record, version),
        })
    }

    /// Opens a blob under the key it names, for `action`: the key must exist, allow the
    /// caller, be the key the caller named (if any) and be usable. Authorised before the
    /// named key is looked at, so a refused caller learns nothing about it.
    fn open_blob(
        &self,
        caller: &Caller,
        action: &str,
        blob: &[u8],
        context: &EncryptionContext,
        expected_key: Option<&str>,
    ) -> Result<(KeyRecord, u32, Zeroizing<Vec<u8>>), KmsApiError> {
        let header = ciphertext::header(blob)?;
        let record = self
            .load_key_for_use(caller, &header.key_id)?
            .ok_or_else(|| {
                KmsApiError::key_does_not_exist(&self.identity.key_arn(&header.key_id))
            })?;
        self.authorize(caller, action, &record, Some(context))?;
        if let Some(expected) = expected_key
            && self.resolve(expected)?.key_id != record.key_id
        {
            return Err(KmsApiError::incorrect_key());
        }
        self.check_usable(&record)?;
        let material = self.material(&record, header.version)?;
        let plaintext = ciphertext::open(blob, &material, context)?;
        Ok((record, header.version, plaintext))
    }

    /// Decrypts under the source key and encrypts under the destination, never returning the
    /// plaintext.
    pub fn re_encrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        source_context: &EncryptionContext,
        source_key: Option<&str>,
        destination_key: &str,
        destination_context: &EncryptionContext,
    ) -> Result<(Vec<u8>, String, String), KmsApiError> {
        let (source, _, plaintext) = self.open_blob(
            caller,
            "kms:ReEncryptFrom",
            blob,
            source_context,
            source_key,
        )?;
        let destination = self.authorized_key(
            caller,
            destination_key,
            "kms:ReEncryptTo",
            Some(destination_context),
        )?;
        self.check_usable(&destination)?;
        let version = destination.current_version();
        let sealed = ciphertext::seal(
            &destination.key_id,
            version,
            &self.material(&destination, version)?,
            &plaintext,
            destination_context,
        )?;
        Ok((sealed, self.key_arn(&source), self.key_arn(&destination)))
    }

    pub fn generate_random(&self, bytes: usize) -> Result<Zeroizing<Vec<u8>>, KmsApiError> {
        if !(1..=1024).contains(&bytes) {
            return Err(KmsApiError::validation(format!(
                "1 validation error detected: Value '{bytes}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024"
            )));
        }
        let mut out = Zeroizing::new(vec![0u8; bytes]);
        SystemRandom::new()
            .fill(&mut out)
            .map_err(|_| KmsApiError::internal("the system random source failed"))?;
        Ok(out)
    }
}
