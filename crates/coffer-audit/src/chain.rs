//! The chain over every record: each record, as it is appended, carries its position and a
//! MAC over the previous record's MAC and its own canonical bytes, keyed by a key derived
//! from the root key. Someone with the data directory but not the root key can neither
//! change, insert, reorder nor forge a record without breaking the chain from that record on.
//!
//! Several gateways sharing one trail keep one chain each (a *stream*, named by the gateway's
//! id), so that no record waits for another gateway's: their links say which stream they
//! belong to (`"stream": "gw-…"`), and the stream's name is under the MAC. The embedded
//! trail's single stream has the empty name and links as before streams existed.
//!
//! The link lives in the record itself, as `cofferChain: {"seq": N, "mac": hex}`, so it
//! travels from the journal into the log files unchanged, and a CloudTrail reader that does
//! not know it just sees one more member. The MAC covers the record without that member, in
//! a canonical form (members sorted by name at every level, serde_json's escaping), so it
//! survives re-serialisation when a journal is cut into a log file.
//!
//! What a chain cannot show by itself is that its newest records were removed: the server
//! anchors the newest link (see `trail.rs`), and verification compares against it.

use ring::hmac;
use serde_json::Value;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The record member that holds the link.
pub const CHAIN_MEMBER: &str = "cofferChain";

const DOMAIN: &[u8] = b"coffer audit chain v1\n";

/// The MAC key of the chain.
pub struct ChainKey(hmac::Key);

impl ChainKey {
    pub fn new(raw: &Zeroizing<[u8; 32]>) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, raw.as_ref()))
    }

    /// The link of the record at `seq` that follows `prev`, in the embedded trail's stream.
    pub fn link(&self, prev: &Link, seq: u64, record_without_link: &Value) -> Link {
        self.link_in("", prev, seq, record_without_link)
    }

    /// The link of the record at `seq` of `stream` that follows `prev`. A record moved to
    /// another stream no longer verifies.
    pub fn link_in(
        &self,
        stream: &str,
        prev: &Link,
        seq: u64,
        record_without_link: &Value,
    ) -> Link {
        let mut canonical_bytes = Vec::with_capacity(1024);
        canonical(record_without_link, &mut canonical_bytes);
        self.link_canonical(stream, prev, seq, &canonical_bytes)
    }

    /// [`ChainKey::link_in`] of a record already in its canonical form.
    pub fn link_canonical(
        &self,
        stream: &str,
        prev: &Link,
        seq: u64,
        canonical_bytes: &[u8],
    ) -> Link {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(DOMAIN);
        if !stream.is_empty() {
            ctx.update(b"stream ");
            ctx.update(stream.as_bytes());
            ctx.update(b"\n");
        }
        ctx.update(&seq.to_be_bytes());
        ctx.update(&prev.mac);
        ctx.update(canonical_bytes);
        let mut mac = [0u8; 32];
        mac.copy_from_slice(ctx.sign().as_ref());
        Link { seq, mac }
    }

    /// A MAC over anything else the trail must authenticate (its state, its anchor),
    /// separated from record links by `label`.
    pub fn tag(&self, label: &str, value: &Value) -> String {
        hex::encode(self.tag_bytes(label, value).as_ref())
    }

    /// Whether `tag` is [`ChainKey::tag`] of `value`, compared in constant time.
    pub fn check_tag(&self, label: &str, value: &Value, tag: &str) -> bool {
        let Ok(given) = hex::decode(tag) else {
            return false;
        };
        bool::from(
            self.tag_bytes(label, value)
                .as_ref()
                .ct_eq(given.as_slice()),
        )
    }

    fn tag_bytes(&self, label: &str, value: &Value) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(b"coffer audit tag v1\n");
        ctx.update(label.as_bytes());
        ctx.update(b"\n");
        let mut bytes = Vec::new();
        canonical(value, &mut bytes);
        ctx.update(&bytes);
        ctx.sign()
    }
}

/// A record's place in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub mac: [u8; 32],
}

impl Link {
    /// What the first record follows.
    pub const GENESIS: Link = Link {
        seq: 0,
        mac: [0u8; 32],
    };

    pub fn to_json(self) -> Value {
        serde_json::json!({ "seq": self.seq, "mac": hex::encode(self.mac) })
    }

