//! Ranged reads: each `read_at` is one ranged GET of exactly the bytes asked for, so a read
//! of part of an object fetches only the segments it needs.

use async_trait::async_trait;
use bytes::Bytes;
use coffer_store::{BlobId, BlobReader, StoreError, StoreResult};

use crate::error::{Place, store_error};

pub(crate) struct OpendalBlobReader {
    pub(crate) op: opendal::Operator,
    pub(crate) path: String,
    pub(crate) id: BlobId,
    /// The length the caller's record gives: reads are checked against it, never against
    /// what the store says (a truncated blob is damage, not a shorter answer).
    pub(crate) len: u64,
    pub(crate) place: Place,
}

#[async_trait]
impl BlobReader for OpendalBlobReader {
    async fn read_at(&mut self, offset: u64, len: usize) -> StoreResult<Bytes> {
        let end = offset
            .checked_add(len as u64)
            .filter(|end| *end <= self.len)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "blob {}: {len} bytes at {offset} pass its end ({} bytes)",
                    self.id, self.len
                ))
            })?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let got = self
            .op
            .read_with(&self.path)
            .range(offset..end)
            .await
            .map_err(|e| store_error(self.place, Some(&self.id), e))?;
        if got.len() != len {
            return Err(StoreError::Corrupt(format!(
                "blob {}: asked for {len} bytes at {offset}, the store returned {}",
                self.id,
                got.len()
            )));
        }
        Ok(got.to_bytes())
    }
}
