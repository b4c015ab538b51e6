//! Reading: exactly the sealed segments a range needs, opened and authenticated on a
//! blocking worker and streamed through a bounded channel into the response body.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use coffer_store::{BlobId, BlobReader, BlobStore, StoreError, StoredPart};
use futures::{FutureExt, Stream};
use s3s::S3Result;
use s3s::dto::StreamingBlob;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use coffer_crypto::{
    DataKey, HEADER_LEN, PartOpener, SEALED_SEGMENT_LEN, SEGMENT_SIZE, plan_range, sealed_len,
};

use crate::error::internal;

/// Read granularity for GETs and copies of unencrypted (legacy) blobs.
const READ_CHUNK: usize = 256 * 1024;
/// Sealed segments fetched per read (4 × 64 KiB, like READ_CHUNK).
const SEGMENTS_PER_READ: u32 = 4;

/// The MD5 of an object's plaintext, read and authenticated segment by segment: the ETag an
/// object gets when a copy turns it from SSE-C (whose ETag is opaque) into SSE-S3.
pub(crate) async fn plaintext_md5(
    blobs: Arc<dyn BlobStore>,
    source: SourceData,
    size: u64,
) -> S3Result<[u8; 16]> {
    let opened = open_range(blobs, source, 0, size).await?;
    tokio::task::spawn_blocking(move || {
        let mut md5 = coffer_md5::Md5::new();
        opened
            .read(|chunk| {
                md5.update(&chunk);
                Ok(())
            })
            .map_err(internal)?;
        Ok(md5.finalize())
    })
    .await
    .map_err(internal)?
}

/// An object's stored data as a reader needs it: its parts and, when it is encrypted, its
/// data key (opened by the caller from the record).
pub(crate) struct SourceData {
    pub parts: Vec<StoredPart>,
    pub key: Option<Arc<DataKey>>,
    /// For integrity alerts.
    pub name: String,
}

/// One part's share of a range, with its blob open.
struct Slice {
    reader: Box<dyn BlobReader>,
    blob: BlobId,
    /// Plaintext offsets within the part.
    from: u64,
    to: u64,
    part_len: u64,
    /// Present for a sealed part: its key and header opener.
    opener: Option<PartOpener>,
    /// The part's bytes are in its record: every read is ready at once and never waits.
    in_memory: bool,
}

/// The blobs holding a byte range of an object, already open. Opening every blob before the
/// first byte is sent means a concurrent overwrite or delete (which unlinks blobs) cannot cut
/// a response short: an open file stays readable after it is unlinked.
///
/// It is read on a blocking thread, beside the CPU work of opening segments, and drives the
/// blob store's async reads from there through `rt`.
pub(crate) struct OpenedRange {
    slices: Vec<Slice>,
    name: String,
    rt: Handle,
}

/// Why a range could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// A blob the record names is gone: the record was replaced meanwhile (reload it), or
    /// the data directory was damaged.
    Missing(BlobId),
    /// A blob is not what its record says: truncated, swapped or altered on disk.
    Damaged(String),
    /// The blob store failed (a disk error, an unreachable backend): nothing says the data
    /// is damaged.
    Failed(StoreError),
}

impl From<OpenError> for s3s::S3Error {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Missing(b) => internal(format!("blob {b} is missing")),
            OpenError::Damaged(m) => {
                metrics::counter!("coffer_integrity_alerts_total").increment(1);
                tracing::error!(target: "coffer::integrity", what = %m, "integrity alert");
                internal(m)
            }
            OpenError::Failed(e) => crate::error::store_error(e),
        }
    }
}

