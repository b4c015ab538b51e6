//! The built-in KMS: customer-managed keys and the `aws/s3` managed key, their states,
//! aliases, tags, policies, rotation and deletion, and the cryptographic operations. Every
//! operation is authorised by the key's policy as the calling user.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_audit::AuditLog;
use coffer_crypto::{KeyEncryptionKey, SealedKey, open_key, seal_key};
use coffer_store::MetaStore;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::api_error::KmsApiError;
use crate::ciphertext::{self, EncryptionContext};
use crate::key_ref::{KeyRef, KmsIdentity, check_alias_name};
use crate::policy::{Decision, Policy, Request};
use crate::records::{
    ALIAS_PREFIX, AliasRecord, KEY_PREFIX, KeyManager, KeyRecord, KeyState, MaterialVersion,
};
use crate::root::RootKey;

/// The AWS-managed key S3 uses when a request names none.
pub const S3_MANAGED_ALIAS: &str = "alias/aws/s3";
const S3_MANAGED_DESCRIPTION: &str =
    "Default key that protects my S3 objects when no other key is defined";
const DAY_MS: i64 = 86_400_000;
/// AWS's cap on `RotateKeyOnDemand` per key.
const MAX_ON_DEMAND_ROTATIONS: usize = 25;
const MAX_PLAINTEXT: usize = 4096;

/// Who is calling, as policies and the audit trail see them.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `arn:aws:iam::<account>:user/<name>`.
    pub arn: String,
    pub user_name: String,
    /// An account administrator: the account principal of key policies names them.
    pub admin: bool,
    /// The AWS service calling on the user's behalf (`s3.<region>.amazonaws.com`), if any.
    pub via_service: Option<String>,
    /// Where a direct call came from, for the audit trail.
    pub client: Option<ClientInfo>,
}

/// The network side of a direct call.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub source_ip: String,
    pub user_agent: String,
    pub access_key_id: String,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The key policy a key gets when CreateKey names none: the account (its admin users here)
/// may do everything.
pub fn default_key_policy(identity: &KmsIdentity) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": identity.account_root()},
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}

/// The policy of `aws/s3`: every user of the account may use it through S3; the account may
/// look at it. Nobody may change it.
fn s3_managed_policy(identity: &KmsIdentity) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "auto-s3-2",
        "Statement": [
            {
                "Sid": "Allow access through S3 for all principals in the account that are authorized to use S3",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {
                    "kms:CallerAccount": identity.account_id,
                    "kms:ViaService": format!("s3.{}.amazonaws.com", identity.region)
                }}
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": identity.account_root()},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                "Resource": "*"
            }
        ]
    })
    .to_string()
}

/// A fresh data key and its ciphertext.
pub struct DataKeyOutput {
    pub plaintext: Option<Zeroizing<Vec<u8>>>,
    pub ciphertext: Vec<u8>,
    pub key_arn: String,
    pub material_id: String,
}

/// What Decrypt returns.
pub struct Decrypted {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub key_arn: String,
    pub material_id: String,
}

/// Input of CreateKey, validated by the API layer.
#[derive(Debug, Default, Clone)]
pub struct NewKey {
    pub description: String,
    pub policy: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// The built-in KMS backend.
pub struct BuiltinKms {
    meta: Arc<dyn MetaStore>,
    root: Arc<RootKey>,
    identity: KmsIdentity,
    /// Serialises read-modify-write of key and alias records within this process (the
    /// database admits one process).
    writes: Mutex<()>,
    /// Where every operation is recorded; `None` runs without an audit trail.
    audit: Option<Arc<AuditLog>>,
    /// Key policies parsed once per text: every operation evaluates one.
    parsed: Mutex<std::collections::HashMap<String, Arc<Policy>>>,
}

impl BuiltinKms {
    pub fn new(meta: Arc<dyn MetaStore>, root: Arc<RootKey>, identity: KmsIdentity) -> Self {
        Self {
            meta,
            root,
            identity,
            writes: Mutex::new(()),
            audit: None,
            parsed: Mutex::default(),
        }
    }

    /// The same KMS, recording every operation in `audit`.
    pub fn with_audit(mut self, audit: Arc<AuditLog>) -> Self {
        self.audit = Some(audit);
        self
    }

