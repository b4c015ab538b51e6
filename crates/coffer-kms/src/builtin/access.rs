//! Authorisation: key policies evaluated as the caller, and the key-state checks operations share.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{BuiltinKms, Caller};
use crate::api_error::KmsApiError;
use crate::ciphertext::EncryptionContext;
use crate::policy::{Decision, Policy, Request};
use crate::records::{KeyManager, KeyRecord, KeyState};

impl BuiltinKms {
    /// Evaluates the key's policy for `action` (e.g. `kms:Decrypt`) as `caller`.
    pub(super) fn authorize(
        &self,
        caller: &Caller,
        action: &str,
        record: &KeyRecord,
        context: Option<&EncryptionContext>,
    ) -> Result<(), KmsApiError> {
        let key_arn = self.key_arn(record);
        let mut conditions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        conditions.insert(
            "kms:CallerAccount".into(),
            vec![self.identity.account_id.clone()],
        );
        conditions.insert("aws:PrincipalArn".into(), vec![caller.arn.clone()]);
        conditions.insert("aws:username".into(), vec![caller.user_name.clone()]);
        if let Some(service) = &caller.via_service {
            conditions.insert("kms:ViaService".into(), vec![service.clone()]);
        }
        if let Some(ctx) = context {
            for (k, v) in ctx {
                conditions.insert(format!("kms:EncryptionContext:{k}"), vec![v.clone()]);
            }
            if !ctx.is_empty() {
                conditions.insert(
                    "kms:EncryptionContextKeys".into(),
                    ctx.keys().cloned().collect(),
                );
            }
        }
        let policy = self.parsed_policy(&record.policy)?;
        let decision = policy.evaluate(&Request {
            principal_arn: &caller.arn,
            account_principal: caller.admin.then_some(self.identity.account_id.as_str()),
            action,
            resource: &key_arn,
            context: &conditions,
        });
        match decision {
            Decision::Allow => Ok(()),
            Decision::ExplicitDeny => Err(KmsApiError::access_denied(format!(
                "User: {} is not authorized to perform: {action} on resource: {key_arn} with an explicit deny in a resource-based policy",
                caller.arn
            ))),
            Decision::NotApplicable => Err(KmsApiError::access_denied(format!(
                "User: {} is not authorized to perform: {action} on resource: {key_arn} because no resource-based policy allows the {action} action",
                caller.arn
            ))),
        }
    }

    fn parsed_policy(&self, text: &str) -> Result<Arc<Policy>, KmsApiError> {
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = parsed.get(text) {
            return Ok(p.clone());
        }
        let policy = Arc::new(
            Policy::parse(text)
                .map_err(|e| KmsApiError::internal(format!("stored key policy: {e}")))?,
        );
        if parsed.len() > 4096 {
            parsed.clear();
        }
        parsed.insert(text.to_owned(), policy.clone());
        Ok(policy)
    }

    /// Resolves a key the caller may use for `action`.
    pub(super) fn authorized_key(
        &self,
        caller: &Caller,
        given: &str,
        action: &str,
        context: Option<&EncryptionContext>,
    ) -> Result<KeyRecord, KmsApiError> {
        let record = self.resolve(given)?;
        self.authorize(caller, action, &record, context)?;
        Ok(record)
    }

    /// Whether a listing (ListKeys, ListAliases) may show `record` to `caller`: only what
    /// DescribeKey would describe to them, everything for the account's admins. AWS decides
    /// listings by IAM identity policies, which Coffer does not have; without this filter any
    /// user could read every key id and alias name (which often name customers).
    pub fn may_list(&self, caller: &Caller, record: &KeyRecord) -> bool {
        caller.admin
            || self
                .authorize(caller, "kms:DescribeKey", record, None)
                .is_ok()
    }

    /// The policy and state checks of a cryptographic operation, without the operation.
    pub fn check_access(
        &self,
        caller: &Caller,
        given: &str,
        action: &str,
        context: &EncryptionContext,
    ) -> Result<(), KmsApiError> {
        let record = self.authorized_key(caller, given, action, Some(context))?;
        self.check_usable(&record)
    }

    /// Cryptographic operations need an enabled key.
    pub(super) fn check_usable(&self, record: &KeyRecord) -> Result<(), KmsApiError> {
        match record.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsApiError::disabled(&self.key_arn(record))),
            KeyState::PendingDeletion => Err(KmsApiError::pending_deletion(&self.key_arn(record))),
        }
    }

    /// Management operations that change a key refuse one pending deletion.
    pub(super) fn check_not_pending(&self, record: &KeyRecord) -> Result<(), KmsApiError> {
        if record.state == KeyState::PendingDeletion {
            return Err(KmsApiError::pending_deletion(&self.key_arn(record)));
        }
        Ok(())
    }

    /// AWS-managed keys cannot be changed by anyone.
    pub(super) fn check_customer_managed(
        &self,
        record: &KeyRecord,
        op: &str,
    ) -> Result<(), KmsApiError> {
        if record.manager == KeyManager::Aws {
            return Err(KmsApiError::unsupported(format!(
                "{op} is not supported for AWS managed key {}",
                self.key_arn(record)
            )));
        }
        Ok(())
    }
}