/// Opens every blob of the range and the header of each sealed one.
pub(crate) async fn open_range(
    blobs: Arc<dyn BlobStore>,
    source: SourceData,
    offset: u64,
    len: u64,
) -> Result<OpenedRange, OpenError> {
    let end = offset + len;
    let mut slices = Vec::new();
    let mut part_start = 0u64;
    for part in &source.parts {
        let part_end = part_start + part.size;
        if part_end > offset && part.size > 0 && part_start < end {
            let expected = match &source.key {
                Some(_) => sealed_len(part.size)
                    .map_err(|e| OpenError::Damaged(format!("part size: {e}")))?,
                None => part.size,
            };
            let mut reader = coffer_store::open_part(blobs.as_ref(), part, expected)
                .await
                .map_err(|e| match e {
                    StoreError::NoSuchBlob(b) => OpenError::Missing(b),
                    StoreError::Corrupt(m) => OpenError::Damaged(format!("{}: {m}", source.name)),
                    other => OpenError::Failed(other),
                })?;
            let opener = match &source.key {
                Some(dek) => {
                    let header = reader.read_at(0, HEADER_LEN).await.map_err(|e| {
                        OpenError::Damaged(format!("{}: blob {}: {e}", source.name, part.blob))
                    })?;
                    let opener =
                        PartOpener::new(&dek.part_key(part.number), &header).map_err(|e| {
                            OpenError::Damaged(format!(
                                "{}: blob {} header: {e}",
                                source.name, part.blob
                            ))
                        })?;
                    Some(opener)
                }
                None => None,
            };
            slices.push(Slice {
                reader,
                blob: part.blob.clone(),
                from: offset.max(part_start) - part_start,
                to: end.min(part_end) - part_start,
                part_len: part.size,
                opener,
                in_memory: part.inline.is_some(),
            });
        }
        part_start = part_end;
    }
    Ok(OpenedRange {
        slices,
        name: source.name,
        rt: Handle::current(),
    })
}

/// [`open_range`] from a blocking thread.
pub(crate) fn open_range_blocking(
    blobs: Arc<dyn BlobStore>,
    source: SourceData,
    offset: u64,
    len: u64,
) -> Result<OpenedRange, OpenError> {
    Handle::current().block_on(open_range(blobs, source, offset, len))
}

impl Slice {
    /// `n` bytes at `at`: waited for on `rt` from a blocking thread, or, for bytes in the
    /// record, taken at once (which is what lets such a read run on an async worker).
    fn fetch(&mut self, rt: &Handle, at: u64, n: usize) -> Result<Bytes, StoreError> {
        let read = self.reader.read_at(at, n);
        if self.in_memory {
            read.now_or_never().unwrap_or_else(|| {
                Err(StoreError::Corrupt(
                    "a read of bytes in the record did not complete at once".into(),
                ))
            })
        } else {
            rt.block_on(read)
        }
    }

    /// Plain (legacy, unencrypted) bytes in chunks.
    fn read_plain(
        &mut self,
        rt: &Handle,
        each: &mut impl FnMut(Bytes) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut pos = self.from;
        self.reader.will_read(self.from..self.to, READ_CHUNK);
        while pos < self.to {
            let n = READ_CHUNK.min((self.to - pos) as usize);
            let buf = self
                .fetch(rt, pos, n)
                .map_err(|e| format!("blob {}: {e}", self.blob))?;
            each(buf)?;
            pos += n as u64;
        }
        Ok(())
    }

