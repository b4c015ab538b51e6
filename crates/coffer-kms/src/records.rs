//! KMS keys and aliases as they are stored. Key material appears here only sealed under the
//! root key (AAD: the key's ARN and the material version).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Store id prefix of key records (`key/<uuid>`): the store's, so that an object read can
/// bring its key's record along.
pub(crate) const KEY_PREFIX: &str = coffer_store::KMS_KEY_RECORD_PREFIX;
/// Store id prefix of alias records (the alias name itself, `alias/<name>`).
pub(crate) const ALIAS_PREFIX: &str = "alias/";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }
}

/// Who manages a key: the account (`CUSTOMER`) or AWS, on the account's behalf (`aws/s3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyManager {
    #[serde(rename = "CUSTOMER")]
    Customer,
    #[serde(rename = "AWS")]
    Aws,
}

impl KeyManager {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyManager::Customer => "CUSTOMER",
            KeyManager::Aws => "AWS",
        }
    }
}

/// One version of a key's material.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MaterialVersion {
    pub version: u32,
    pub created_ms: i64,
    /// `AUTOMATIC` or `ON_DEMAND` for versions made by rotation; `None` for the first.
    #[serde(default)]
    pub rotation_type: Option<String>,
    /// The material, sealed under the root key, base64.
    pub sealed: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    pub v: u32,
    pub key_id: String,
    pub created_ms: i64,
    pub description: String,
    pub state: KeyState,
    pub manager: KeyManager,
    /// The key policy (JSON text, as given).
    pub policy: String,
    /// Automatic rotation period in days, when enabled.
    #[serde(default)]
    pub rotation_period_days: Option<u32>,
    /// When the next automatic rotation is due (Unix ms).
    #[serde(default)]
    pub next_rotation_ms: Option<i64>,
    /// PendingDeletion: when the material is destroyed (Unix ms), and the window chosen.
    #[serde(default)]
    pub deletion_ms: Option<i64>,
    #[serde(default)]
    pub pending_window_days: Option<u32>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Every material version ever made, oldest first; the last is current.
    pub versions: Vec<MaterialVersion>,
    /// The store's version of the record when it was read (`None`: not stored yet); a save
    /// expects the record still there. Not part of the stored record.
    #[serde(skip)]
    pub(crate) stored_version: Option<u64>,
}

impl KeyRecord {
    pub fn store_id(key_id: &str) -> String {
        format!("{KEY_PREFIX}{key_id}")
    }

    pub fn current_version(&self) -> u32 {
        self.versions.last().map_or(0, |v| v.version)
    }

    pub fn on_demand_rotations(&self) -> usize {
        self.versions
            .iter()
            .filter(|v| v.rotation_type.as_deref() == Some("ON_DEMAND"))
            .count()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliasRecord {
    pub v: u32,
    /// `alias/<name>`.
    pub name: String,
    pub target_key_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// As [`KeyRecord`]'s.
    #[serde(skip)]
    pub(crate) stored_version: Option<u64>,
}

/// Records that remember the store version they were read at.
pub(crate) trait StoredVersion {
    fn set_stored_version(&mut self, version: u64);
}

impl StoredVersion for KeyRecord {
    fn set_stored_version(&mut self, version: u64) {
        self.stored_version = Some(version);
    }
}

impl StoredVersion for AliasRecord {
    fn set_stored_version(&mut self, version: u64) {
        self.stored_version = Some(version);
    }
}
