//! Key lifecycle: creation (including `aws/s3`), description, state, deletion scheduling, tags and policies.

use std::collections::BTreeMap;

use coffer_policy::Policy;

use super::{
    BuiltinKms, Caller, DAY_MS, NewKey, S3_MANAGED_ALIAS, S3_MANAGED_DESCRIPTION,
    default_key_policy, now_ms, s3_managed_policy,
};
use crate::api_error::KmsApiError;
use crate::records::{AliasRecord, KeyManager, KeyRecord, KeyState};

impl BuiltinKms {
    /// Creates a customer-managed key. Any user may (there are no IAM policies here to say
    /// otherwise); what they may then do with it is up to its policy, which by default
    /// grants only the account's admins, as AWS's default grants the account.
    pub fn create_key(&self, _caller: &Caller, new: NewKey) -> Result<KeyRecord, KmsApiError> {
        let policy = match new.policy {
            Some(p) => {
                Policy::parse(&p).map_err(|e| KmsApiError::malformed_policy(e.to_string()))?;
                p
            }
            None => default_key_policy(&self.identity),
        };
        // A change of its own, so that CreateKey through the API and a direct call commit
        // the same way; a fresh key id never conflicts.
        self.changing(|| {
            let key_id = uuid::Uuid::new_v4().to_string();
            let record = KeyRecord {
                v: 1,
                versions: vec![self.new_material(&key_id, 1, None)?],
                key_id,
                created_ms: now_ms(),
                description: new.description.clone(),
                state: KeyState::Enabled,
                manager: KeyManager::Customer,
                policy: policy.clone(),
                rotation_period_days: None,
                next_rotation_ms: None,
                deletion_ms: None,
                pending_window_days: None,
                tags: new.tags.clone(),
                stored_version: None,
            };
            self.save_key(&record)?;
            Ok(record)
        })
    }

    /// The `aws/s3` key, created on first use (rotating yearly, as AWS rotates it).
    pub fn s3_managed_key(&self) -> Result<KeyRecord, KmsApiError> {
        self.s3_managed_key_for_use(None)
    }

    /// [`BuiltinKms::s3_managed_key`], from `key_read` when that is the key's record (see
    /// [`Caller::key_read`]) and its id is known already.
    pub(crate) fn s3_managed_key_for_use(
        &self,
        key_read: Option<&coffer_store::KmsRecordSnapshot>,
    ) -> Result<KeyRecord, KmsApiError> {
        if let Some(id) = self.known_s3_managed_key_id()
            && let Some(k) = self.load_key_from(key_read, &id)?
        {
            return Ok(k);
        }
        let key = self.find_or_create_s3_managed_key()?;
        *self.s3_managed_key_id() = Some(key.key_id.clone());
        Ok(key)
    }

    /// The id of the `aws/s3` key, if this process has read it, for a caller that wants to
    /// read the key's record along with its own (S3's PUT reads it with the bucket).
    pub fn known_s3_managed_key_id(&self) -> Option<String> {
        self.s3_managed_key_id().clone()
    }

