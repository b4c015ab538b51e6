//! The built-in KMS: customer-managed keys and the `aws/s3` managed key, their states,
//! aliases, tags, policies, rotation and deletion, and the cryptographic operations. Every
//! operation is authorised by the key's policy as the calling user.

mod access;
mod aliases;
mod change;
mod crypto;
mod decoded;
mod keys;
mod rotation;
mod store;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use coffer_audit::AuditLog;
use coffer_policy::PolicyCache;
use coffer_store::MetaStore;
use zeroize::Zeroizing;

use crate::key_ref::KmsIdentity;
use crate::records::KeyRecord;
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
    /// The record of the key this request uses, as the request's first read of the metadata
    /// store saw it (S3 reads an object and its key together, see
    /// [`coffer_store::MetaStore::get_object_for_read`]): used instead of reading it again.
    /// Only what a request read at its start, so a change committed before it is seen.
    pub key_read: Option<Arc<coffer_store::KmsRecordSnapshot>>,
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
    /// Orders this process's changes, between their commit and their append to the trail,
    /// before a replay of the audit outbox (see `change`). Key and alias records need no
    /// lock: they change by compare-and-swap.
    outbox: RwLock<()>,
    /// Where every operation is recorded; `None` runs without an audit trail.
    audit: Option<Arc<AuditLog>>,
    /// Key policies parsed once per text: every operation evaluates one. The process shares
    /// one cache with S3's bucket policies (see `with_policy_cache`).
    parsed: Arc<PolicyCache>,
    /// The `aws/s3` key's id, once read: that alias never changes (no alias call may touch
    /// an `aws/` alias) and its key cannot be disabled or deleted, so S3's writes need not
    /// read the alias again. The key's record, which rotation changes, is still read.
    s3_managed_key_id: std::sync::Mutex<Option<String>>,
    /// Key records as last decoded, by store id.
    decoded: decoded::DecodedKeys,
}

impl BuiltinKms {
    pub fn new(meta: Arc<dyn MetaStore>, root: Arc<RootKey>, identity: KmsIdentity) -> Self {
        Self {
            meta,
            root,
            identity,
            outbox: RwLock::new(()),
            audit: None,
            parsed: Arc::default(),
            s3_managed_key_id: std::sync::Mutex::default(),
            decoded: decoded::DecodedKeys::default(),
        }
    }

    /// The same KMS, recording every operation in `audit`.
    pub fn with_audit(mut self, audit: Arc<AuditLog>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The same KMS, keeping parsed key policies in `cache` (shared with S3's bucket policies,
    /// so the process holds one bounded cache of parsed policies, not one per service).
    pub fn with_policy_cache(mut self, cache: Arc<PolicyCache>) -> Self {
        self.parsed = cache;
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
        // One `hex::encode`, not a `format!` per byte: this runs on every data-key call.
        hex::encode(d.as_ref())
    }
}
