//! Authorisation: key policies evaluated as the caller, and the key-state checks operations share.

use std::collections::BTreeMap;
use std::sync::Arc;

use coffer_policy::{Decision, Policy, Request};

use super::{BuiltinKms, Caller};
use crate::api_error::KmsApiError;
use crate::ciphertext::EncryptionContext;
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
        let policy = self.parsed_policy(&record.policy)?;
        // Most key policies (the default one among them) have no conditions: building the
        // context for them was a dozen allocations on every S3 call through the KMS.
        let conditions = if policy.reads_context() {
            self.policy_context(caller, context)
        } else {
            BTreeMap::new()
        };
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

    /// What a key policy's conditions and variables may read about a call.
    fn policy_context(
        &self,
        caller: &Caller,
        context: Option<&EncryptionContext>,
    ) -> BTreeMap<String, Vec<String>> {
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
        conditions
    }

    /// The key's policy, parsed once per text. A stored policy was parsed when it was put, so
    /// one that no longer parses is an internal error, not the caller's.
    fn parsed_policy(&self, text: &str) -> Result<Arc<Policy>, KmsApiError> {
        self.parsed
            .get(text)
            .map_err(|e| KmsApiError::internal(format!("stored key policy: {e}")))
    }

    /// Resolves a key the caller may use for `action`.
    pub(super) fn authorized_key(
        &self,
        caller: &Caller,
        given: &str,
        action: &str,
        context: Option<&EncryptionContext>,
    ) -> Result<KeyRecord, KmsApiError> {
        let record = self.resolve_for_use(caller, given)?;
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
        let record = self.resolve_for_use(caller, given)?;
        self.authorize(caller, action, &record, Some(context))?;
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

#[cfg(test)]
mod tests {
    //! The policies KMS writes, evaluated with the conditions `authorize` supplies. The
    //! language's own tables are in coffer-policy.

    use std::sync::Arc;

    use coffer_store::RedbMetaStore;

    use super::super::{BuiltinKms, Caller, NewKey};
    use crate::ciphertext::EncryptionContext;
    use crate::key_ref::KmsIdentity;
    use crate::root::RootKey;

    const ACCOUNT: &str = "000000000000";

    fn kms(dir: &std::path::Path) -> BuiltinKms {
        let meta = Arc::new(RedbMetaStore::open(&dir.join("m.redb")).unwrap());
        let root = Arc::new(RootKey::load(dir).unwrap());
        let identity = KmsIdentity {
            account_id: ACCOUNT.into(),
            region: "us-east-1".into(),
        };
        BuiltinKms::new(meta, root, identity)
    }

    fn user(name: &str, admin: bool, via_s3: bool) -> Caller {
        Caller {
            arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
            user_name: name.into(),
            admin,
            via_service: via_s3.then(|| "s3.us-east-1.amazonaws.com".into()),
            client: None,
            key_read: None,
        }
    }

    fn allowed(kms: &BuiltinKms, caller: &Caller, key: &str, action: &str) -> bool {
        match kms.check_access(caller, key, action, &EncryptionContext::new()) {
            Ok(()) => true,
            Err(e) if e.code == "AccessDeniedException" => false,
            Err(e) => panic!("{action}: {} {}", e.code, e.message),
        }
    }

    #[test]
    fn the_default_key_policy_grants_the_account_admins_only() {
        let dir = tempfile::tempdir().unwrap();
        let kms = kms(dir.path());
        let (admin, alice) = (user("root", true, false), user("alice", false, false));
        let key = kms.create_key(&alice, NewKey::default()).unwrap().key_id;
        assert!(allowed(&kms, &admin, &key, "kms:Encrypt"));
        assert!(allowed(&kms, &admin, &key, "kms:ScheduleKeyDeletion"));
        assert!(!allowed(&kms, &alice, &key, "kms:Encrypt"));
        assert!(!allowed(
            &kms,
            &user("bob", false, true),
            &key,
            "kms:Decrypt"
        ));
    }

    #[test]
    fn the_s3_managed_key_is_for_every_user_through_s3_only() {
        let dir = tempfile::tempdir().unwrap();
        let kms = kms(dir.path());
        let key = kms.s3_managed_key().unwrap().key_id;
        let (alice, alice_via_s3) = (user("alice", false, false), user("alice", false, true));
        assert!(allowed(&kms, &alice_via_s3, &key, "kms:GenerateDataKey"));
        assert!(allowed(&kms, &alice_via_s3, &key, "kms:Decrypt"));
        assert!(!allowed(&kms, &alice, &key, "kms:Decrypt"), "not directly");
        assert!(!allowed(&kms, &alice, &key, "kms:DescribeKey"));
        let admin = user("root", true, false);
        assert!(allowed(&kms, &admin, &key, "kms:DescribeKey"));
        assert!(
            !allowed(&kms, &admin, &key, "kms:Decrypt"),
            "not directly, even an admin"
        );
    }

    #[test]
    fn a_new_policy_applies_to_the_next_request() {
        let dir = tempfile::tempdir().unwrap();
        let kms = kms(dir.path());
        let (admin, alice) = (user("root", true, false), user("alice", false, false));
        let key = kms.create_key(&admin, NewKey::default()).unwrap().key_id;
        assert!(!allowed(&kms, &alice, &key, "kms:Encrypt"));
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[
                {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*"}},
                {{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:Encrypt",
                  "Condition":{{"StringEquals":{{"kms:CallerAccount":"{ACCOUNT}"}}}}}}]}}"#,
            alice.arn
        );
        kms.put_key_policy(&admin, &key, policy).unwrap();
        assert!(allowed(&kms, &alice, &key, "kms:Encrypt"));
        assert!(!allowed(&kms, &alice, &key, "kms:Decrypt"));
    }
}