    pub fn audit(&self) -> Option<&Arc<AuditLog>> {
        self.audit.as_ref()
    }

    pub fn identity(&self) -> &KmsIdentity {
        &self.identity
    }

    pub fn key_arn(&self, record: &KeyRecord) -> String {
        self.identity.key_arn(&record.key_id)
    }

    /// An opaque id for one material version (AWS's `KeyMaterialId`, 64 hex digits); it
    /// reveals nothing about the material.
    pub fn material_id(&self, record: &KeyRecord, version: u32) -> String {
        let d = ring::digest::digest(
            &ring::digest::SHA256,
            format!("coffer-kms material {}#{version}", self.key_arn(record)).as_bytes(),
        );
        hex_encode(d.as_ref())
    }

    // ---- storage -------------------------------------------------------------------------

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn load_key(&self, key_id: &str) -> Result<Option<KeyRecord>, KmsApiError> {
        self.meta
            .get_kms_key(&KeyRecord::store_id(key_id))?
            .map(|b| serde_json::from_slice(&b).map_err(KmsApiError::internal))
            .transpose()
    }

    fn save_key(&self, record: &KeyRecord) -> Result<(), KmsApiError> {
        let bytes = serde_json::to_vec(record).map_err(KmsApiError::internal)?;
        Ok(self
            .meta
            .put_kms_key(&KeyRecord::store_id(&record.key_id), &bytes)?)
    }

    fn load_alias(&self, name: &str) -> Result<Option<AliasRecord>, KmsApiError> {
        self.meta
            .get_kms_key(name)?
            .map(|b| serde_json::from_slice(&b).map_err(KmsApiError::internal))
            .transpose()
    }

    fn save_alias(&self, alias: &AliasRecord) -> Result<(), KmsApiError> {
        let bytes = serde_json::to_vec(alias).map_err(KmsApiError::internal)?;
        Ok(self.meta.put_kms_key(&alias.name, &bytes)?)
    }

    /// Every key record, in key-id order.
    pub fn all_keys(&self) -> Result<Vec<KeyRecord>, KmsApiError> {
        self.meta
            .list_kms_keys(KEY_PREFIX)?
            .into_iter()
            .map(|(_, b)| serde_json::from_slice(&b).map_err(KmsApiError::internal))
            .collect()
    }

    /// Every alias record, in name order.
    pub fn all_aliases(&self) -> Result<Vec<AliasRecord>, KmsApiError> {
        self.meta
            .list_kms_keys(ALIAS_PREFIX)?
            .into_iter()
            .map(|(_, b)| serde_json::from_slice(&b).map_err(KmsApiError::internal))
            .collect()
    }

    /// The key a reference names. An alias that does not exist, or a key that does not, is
    /// `NotFoundException` with AWS's wording.
    pub fn resolve(&self, given: &str) -> Result<KeyRecord, KmsApiError> {
        let key_id = match KeyRef::parse(given, &self.identity)? {
            KeyRef::Id(id) => id,
            KeyRef::Alias(name) => match self.load_alias(&name)? {
                Some(a) => a.target_key_id,
                None => {
                    return Err(KmsApiError::not_found(format!(
                        "Alias {} is not found.",
                        self.identity.alias_arn(&name)
                    )));
                }
            },
        };
        self.load_key(&key_id)?
            .ok_or_else(|| KmsApiError::key_does_not_exist(&self.identity.key_arn(&key_id)))
    }

    fn material_aad(&self, key_id: &str, version: u32) -> Vec<u8> {
        format!("{}#{version}", self.identity.key_arn(key_id)).into_bytes()
    }

    fn new_material(
        &self,
        key_id: &str,
        version: u32,
        rotation_type: Option<&str>,
    ) -> Result<MaterialVersion, KmsApiError> {
        let material = KeyEncryptionKey::generate()?;
        let sealed = seal_key(
            self.root.kek(),
            &material,
            &self.material_aad(key_id, version),
        )?;
        Ok(MaterialVersion {
            version,
            created_ms: now_ms(),
            rotation_type: rotation_type.map(str::to_owned),
            sealed: B64.encode(sealed.as_bytes()),
        })
    }