    /// The link as a record of `stream` carries it (the embedded stream names none).
    pub fn to_json_in(self, stream: &str) -> Value {
        let mut v = self.to_json();
        if !stream.is_empty() {
            v["stream"] = Value::from(stream);
        }
        v
    }

    pub fn from_json(v: &Value) -> Option<Link> {
        let seq = v["seq"].as_u64()?;
        let mac: [u8; 32] = hex::decode(v["mac"].as_str()?).ok()?.try_into().ok()?;
        Some(Link { seq, mac })
    }

    /// The link a record carries, and the record without it.
    pub fn split(record: &Value) -> (Option<Link>, Value) {
        let mut bare = record.clone();
        let link = bare
            .as_object_mut()
            .and_then(|m| m.remove(CHAIN_MEMBER))
            .and_then(|l| Link::from_json(&l));
        (link, bare)
    }

    /// The stream a link (as JSON) or a record's link names: `""` for the embedded trail's.
    pub fn stream_of(link: &Value) -> &str {
        link["stream"].as_str().unwrap_or_default()
    }

    /// Whether `mac` is this link's MAC, in constant time.
    pub fn same_mac(&self, mac: &[u8; 32]) -> bool {
        bool::from(self.mac.ct_eq(mac))
    }
}

/// Canonical JSON: object members sorted by name at every level, no white space, strings and
/// numbers as serde_json writes them. Independent of whether serde_json keeps insertion
/// order (its `preserve_order` feature may be switched on by any crate in the build).
pub fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut members: Vec<(&String, &Value)> = m.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Writing into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(v, out);
            }
            out.push(b']');
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> ChainKey {
        ChainKey::new(&Zeroizing::new([9u8; 32]))
    }

    #[test]
    fn canonical_form_ignores_member_order_and_spacing() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[1,"x"],"x":null}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{ "a" : { "x" : null, "y" : [1, "x"] }, "b" : 1 }"#).unwrap();
        let (mut ca, mut cb) = (Vec::new(), Vec::new());
        canonical(&a, &mut ca);
        canonical(&b, &mut cb);
        assert_eq!(ca, cb);
        assert_eq!(ca, br#"{"a":{"x":null,"y":[1,"x"]},"b":1}"#);
    }

    #[test]
    fn links_depend_on_the_record_its_position_and_what_came_before() {
        let k = key();
        let r1 = json!({"eventName": "Encrypt", "n": 1});
        let r2 = json!({"eventName": "Decrypt", "n": 2});
        let l1 = k.link(&Link::GENESIS, 1, &r1);
        let l2 = k.link(&l1, 2, &r2);
        assert_eq!(k.link(&Link::GENESIS, 1, &r1), l1, "deterministic");
        assert_ne!(k.link(&Link::GENESIS, 1, &r2), l1, "another record");
        assert_ne!(
            k.link(&Link::GENESIS, 2, &r1).mac,
            l1.mac,
            "another position"
        );
        assert_ne!(k.link(&l2, 2, &r2), l2, "another predecessor");
        assert_ne!(
            k.link_in("gw-a", &Link::GENESIS, 1, &r1),
            l1,
            "another stream"
        );
        assert_ne!(
            k.link_in("gw-a", &Link::GENESIS, 1, &r1),
            k.link_in("gw-b", &Link::GENESIS, 1, &r1),
            "streams apart"
        );
        let other = ChainKey::new(&Zeroizing::new([8u8; 32]));
        assert_ne!(other.link(&Link::GENESIS, 1, &r1), l1, "another key");

        let mut carried = r1.clone();
        carried[CHAIN_MEMBER] = l1.to_json();
        let (link, bare) = Link::split(&carried);
        assert_eq!(link, Some(l1));
        assert_eq!(bare, r1);
    }

    #[test]
    fn tags_authenticate_values() {
        let k = key();
        let state = json!({"sequence": 3, "pending": []});
        let tag = k.tag("state", &state);
        assert!(k.check_tag("state", &state, &tag));
        assert!(!k.check_tag("anchor", &state, &tag));
        assert!(!k.check_tag("state", &json!({"sequence": 4, "pending": []}), &tag));
        assert!(!k.check_tag("state", &state, "zz"));
    }
}
