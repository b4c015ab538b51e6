//! Moving object bytes between HTTP bodies and blobs, in constant memory.
//!
//! Writes: the async side reads the request body and hands chunks to a blocking worker that
//! hashes (MD5, CRC64NVME, the requested checksum) and writes them, so network, hashing and
//! disk overlap. Reads: a blocking worker reads blob ranges into a bounded channel that the
//! response body drains.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use coffer_store::{BlobId, BlobReader, BlobStore, StoredPart};
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use futures::{Stream, StreamExt};
use md5::Digest as _;
use s3s::dto::StreamingBlob;
use s3s::{S3Result, s3_error};
use tokio::sync::mpsc;

use crate::checksum::{Algorithm, Hasher};
use crate::error::internal;

/// Largest object a single PUT may carry, as on S3.
pub(crate) const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Read granularity for GETs and copies.
const READ_CHUNK: usize = 256 * 1024;

/// What was written and what it hashes to.
#[derive(Debug)]
pub(crate) struct Ingested {
    pub blob: BlobId,
    pub size: u64,
    pub md5: [u8; 16],
    pub crc64nvme: u64,
    /// Raw digest of the requested checksum algorithm, if one was requested.
    pub checksum: Option<Vec<u8>>,
}

enum Chunk {
    Data(Bytes),
    /// The body ended normally: commit. A worker whose channel closes without this discards.
    End,
}

struct Sink {
    writer: Box<dyn coffer_store::BlobWriter>,
    size: u64,
    md5: md5::Md5,
    crc: CrcDigest,
    checksum: Option<Hasher>,
}

impl Sink {
    fn new(blobs: &dyn BlobStore, algorithm: Option<Algorithm>) -> std::io::Result<Self> {
        Ok(Self {
            writer: blobs.create()?,
            size: 0,
            md5: md5::Md5::new(),
            crc: CrcDigest::new(CrcAlgorithm::Crc64Nvme),
            checksum: algorithm.map(Hasher::new),
        })
    }

    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.md5.update(data);
        self.crc.update(data);
        if let Some(h) = self.checksum.as_mut() {
            h.update(data);
        }
        self.size += data.len() as u64;
        self.writer.write_all(data)
    }

    fn commit(self) -> std::io::Result<Ingested> {
        let blob = self.writer.commit()?;
        Ok(Ingested {
            blob,
            size: self.size,
            md5: self.md5.finalize().into(),
            crc64nvme: self.crc.finalize(),
            checksum: self.checksum.map(Hasher::finish),
        })
    }
}

/// Streams a request body into a new durable blob. Nothing is committed unless the whole body
/// arrived: a truncated or failed body, or one whose length differs from the declared
/// (decoded) content length, leaves no blob and yields `IncompleteBody`.
pub(crate) async fn ingest(
    blobs: Arc<dyn BlobStore>,
    body: Option<StreamingBlob>,
    algorithm: Option<Algorithm>,
    max_size: u64,
    declared_len: Option<i64>,
) -> S3Result<Ingested> {
    let (tx, mut rx) = mpsc::channel::<Chunk>(8);
    let worker = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Ingested>> {
        let mut sink = Sink::new(blobs.as_ref(), algorithm)?;
        while let Some(chunk) = rx.blocking_recv() {
            match chunk {
                Chunk::Data(b) => sink.write(&b)?,
                Chunk::End => return sink.commit().map(Some),
            }
        }
        Ok(None)
    });

    let mut received: u64 = 0;
    let mut failure = None;
    if let Some(mut body) = body {
        while let Some(next) = body.next().await {
            match next {
                Ok(bytes) => {
                    received += bytes.len() as u64;
                    if received > max_size {
                        failure = Some(s3_error!(
                            EntityTooLarge,
                            "Your proposed upload exceeds the maximum allowed object size."
                        ));
                        break;
                    }
                    if tx.send(Chunk::Data(bytes)).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "request body failed");
                    failure = Some(body_error(&e.to_string()));
                    break;
                }
            }
        }
    }
    // aws-chunked bodies can end cleanly before their declared decoded length; `s3s` does
    // not check it, so the count is compared here.
    if failure.is_none() && declared_len.is_some_and(|n| u64::try_from(n).ok() != Some(received)) {
        failure = Some(s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        ));
    }
    if failure.is_none() {
        let _ = tx.send(Chunk::End).await;
    }
    drop(tx);
    let outcome = worker.await.map_err(internal)?;
    if let Some(f) = failure {
        return Err(f);
    }
    match outcome {
        Ok(Some(ingested)) => {
            metrics::counter!("coffer_s3_bytes_received_total").increment(ingested.size);
            Ok(ingested)
        }
        Ok(None) => Err(internal("blob writer stopped before the body ended")),
        Err(e) => Err(internal(e)),
    }
}

