//! The chain's anchor: the newest link, authenticated, kept in a file beside the trail and
//! in an [`AnchorStore`] (the metadata store, in a server), so that removing the newest
//! records together with the anchor file is still caught.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::chain::{ChainKey, Link};
use crate::error::AuditResult;
use crate::layout::ANCHOR;

/// Label of the MAC that authenticates the chain's anchor.
pub(crate) const ANCHOR_TAG: &str = "chain-anchor";

/// Least time between two anchor writes under load: the window in which the newest records
/// could be removed unnoticed while the server is down. A live server also checks against
/// its in-memory head.
pub(crate) const ANCHOR_EVERY: Duration = Duration::from_secs(1);

/// Where the newest link is kept besides the trail's own files, so that removing records at
/// the end (with the anchor file) is still caught: the metadata store, in the server.
pub trait AnchorStore: Send + Sync {
    /// Keeps `anchor` (for chain position `seq` of this process's stream) unless a newer
    /// one is kept.
    fn save(&self, seq: u64, anchor: &[u8]) -> AuditResult<()>;
    /// This process's stream's anchor.
    fn load(&self) -> AuditResult<Option<Vec<u8>>>;
    /// Every stream's anchor (a trail several gateways share has one per gateway).
    fn load_all(&self) -> AuditResult<Vec<Vec<u8>>> {
        Ok(self.load()?.into_iter().collect())
    }
}

/// The anchor file of `stream`, among the trail's files.
pub(crate) fn anchor_file(stream: &str) -> String {
    if stream.is_empty() {
        ANCHOR.to_owned()
    } else {
        format!("{ANCHOR_DIR}{stream}.json")
    }
}

/// Where the anchor files of a shared trail's streams are.
pub(crate) const ANCHOR_DIR: &str = "anchors/";

/// An anchor store in memory, for tools and tests that run a trail without a metadata store.
/// A server keeps its anchor in the metadata store instead, so it outlives the process.
#[derive(Default)]
pub struct MemoryAnchorStore(Mutex<Option<(u64, Vec<u8>)>>);

impl AnchorStore for MemoryAnchorStore {
    fn save(&self, seq: u64, anchor: &[u8]) -> AuditResult<()> {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.as_ref().is_none_or(|(s, _)| seq > *s) {
            *kept = Some((seq, anchor.to_vec()));
        }
        Ok(())
    }

    fn load(&self) -> AuditResult<Option<Vec<u8>>> {
        let kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Ok(kept.as_ref().map(|(_, a)| a.clone()))
    }
}

/// The anchors in the metadata store, as a server keeps them, for the stream it appends
/// (the second member). The lookup index also moves it with each batch it indexes, in the
/// same commit.
pub struct StoreAnchors(pub Arc<dyn coffer_store::AuditStore>, pub String);

impl AnchorStore for StoreAnchors {
    fn save(&self, seq: u64, anchor: &[u8]) -> AuditResult<()> {
        Ok(self.0.save_audit_anchor(&self.1, seq, anchor)?)
    }

    fn load(&self) -> AuditResult<Option<Vec<u8>>> {
        Ok(self.0.audit_anchor(&self.1)?)
    }

    fn load_all(&self) -> AuditResult<Vec<Vec<u8>>> {
        Ok(self.0.audit_anchors()?)
    }
}

/// The anchor as written: the newest link of `stream`, authenticated.
pub(crate) fn anchor_bytes(chain: &ChainKey, stream: &str, head: Link) -> Vec<u8> {
    let link = head.to_json_in(stream);
    let tag = chain.tag(ANCHOR_TAG, &link);
    serde_json::to_vec(&json!({ "link": link, "tag": tag })).unwrap_or_default()
}

/// An anchor's stream and link, if its MAC verifies; else why not (the caller names where
/// it was).
pub(crate) fn parse_anchor(chain: &ChainKey, bytes: &[u8]) -> Result<(String, Link), &'static str> {
    let v: Value = serde_json::from_slice(bytes).map_err(|_| "not JSON")?;
    let tag = v["tag"].as_str().unwrap_or_default();
    if !chain.check_tag(ANCHOR_TAG, &v["link"], tag) {
        return Err("its MAC does not verify: edited or forged");
    }
    let link = Link::from_json(&v["link"]).ok_or("malformed")?;
    Ok((Link::stream_of(&v["link"]).to_owned(), link))
}
