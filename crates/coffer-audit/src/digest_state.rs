//! `digest-state.json`: what the next digest needs (the log files cut since the last one and
//! the last one itself), authenticated by a MAC under the chain key so that listing a forged
//! log file in it is caught.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chain::ChainKey;
use crate::error::{AuditError, AuditResult};
use crate::layout::STATE;
use crate::trail_files::TrailFiles;

/// Label of the MAC that authenticates `digest-state.json` (its `mac` member).
pub(crate) const STATE_TAG: &str = "digest-state";

/// A log file a digest will cover.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogFileEntry {
    pub path: String,
    pub hash: String,
    pub oldest: String,
    pub newest: String,
}

/// What the next digest needs: the log files cut since the last one, and the last one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct DigestState {
    pub sequence: u64,
    pub pending: Vec<LogFileEntry>,
    pub last_end: Option<String>,
    pub previous: Option<PreviousDigest>,
    /// The newest record's link in a log file (`None` before the first chained cut).
    #[serde(default)]
    pub chain_head: Option<Value>,
    /// In a trail several gateways share: each stream's newest link in a log file.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub streams: std::collections::BTreeMap<String, Value>,
}

/// Reads a state file, checking its MAC. A state without one is accepted only from before the
/// chain existed (no anchor anywhere): anything else was edited.
pub(crate) fn read_state(
    files: &dyn TrailFiles,
    chain: &ChainKey,
    anchored: bool,
) -> AuditResult<DigestState> {
    read_state_as_stored(files, chain, anchored).map(|(_, state)| state)
}

/// [`read_state`], with the bytes it was read from (`None`: no state yet): what a
/// compare-and-swap of the state expects to replace.
pub(crate) fn read_state_as_stored(
    files: &dyn TrailFiles,
    chain: &ChainKey,
    anchored: bool,
) -> AuditResult<(Option<Vec<u8>>, DigestState)> {
    let bytes = match files.read(STATE) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok((None, DigestState::default())),
        Err(e) => return Err(AuditError::io(STATE, e)),
    };
    let mut value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AuditError::malformed(STATE, format!("not JSON: {e}")))?;
    let mac = value
        .as_object_mut()
        .and_then(|m| m.remove("mac"))
        .and_then(|m| m.as_str().map(str::to_owned));
    match mac {
        Some(mac) if chain.check_tag(STATE_TAG, &value, &mac) => {}
        Some(_) => {
            return Err(AuditError::Tampered {
                what: STATE.into(),
                detail: "its MAC does not verify: edited",
            });
        }
        None if anchored => {
            return Err(AuditError::Tampered {
                what: STATE.into(),
                detail: "not authenticated, though the trail is chained: edited",
            });
        }
        None => {}
    }
    let state = serde_json::from_value(value).map_err(|e| AuditError::malformed(STATE, e))?;
    Ok((Some(bytes), state))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PreviousDigest {
    pub path: String,
    pub hash: String,
    pub signature: String,
}

/// Where a digest's (or the head's) signature is kept, by name (CloudTrail keeps it in S3
/// object metadata).
pub(crate) fn signature_path(digest: &str) -> String {
    format!("{digest}.sig")
}

/// The string a digest's signature covers (SPEC.md §8.6): end time, digest path, the hash
/// of its uncompressed content, and the previous digest's signature.
pub(crate) fn signed_string(end: &str, path: &str, hash: &str, previous: Option<&str>) -> String {
    format!(
        "{end}\ncoffer-audit/{path}\n{hash}\n{}",
        previous.unwrap_or("null")
    )
}
