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
use coffer_store::{BlobId, BlobStore, StoredPart};
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
/// arrived: a truncated or failed body leaves no blob and yields `IncompleteBody`.
pub(crate) async fn ingest(
    blobs: Arc<dyn BlobStore>,
    body: Option<StreamingBlob>,
    algorithm: Option<Algorithm>,
    max_size: u64,
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
    tokio::task::spawn_blocking(move || -> S3Result<Ingested> {
        let mut sink = Sink::new(blobs.as_ref(), algorithm).map_err(internal)?;
        read_parts(blobs.as_ref(), &parts, offset, len, |chunk| {
            sink.write(&chunk).map_err(|e| e.to_string())
        })
        .map_err(internal)?;
        sink.commit().map_err(internal)
    })
    .await
    .map_err(internal)?
}

/// Calls `each` with the bytes `[offset, offset + len)` of the object, in order, in chunks.
/// A blob whose length disagrees with its record is refused: it was truncated or swapped.
fn read_parts(
    blobs: &dyn BlobStore,
    parts: &[StoredPart],
    offset: u64,
    len: u64,
    mut each: impl FnMut(Bytes) -> Result<(), String>,
) -> Result<(), String> {
    let end = offset + len;
    let mut part_start = 0u64;
    for part in parts {
        let part_end = part_start + part.size;
        if part_end <= offset || part.size == 0 {
            part_start = part_end;
            continue;
        }
        if part_start >= end {
            break;
        }
        let mut reader = blobs
            .open(&part.blob)
            .map_err(|e| format!("blob {}: {e}", part.blob))?;
        if reader.len() != part.size {
            return Err(format!(
                "blob {} holds {} bytes, its record says {}",
                part.blob,
                reader.len(),
                part.size
            ));
        }
        let mut pos = offset.max(part_start) - part_start;
        let stop = end.min(part_end) - part_start;
        while pos < stop {
            let n = READ_CHUNK.min((stop - pos) as usize);
            let mut buf = bytes::BytesMut::zeroed(n);
            reader
                .read_exact_at(pos, &mut buf)
                .map_err(|e| format!("blob {}: {e}", part.blob))?;
            each(buf.freeze())?;
            pos += n as u64;
        }
        part_start = part_end;
    }
    Ok(())
}

/// A response body with the bytes `[offset, offset + len)` of an object. Read errors abort
/// the body, so a client sees a failed transfer rather than wrong or missing bytes.
pub(crate) fn stream_range(
    blobs: Arc<dyn BlobStore>,
    parts: Vec<StoredPart>,
    offset: u64,
    len: u64,
) -> StreamingBlob {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let result = read_parts(blobs.as_ref(), &parts, offset, len, |chunk| {
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

struct ChannelStream {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl Stream for ChannelStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