/// The S3 error for a request body that failed to arrive intact. `s3s` verifies payload
/// hashes and chunk signatures while streaming and reports failures only as stream errors
/// (its error types are private), so their messages are matched here.
fn body_error(message: &str) -> s3s::S3Error {
    if message.contains("Sha256Mismatch") {
        crate::error::custom(
            "XAmzContentSHA256Mismatch",
            http::StatusCode::BAD_REQUEST,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    } else if message.contains("SignatureMismatch") {
        s3_error!(
            SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided."
        )
    } else if message.contains("FormatError") || message.contains("TooLarge") {
        s3_error!(InvalidRequest, "The aws-chunked body is malformed.")
    } else {
        s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        )
    }
}

/// Copies `len` bytes starting at `offset` of an object (given by its parts) into a new blob.
pub(crate) async fn copy_range(
    blobs: Arc<dyn BlobStore>,
    parts: Vec<StoredPart>,
    offset: u64,
    len: u64,
    algorithm: Option<Algorithm>,
) -> S3Result<Ingested> {
    let opened = open_range(blobs.clone(), parts, offset, len).await?;
    tokio::task::spawn_blocking(move || -> S3Result<Ingested> {
        let mut sink = Sink::new(blobs.as_ref(), algorithm).map_err(internal)?;
        opened
            .read(|chunk| sink.write(&chunk).map_err(|e| e.to_string()))
            .map_err(internal)?;
        sink.commit().map_err(internal)
    })
    .await
    .map_err(internal)?
}

/// The blobs holding a byte range of an object, already open. Opening every blob before the
/// first byte is sent means a concurrent overwrite or delete (which unlinks blobs) cannot cut
/// a response short: an open file stays readable after it is unlinked.
pub(crate) struct OpenedRange {
    slices: Vec<(Box<dyn BlobReader>, BlobId, u64, u64)>,
}

/// Why a range could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// A blob the record names is gone: the record was replaced meanwhile (reload it), or
    /// the data directory was damaged.
    Missing(BlobId),
    /// A blob's length disagrees with its record: truncated or swapped on disk.
    Damaged(String),
}

impl From<OpenError> for s3s::S3Error {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Missing(b) => internal(format!("blob {b} is missing")),
            OpenError::Damaged(m) => internal(m),
        }
    }
}

pub(crate) async fn open_range(
    blobs: Arc<dyn BlobStore>,
    parts: Vec<StoredPart>,
    offset: u64,
    len: u64,
) -> Result<OpenedRange, OpenError> {
    tokio::task::spawn_blocking(move || {
        let end = offset + len;
        let mut slices = Vec::new();
        let mut part_start = 0u64;
        for part in &parts {
            let part_end = part_start + part.size;
            if part_end > offset && part.size > 0 && part_start < end {
                let reader = blobs.open(&part.blob).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => OpenError::Missing(part.blob.clone()),
                    _ => OpenError::Damaged(format!("blob {}: {e}", part.blob)),
                })?;
                if reader.len() != part.size {
                    return Err(OpenError::Damaged(format!(
                        "blob {} holds {} bytes, its record says {}",
                        part.blob,
                        reader.len(),
                        part.size
                    )));
                }
                let from = offset.max(part_start) - part_start;
                let to = end.min(part_end) - part_start;
                slices.push((reader, part.blob.clone(), from, to));
            }
            part_start = part_end;
        }
        Ok(OpenedRange { slices })
    })
    .await
    .map_err(|e| OpenError::Damaged(e.to_string()))?
}

impl OpenedRange {
    /// Calls `each` with the range's bytes, in order, in chunks.
    fn read(self, mut each: impl FnMut(Bytes) -> Result<(), String>) -> Result<(), String> {
        for (mut reader, blob, from, to) in self.slices {
            let mut pos = from;
            while pos < to {
                let n = READ_CHUNK.min((to - pos) as usize);
                let mut buf = bytes::BytesMut::zeroed(n);
                reader
                    .read_exact_at(pos, &mut buf)
                    .map_err(|e| format!("blob {blob}: {e}"))?;
                each(buf.freeze())?;
                pos += n as u64;
            }
        }
        Ok(())
    }

    /// A response body with the range's bytes. Read errors abort the body, so a client sees
    /// a failed transfer rather than wrong or missing bytes.
    pub(crate) fn into_body(self) -> StreamingBlob {
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        tokio::task::spawn_blocking(move || {
            let result = self.read(|chunk| {
                metrics::counter!("coffer_s3_bytes_sent_total").increment(chunk.len() as u64);
                tx.blocking_send(Ok(chunk))
                    .map_err(|_| "client went away".to_owned())
            });
            if let Err(e) = result {
                if e != "client went away" {
                    tracing::error!(error = %e, "object read failed mid-stream");
                }
                let _ = tx.blocking_send(Err(std::io::Error::other("object read failed")));
            }
        });
        StreamingBlob::wrap(ChannelStream { rx })
    }
}

struct ChannelStream {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl Stream for ChannelStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