    fn s3_managed_key_id(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // Only ever replaced whole, so a panic elsewhere cannot have left it half-written.
        self.s3_managed_key_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn find_or_create_s3_managed_key(&self) -> Result<KeyRecord, KmsApiError> {
        if let Some(a) = self.load_alias(S3_MANAGED_ALIAS)?
            && let Some(k) = self.load_key(&a.target_key_id)?
        {
            return Ok(k);
        }
        // Created with its alias in one change; of two gateways creating it at once, the
        // second finds the alias taken, runs again and returns the first one's key.
        self.changing(|| {
            if let Some(a) = self.load_alias(S3_MANAGED_ALIAS)?
                && let Some(k) = self.load_key(&a.target_key_id)?
            {
                return Ok(k);
            }
            let key_id = uuid::Uuid::new_v4().to_string();
            let now = now_ms();
            let record = KeyRecord {
                v: 1,
                versions: vec![self.new_material(&key_id, 1, None)?],
                key_id: key_id.clone(),
                created_ms: now,
                description: S3_MANAGED_DESCRIPTION.into(),
                state: KeyState::Enabled,
                manager: KeyManager::Aws,
                policy: s3_managed_policy(&self.identity),
                rotation_period_days: Some(365),
                next_rotation_ms: Some(now + 365 * DAY_MS),
                deletion_ms: None,
                pending_window_days: None,
                tags: BTreeMap::new(),
                stored_version: None,
            };
            self.save_key(&record)?;
            // An alias left by a key since deleted is replaced, at the version it was read.
            let stored_version = self
                .load_alias(S3_MANAGED_ALIAS)?
                .and_then(|a| a.stored_version);
            self.save_alias(&AliasRecord {
                v: 1,
                name: S3_MANAGED_ALIAS.into(),
                target_key_id: key_id,
                created_ms: now,
                updated_ms: now,
                stored_version,
            })?;
            tracing::info!(key = %self.key_arn(&record), "created the AWS managed key aws/s3");
            Ok(record)
        })
    }

    pub fn describe_key(&self, caller: &Caller, given: &str) -> Result<KeyRecord, KmsApiError> {
        self.authorized_key(caller, given, "kms:DescribeKey", None)
    }

    /// Changes a key by compare-and-swap: loads it fresh, lets `change` edit it, saves it
    /// expecting the version it loaded; if another writer got there first, all of it runs
    /// again on the record that writer left.
    pub(super) fn modify(
        &self,
        caller: &Caller,
        given: &str,
        action: &str,
        change: impl Fn(&mut KeyRecord) -> Result<(), KmsApiError>,
    ) -> Result<KeyRecord, KmsApiError> {
        self.changing(|| {
            let mut record = self.authorized_key(caller, given, action, None)?;
            change(&mut record)?;
            self.save_key(&record)?;
            Ok(record)
        })
    }

    pub fn update_key_description(
        &self,
        caller: &Caller,
        given: &str,
        description: String,
    ) -> Result<(), KmsApiError> {
        self.modify(caller, given, "kms:UpdateKeyDescription", |r| {
            self.check_not_pending(r)?;
            self.check_customer_managed(r, "UpdateKeyDescription")?;
            r.description = description.clone();
            Ok(())
        })
        .map(|_| ())
    }

    pub fn enable_key(&self, caller: &Caller, given: &str) -> Result<(), KmsApiError> {
        self.modify(caller, given, "kms:EnableKey", |r| {
            self.check_not_pending(r)?;
            self.check_customer_managed(r, "EnableKey")?;
            r.state = KeyState::Enabled;
            Ok(())
        })
        .map(|_| ())
    }

    pub fn disable_key(&self, caller: &Caller, given: &str) -> Result<(), KmsApiError> {
        self.modify(caller, given, "kms:DisableKey", |r| {
            self.check_not_pending(r)?;
            self.check_customer_managed(r, "DisableKey")?;
            r.state = KeyState::Disabled;
            Ok(())
        })
        .map(|_| ())
    }

    pub fn schedule_key_deletion(
        &self,
        caller: &Caller,
        given: &str,
        window_days: u32,
    ) -> Result<KeyRecord, KmsApiError> {
        if !(7..=30).contains(&window_days) {
            return Err(KmsApiError::validation(format!(
                "1 validation error detected: Value '{window_days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30"
            )));
        }
        self.modify(caller, given, "kms:ScheduleKeyDeletion", |r| {
            self.check_not_pending(r)?;
            self.check_customer_managed(r, "ScheduleKeyDeletion")?;
            r.state = KeyState::PendingDeletion;
            r.pending_window_days = Some(window_days);
            r.deletion_ms = Some(now_ms() + i64::from(window_days) * DAY_MS);
            Ok(())
        })
    }

    pub fn cancel_key_deletion(
        &self,
        caller: &Caller,
        given: &str,
    ) -> Result<KeyRecord, KmsApiError> {
        self.modify(caller, given, "kms:CancelKeyDeletion", |r| {
            if r.state != KeyState::PendingDeletion {
                return Err(KmsApiError::invalid_state(format!(
                    "{} is not pending deletion.",
                    self.key_arn(r)
                )));
            }
            // AWS leaves a key whose deletion was cancelled disabled.
            r.state = KeyState::Disabled;
            r.pending_window_days = None;
            r.deletion_ms = None;
            Ok(())
        })
    }

    pub fn tag_resource(
        &self,
        caller: &Caller,
        given: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<(), KmsApiError> {
        self.modify(caller, given, "kms:TagResource", |r| {
            self.check_not_pending(r)?;
            self.check_customer_managed(r, "TagResource")?;
            r.tags.extend(tags.clone());
            if r.tags.len() > 50 {
                return Err(KmsApiError::tag("A key can have at most 50 tags."));
            }
            Ok(())
        })
        .map(|_| ())
    }

    pub fn untag_resource(
        &self,
        caller: &Caller,
        given: &str,
        keys: &[String],
    ) -> Result<(), KmsApiError> {
        self.modify(caller, given, "kms:UntagResource", |r| {
            self.check_not_pending(r)?;
            self.check_customer_managed(r, "UntagResource")?;
            for k in keys {
                r.tags.remove(k);
            }
            Ok(())
        })
        .map(|_| ())
    }

    pub fn list_resource_tags(
        &self,
        caller: &Caller,
        given: &str,
    ) -> Result<BTreeMap<String, String>, KmsApiError> {
        Ok(self
            .authorized_key(caller, given, "kms:ListResourceTags", None)?
            .tags)
    }

    // ---- policies ------------------------------------------------------------------------

    pub fn get_key_policy(&self, caller: &Caller, given: &str) -> Result<String, KmsApiError> {
        Ok(self
            .authorized_key(caller, given, "kms:GetKeyPolicy", None)?
            .policy)
    }

    pub fn put_key_policy(
        &self,
        caller: &Caller,
        given: &str,
        policy: String,
    ) -> Result<(), KmsApiError> {
        Policy::parse(&policy).map_err(|e| KmsApiError::malformed_policy(e.to_string()))?;
        self.modify(caller, given, "kms:PutKeyPolicy", |r| {
            self.check_customer_managed(r, "PutKeyPolicy")?;
            r.policy = policy.clone();
            Ok(())
        })
        .map(|_| ())
    }

    pub fn list_key_policies(&self, caller: &Caller, given: &str) -> Result<(), KmsApiError> {
        self.authorized_key(caller, given, "kms:ListKeyPolicies", None)
            .map(|_| ())
    }
}