    fn material(&self, record: &KeyRecord, version: u32) -> Result<KeyEncryptionKey, KmsApiError> {
        let v = record
            .versions
            .iter()
            .find(|v| v.version == version)
            .ok_or_else(KmsApiError::invalid_ciphertext)?;
        let sealed = B64
            .decode(&v.sealed)
            .ok()
            .and_then(|b| SealedKey::from_bytes(&b).ok())
            .ok_or_else(|| KmsApiError::internal("sealed key material is malformed"))?;
        open_key(
            self.root.kek(),
            &sealed,
            &self.material_aad(&record.key_id, version),
        )
        .map_err(|_| KmsApiError::internal("key material does not open under the root key"))
    }

    // ---- authorisation -------------------------------------------------------------------

    /// Evaluates the key's policy for `action` (e.g. `kms:Decrypt`) as `caller`.
    fn authorize(
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
    fn authorized_key(
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
    fn check_usable(&self, record: &KeyRecord) -> Result<(), KmsApiError> {
        match record.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsApiError::disabled(&self.key_arn(record))),
            KeyState::PendingDeletion => Err(KmsApiError::pending_deletion(&self.key_arn(record))),
        }
    }

    /// Management operations that change a key refuse one pending deletion.
    fn check_not_pending(&self, record: &KeyRecord) -> Result<(), KmsApiError> {
        if record.state == KeyState::PendingDeletion {
            return Err(KmsApiError::pending_deletion(&self.key_arn(record)));
        }
        Ok(())
    }

    /// AWS-managed keys cannot be changed by anyone.
    fn check_customer_managed(&self, record: &KeyRecord, op: &str) -> Result<(), KmsApiError> {
        if record.manager == KeyManager::Aws {
            return Err(KmsApiError::unsupported(format!(
                "{op} is not supported for AWS managed key {}",
                self.key_arn(record)
            )));
        }
        Ok(())
    }

    // ---- keys ----------------------------------------------------------------------------

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
        let key_id = uuid::Uuid::new_v4().to_string();
        let record = KeyRecord {
            v: 1,
            versions: vec![self.new_material(&key_id, 1, None)?],
            key_id,
            created_ms: now_ms(),
            description: new.description,
            state: KeyState::Enabled,
            manager: KeyManager::Customer,
            policy,
            rotation_period_days: None,
            next_rotation_ms: None,
            deletion_ms: None,
            pending_window_days: None,
            tags: new.tags,
        };
        let _guard = self.lock();
        self.save_key(&record)?;
        Ok(record)
    }

