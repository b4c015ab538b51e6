//! Aliases: creating, retargeting and deleting the names that point at keys.

use super::{BuiltinKms, Caller, now_ms};
use crate::api_error::KmsApiError;
use crate::key_ref::check_alias_name;
use crate::records::AliasRecord;

impl BuiltinKms {
    pub fn create_alias(
        &self,
        caller: &Caller,
        name: &str,
        target: &str,
    ) -> Result<(), KmsApiError> {
        check_alias_name(name, true)?;
        self.changing(|| {
            let record = self.authorized_key(caller, target, "kms:CreateAlias", None)?;
            self.check_not_pending(&record)?;
            if self.load_alias(name)?.is_some() {
                return Err(KmsApiError::already_exists(format!(
                    "An alias with the name {} already exists",
                    self.identity.alias_arn(name)
                )));
            }
            let now = now_ms();
            // Expects no alias: if another writer creates it first, this runs again and
            // finds it.
            self.save_alias(&AliasRecord {
                v: 1,
                name: name.to_owned(),
                target_key_id: record.key_id,
                created_ms: now,
                updated_ms: now,
                stored_version: None,
            })
        })
    }

    fn alias_for_change(&self, name: &str) -> Result<AliasRecord, KmsApiError> {
        check_alias_name(name, false)?;
        if name.starts_with("alias/aws/") {
            return Err(KmsApiError::invalid_alias_name(format!(
                "Alias {name} is an AWS managed alias and cannot be changed"
            )));
        }
        self.load_alias(name)?.ok_or_else(|| {
            KmsApiError::not_found(format!(
                "Alias {} is not found.",
                self.identity.alias_arn(name)
            ))
        })
    }

    pub fn update_alias(
        &self,
        caller: &Caller,
        name: &str,
        target: &str,
    ) -> Result<(), KmsApiError> {
        self.changing(|| {
            let mut alias = self.alias_for_change(name)?;
            // As on AWS, both keys must allow it: otherwise anyone could point another user's
            // alias (and the buckets that name it) at a key of their own.
            if let Some(current) = self.load_key(&alias.target_key_id)? {
                self.authorize(caller, "kms:UpdateAlias", &current, None)?;
            }
            let record = self.authorized_key(caller, target, "kms:UpdateAlias", None)?;
            self.check_not_pending(&record)?;
            alias.target_key_id = record.key_id;
            alias.updated_ms = now_ms();
            self.save_alias(&alias)
        })
    }

    pub fn delete_alias(&self, caller: &Caller, name: &str) -> Result<(), KmsApiError> {
        self.changing(|| {
            let alias = self.alias_for_change(name)?;
            if let Some(record) = self.load_key(&alias.target_key_id)? {
                self.authorize(caller, "kms:DeleteAlias", &record, None)?;
            }
            self.delete_alias_record(&alias)
        })
    }
}