    /// Sealed bytes: only the segments the range touches are read and opened; each is
    /// authenticated before any of its bytes is passed on.
    fn read_sealed(
        &mut self,
        rt: &Handle,
        opener: &PartOpener,
        name: &str,
        each: &mut impl FnMut(Bytes) -> Result<(), String>,
    ) -> Result<(), String> {
        let plan = plan_range(self.part_len, self.from..self.to).map_err(|e| e.to_string())?;
        let (first, last) = (*plan.segments().start(), *plan.segments().end());
        let base = plan.blob_range().start;
        let mut index = first;
        let sealed_len: u64 = (first..=last)
            .map(|i| plan.sealed_segment_len(i) as u64)
            .sum();
        self.reader.will_read(
            base..base + sealed_len,
            SEGMENTS_PER_READ as usize * SEALED_SEGMENT_LEN,
        );
        // Contiguous segments are fetched SEGMENTS_PER_READ at a time and opened in place;
        // their plaintext is then compacted over the tags so each batch goes out as one
        // chunk (as many bytes per hand-off as a plaintext read).
        while index <= last {
            let batch_end = last.min(index + SEGMENTS_PER_READ - 1);
            let lens: Vec<usize> = (index..=batch_end)
                .map(|i| plan.sealed_segment_len(i))
                .collect();
            let at = base + u64::from(index - first) * SEALED_SEGMENT_LEN as u64;
            let read = self
                .fetch(rt, at, lens.iter().sum())
                .map_err(|e| format!("blob {}: {e}", self.blob))?;
            // Opened in place: no copy when the store handed over the only reference.
            let mut buf = read
                .try_into_mut()
                .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
            let (mut read_at, mut write_at) = (0usize, 0usize);
            for len in lens {
                metrics::counter!("coffer_segments_opened_total").increment(1);
                let sealed = &mut buf[read_at..read_at + len];
                let plain_len = opener
                    .open_segment(index, plan.is_final(index), sealed)
                    .map_err(|e| {
                        metrics::counter!("coffer_integrity_alerts_total").increment(1);
                        tracing::error!(
                            target: "coffer::integrity",
                            object = name,
                            blob = %self.blob,
                            segment = index,
                            error = %e,
                            "integrity alert: segment failed authentication"
                        );
                        format!(
                            "{name}: segment {index} of blob {} failed authentication",
                            self.blob
                        )
                    })?
                    .len();
                let seg_start = u64::from(index) * SEGMENT_SIZE as u64;
                let lo = (self.from.max(seg_start) - seg_start) as usize;
                let hi = (self.to.min(seg_start + plain_len as u64) - seg_start) as usize;
                buf.copy_within(read_at + lo..read_at + hi, write_at);
                write_at += hi - lo;
                read_at += len;
                index += 1;
            }
            buf.truncate(write_at);
            each(buf.freeze())?;
        }
        Ok(())
    }
}

impl OpenedRange {
    /// Calls `each` with the range's plaintext, in order, in chunks.
    pub(crate) fn read(
        self,
        mut each: impl FnMut(Bytes) -> Result<(), String>,
    ) -> Result<(), String> {
        let (name, rt) = (self.name, self.rt);
        for mut slice in self.slices {
            match slice.opener.take() {
                Some(opener) => slice.read_sealed(&rt, &opener, &name, &mut each)?,
                None => slice.read_plain(&rt, &mut each)?,
            }
        }
        Ok(())
    }

    /// A response body with the range's bytes. The first chunk is read and authenticated
    /// before this returns, so a damaged object is an error status, not a 200; a failure
    /// later aborts the body, so a client sees a failed transfer, never wrong bytes.
    pub(crate) async fn into_body(self) -> S3Result<StreamingBlob> {
        if self.slices.iter().all(|s| s.in_memory) {
            return self.into_body_at_once();
        }
        let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        tokio::task::spawn_blocking(move || {
            let result = self.read(|chunk| {
                metrics::counter!("coffer_s3_bytes_sent_total").increment(chunk.len() as u64);
                tx.blocking_send(Ok(chunk))
                    .map_err(|_| "client went away".to_owned())
            });
            if let Err(e) = result {
                if e != "client went away" {
                    tracing::error!(error = %e, "object read failed");
                }
                let _ = tx.blocking_send(Err(std::io::Error::other("object read failed")));
            }
        });
        let first = match rx.recv().await {
            Some(Ok(chunk)) => Some(chunk),
            Some(Err(_)) => return Err(internal("the object's first bytes failed to read")),
            None => None,
        };
        Ok(StreamingBlob::wrap(ChannelStream { first, rx }))
    }

    /// [`OpenedRange::into_body`] for a range wholly in its records (at most a few small
    /// parts): opened and authenticated here, on the request's task. A blocking thread and
    /// a channel for a few KiB cost more than opening them.
    fn into_body_at_once(self) -> S3Result<StreamingBlob> {
        let mut chunks = Vec::new();
        self.read(|chunk| {
            metrics::counter!("coffer_s3_bytes_sent_total").increment(chunk.len() as u64);
            chunks.push(Ok::<_, std::io::Error>(chunk));
            Ok(())
        })
        .map_err(|e| {
            tracing::error!(error = %e, "object read failed");
            internal("the object's first bytes failed to read")
        })?;
        Ok(StreamingBlob::wrap(futures::stream::iter(chunks)))
    }
}

struct ChannelStream {
    first: Option<Bytes>,
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl Stream for ChannelStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        self.rx.poll_recv(cx)
    }
}