    /// The `aws/s3` key, created on first use (rotating yearly, as AWS rotates it).
    pub fn s3_managed_key(&self) -> Result<KeyRecord, KmsApiError> {
        if let Some(a) = self.load_alias(S3_MANAGED_ALIAS)?
            && let Some(k) = self.load_key(&a.target_key_id)?
        {
            return Ok(k);
        }
        let _guard = self.lock();
        // Another request may have created it while this one waited.
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
        };
        self.save_key(&record)?;
        self.save_alias(&AliasRecord {
            v: 1,
            name: S3_MANAGED_ALIAS.into(),
            target_key_id: key_id,
            created_ms: now,
            updated_ms: now,
        })?;
        tracing::info!(key = %self.key_arn(&record), "created the AWS managed key aws/s3");
        Ok(record)
    }

    pub fn describe_key(&self, caller: &Caller, given: &str) -> Result<KeyRecord, KmsApiError> {
        self.authorized_key(caller, given, "kms:DescribeKey", None)
    }

    /// Changes a key under the write lock: loads it fresh, lets `change` edit it, saves it.
    fn modify(
        &self,
        caller: &Caller,
        given: &str,
        action: &str,
        change: impl FnOnce(&mut KeyRecord) -> Result<(), KmsApiError>,
    ) -> Result<KeyRecord, KmsApiError> {
        let _guard = self.lock();
        let mut record = self.authorized_key(caller, given, action, None)?;
        change(&mut record)?;
        self.save_key(&record)?;
        Ok(record)
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
            r.description = description;
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
            r.tags.extend(tags);
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
            r.policy = policy;
            Ok(())
        })
        .map(|_| ())
    }

    pub fn list_key_policies(&self, caller: &Caller, given: &str) -> Result<(), KmsApiError> {
        self.authorized_key(caller, given, "kms:ListKeyPolicies", None)
            .map(|_| ())
    }

    // ---- aliases -------------------------------------------------------------------------

    pub fn create_alias(
        &self,
        caller: &Caller,
        name: &str,
        target: &str,
    ) -> Result<(), KmsApiError> {
        check_alias_name(name, true)?;
        let _guard = self.lock();
        let record = self.authorized_key(caller, target, "kms:CreateAlias", None)?;
        self.check_not_pending(&record)?;
        if self.load_alias(name)?.is_some() {
            return Err(KmsApiError::already_exists(format!(
                "An alias with the name {} already exists",
                self.identity.alias_arn(name)
            )));
        }
        let now = now_ms();
        self.save_alias(&AliasRecord {
            v: 1,
            name: name.to_owned(),
            target_key_id: record.key_id,
            created_ms: now,
            updated_ms: now,
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
        let _guard = self.lock();
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
    }

    pub fn delete_alias(&self, caller: &Caller, name: &str) -> Result<(), KmsApiError> {
        let _guard = self.lock();
        let alias = self.alias_for_change(name)?;
        if let Some(record) = self.load_key(&alias.target_key_id)? {
            self.authorize(caller, "kms:DeleteAlias", &record, None)?;
        }
        Ok(self.meta.delete_kms_key(name)?)
    }

    // ---- cryptographic operations --------------------------------------------------------

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
        let header = ciphertext::header(blob)?;
        let record = self.load_key(&header.key_id)?.ok_or_else(|| {
            KmsApiError::key_does_not_exist(&self.identity.key_arn(&header.key_id))
        })?;
        if let Some(expected) = expected_key
            && self.resolve(expected)?.key_id != record.key_id
        {
            return Err(KmsApiError::incorrect_key());
        }
        self.authorize(caller, "kms:Decrypt", &record, Some(context))?;
        self.check_usable(&record)?;
        let material = self.material(&record, header.version)?;
        let plaintext = ciphertext::open(blob, &material, context)?;
        Ok(Decrypted {
            plaintext,
            key_arn: self.key_arn(&record),
            material_id: self.material_id(&record, header.version),
        })
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
        let header = ciphertext::header(blob)?;
        let source = self.load_key(&header.key_id)?.ok_or_else(|| {
            KmsApiError::key_does_not_exist(&self.identity.key_arn(&header.key_id))
        })?;
        if let Some(expected) = source_key
            && self.resolve(expected)?.key_id != source.key_id
        {
            return Err(KmsApiError::incorrect_key());
        }
        self.authorize(caller, "kms:ReEncryptFrom", &source, Some(source_context))?;
        self.check_usable(&source)?;
        let plaintext = ciphertext::open(
            blob,
            &self.material(&source, header.version)?,
            source_context,
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

    // ---- rotation ------------------------------------------------------------------------

    pub fn enable_key_rotation(
        &self,
        caller: &Caller,
        given: &str,
        period_days: Option<u32>,
    ) -> Result<(), KmsApiError> {
        let period = period_days.unwrap_or(365);
        if !(90..=2560).contains(&period) {
            return Err(KmsApiError::validation(format!(
                "1 validation error detected: Value '{period}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value between 90 and 2560"
            )));
        }
        self.modify(caller, given, "kms:EnableKeyRotation", |r| {
            self.check_customer_managed(r, "EnableKeyRotation")?;
            self.check_usable(r)?;
            r.rotation_period_days = Some(period);
            r.next_rotation_ms = Some(now_ms() + i64::from(period) * DAY_MS);
            Ok(())
        })
        .map(|_| ())
    }

    pub fn disable_key_rotation(&self, caller: &Caller, given: &str) -> Result<(), KmsApiError> {
        self.modify(caller, given, "kms:DisableKeyRotation", |r| {
            self.check_customer_managed(r, "DisableKeyRotation")?;
            self.check_usable(r)?;
            r.rotation_period_days = None;
            r.next_rotation_ms = None;
            Ok(())
        })
        .map(|_| ())
    }

    pub fn get_key_rotation_status(
        &self,
        caller: &Caller,
        given: &str,
    ) -> Result<KeyRecord, KmsApiError> {
        self.authorized_key(caller, given, "kms:GetKeyRotationStatus", None)
    }

    fn rotate(&self, record: &mut KeyRecord, rotation_type: &str) -> Result<(), KmsApiError> {
        let next = record.current_version() + 1;
        let version = self.new_material(&record.key_id, next, Some(rotation_type))?;
        record.versions.push(version);
        Ok(())
    }

    pub fn rotate_key_on_demand(
        &self,
        caller: &Caller,
        given: &str,
    ) -> Result<KeyRecord, KmsApiError> {
        self.modify(caller, given, "kms:RotateKeyOnDemand", |r| {
            self.check_customer_managed(r, "RotateKeyOnDemand")?;
            self.check_usable(r)?;
            if r.on_demand_rotations() >= MAX_ON_DEMAND_ROTATIONS {
                return Err(KmsApiError::limit_exceeded(format!(
                    "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}",
                    self.key_arn(r)
                )));
            }
            self.rotate(r, "ON_DEMAND")
        })
    }

    pub fn list_key_rotations(
        &self,
        caller: &Caller,
        given: &str,
    ) -> Result<KeyRecord, KmsApiError> {
        self.authorized_key(caller, given, "kms:ListKeyRotations", None)
    }

    /// Operator rotation (`coffer kms rotate`), outside any key policy.
    pub fn rotate_as_operator(&self, given: &str) -> Result<KeyRecord, KmsApiError> {
        let _guard = self.lock();
        let mut record = self.resolve(given)?;
        self.check_usable(&record)?;
        self.rotate(&mut record, "ON_DEMAND")?;
        self.save_key(&record)?;
        self.record(&crate::audit_events::service_event(
            "RotateKeyOnDemand",
            &self.key_arn(&record),
            &record.key_id,
        ))?;
        Ok(record)
    }

    /// Operator deletion scheduling (`coffer kms schedule-deletion`), outside any key policy.
    pub fn schedule_deletion_as_operator(
        &self,
        given: &str,
        window_days: u32,
    ) -> Result<KeyRecord, KmsApiError> {
        let _guard = self.lock();
        let mut record = self.resolve(given)?;
        self.check_not_pending(&record)?;
        self.check_customer_managed(&record, "ScheduleKeyDeletion")?;
        record.state = KeyState::PendingDeletion;
        record.pending_window_days = Some(window_days);
        record.deletion_ms = Some(now_ms() + i64::from(window_days) * DAY_MS);
        self.save_key(&record)?;
        self.record(&crate::audit_events::service_event(
            "ScheduleKeyDeletion",
            &self.key_arn(&record),
            &record.key_id,
        ))?;
        Ok(record)
    }

    /// Runs what is due at `now_ms`: automatic rotations, and the destruction of keys whose
    /// deletion window has ended (their material and aliases go; everything sealed under
    /// them becomes unreadable). Returns what it did, for the log.
    pub fn run_due(&self, now: i64) -> Result<Vec<String>, KmsApiError> {
        let _guard = self.lock();
        let mut done = Vec::new();
        for mut record in self.all_keys()? {
            let arn = self.key_arn(&record);
            if record.state == KeyState::PendingDeletion
                && record.deletion_ms.is_some_and(|t| t <= now)
            {
                for alias in self.all_aliases()? {
                    if alias.target_key_id == record.key_id {
                        self.meta.delete_kms_key(&alias.name)?;
                    }
                }
                self.meta
                    .delete_kms_key(&KeyRecord::store_id(&record.key_id))?;
                self.record(&crate::audit_events::service_event(
                    "DeleteKey",
                    &arn,
                    &record.key_id,
                ))?;
                tracing::warn!(key = %arn, "deleted a KMS key and its material: what it sealed is unreadable");
                done.push(format!("deleted {arn}"));
                continue;
            }
            if record.state == KeyState::Enabled
                && let (Some(period), Some(due)) =
                    (record.rotation_period_days, record.next_rotation_ms)
                && due <= now
            {
                self.rotate(&mut record, "AUTOMATIC")?;
                record.next_rotation_ms = Some(now + i64::from(period) * DAY_MS);
                self.save_key(&record)?;
                self.record(&crate::audit_events::service_event(
                    "RotateKey",
                    &arn,
                    &record.key_id,
                ))?;
                tracing::info!(key = %arn, version = record.current_version(), "rotated a KMS key");
                done.push(format!("rotated {arn}"));
            }
        }
        Ok(done)
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
