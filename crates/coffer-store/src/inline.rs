//! Small objects' sealed bytes kept in their object record instead of a blob.
//!
//! A blob costs a small PUT its own file (created, fsynced, renamed, its directory fsynced)
//! or its own request to a network store, and on a shared store a write intent too; the
//! record's commit is grouped with every other writer's. Sealed bytes up to
//! [`INLINE_MAX`] therefore ride in the record, and are durable, visible and gone exactly
//! when it is: no intent, no reference count, no orphan to collect. They are sealed like
//! any blob's (the store never sees plaintext) and are read through the same
//! [`BlobReader`] as a blob's.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::blob::{BlobReader, BlobStore};
use crate::error::{StoreError, StoreResult};
use crate::records::StoredPart;

/// The most sealed bytes a record holds inline: a 16 KiB object sealed in one segment, with
/// room for its header and tag. Large enough for the small objects whose cost is the file
/// or request per object, small enough that listings, which decode records, stay cheap.
pub const INLINE_MAX: usize = 16 * 1024 + 64;

/// Sealed bytes held in a record, kept as the base64 text the record's JSON carries and
/// decoded only when read: a listing decodes every record of its page, and should not pay
/// for bytes it never returns.
#[derive(Clone, PartialEq, Eq)]
pub struct InlineBytes {
    base64: String,
}

impl InlineBytes {
    pub fn new(sealed: &[u8]) -> Self {
        Self {
            base64: STANDARD.encode(sealed),
        }
    }

    /// The sealed bytes; `Corrupt` if the record's text is not base64.
    pub fn sealed(&self) -> StoreResult<Bytes> {
        STANDARD
            .decode(self.base64.as_bytes())
            .map(Bytes::from)
            .map_err(|e| StoreError::Corrupt(format!("inline data is not base64: {e}")))
    }
}

impl std::fmt::Debug for InlineBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InlineBytes({} base64 characters)", self.base64.len())
    }
}

impl Serialize for InlineBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.base64)
    }
}

impl<'de> Deserialize<'de> for InlineBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self {
            base64: String::deserialize(d)?,
        })
    }
}

/// Opens a part's sealed bytes, wherever they are: in its record, or in the blob store
/// (see [`BlobStore::open`] for `len`).
pub async fn open_part(
    blobs: &dyn BlobStore,
    part: &StoredPart,
    len: u64,
) -> StoreResult<Box<dyn BlobReader>> {
    let Some(inline) = &part.inline else {
        return blobs.open(&part.blob, len).await;
    };
    let sealed = inline.sealed()?;
    if sealed.len() as u64 != len {
        return Err(StoreError::Corrupt(format!(
            "inline data holds {} bytes, its record says {len}",
            sealed.len()
        )));
    }
    Ok(Box::new(InlineReader(sealed)))
}

/// Reads inline bytes as a blob reader does: a read past the end is `Corrupt`.
struct InlineReader(Bytes);

#[async_trait]
impl BlobReader for InlineReader {
    async fn read_at(&mut self, offset: u64, len: usize) -> StoreResult<Bytes> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match start.checked_add(len) {
            // A copy (at most 16 KiB), not a slice: the caller opens it in place.
            Some(end) if end <= self.0.len() => Ok(Bytes::copy_from_slice(&self.0[start..end])),
            _ => Err(StoreError::Corrupt(format!(
                "read of {len} bytes at {offset} passes the end of {} inline bytes",
                self.0.len()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::BlobId;

    fn part(inline: Option<&[u8]>) -> StoredPart {
        StoredPart {
            number: 1,
            size: 3,
            md5_hex: String::new(),
            blob: BlobId::random(),
            checksum: None,
            crc64nvme: None,
            inline: inline.map(InlineBytes::new),
        }
    }

    #[test]
    fn inline_bytes_travel_as_base64_and_come_back_whole() {
        let p = part(Some(b"sealed\x00\xff"));
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"inline\":\"c2VhbGVkAP8=\""), "{json}");
        assert_eq!(serde_json::from_str::<StoredPart>(&json).unwrap(), p);
        // A part written before inline data existed has none, and writes none.
        let old = part(None);
        let json = serde_json::to_string(&old).unwrap();
        assert!(!json.contains("inline"), "{json}");
        assert_eq!(serde_json::from_str::<StoredPart>(&json).unwrap(), old);
        // Text that is not base64 decodes as a record, and fails loudly when read.
        let bad: StoredPart =
            serde_json::from_str(&json.replace('}', ",\"inline\":\"!!\"}")).unwrap();
        assert!(matches!(
            bad.inline.unwrap().sealed(),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn inline_parts_read_like_blobs_and_refuse_reads_past_their_end() {
        let blobs = crate::FsBlobStore::open(tempfile::tempdir().unwrap().path()).unwrap();
        let p = part(Some(b"abcdef"));
        let mut r = open_part(&blobs, &p, 6).await.unwrap();
        assert_eq!(&r.read_at(2, 3).await.unwrap()[..], b"cde");
        assert_eq!(&r.read_at(0, 6).await.unwrap()[..], b"abcdef");
        assert!(matches!(r.read_at(4, 3).await, Err(StoreError::Corrupt(_))));
        // The record's size decides, as it does for a blob.
        assert!(matches!(
            open_part(&blobs, &p, 7).await,
            Err(StoreError::Corrupt(_))
        ));
        // A part without inline data is the blob store's.
        assert!(matches!(
            open_part(&blobs, &part(None), 3).await,
            Err(StoreError::NoSuchBlob(_))
        ));
    }
}
