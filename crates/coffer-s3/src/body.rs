//! Moving object bytes between HTTP bodies and blobs, in constant memory.
//!
//! Writes: the async side reads the request body and hands chunks to a blocking worker that
//! hashes the plaintext (MD5 or the opaque-ETag digest, CRC64NVME, the requested checksum), seals it into segments and
//! writes only sealed bytes, so network, hashing and disk overlap. Reads: a blocking worker
//! reads exactly the sealed segments a range needs, opens them and sends the authenticated
//! plaintext into a bounded channel that the response body drains.

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

use coffer_crypto::{
    DataKey, EtagMac, HEADER_LEN, PartKey, PartOpener, PartSealer, SEALED_SEGMENT_LEN,
    SEGMENT_SIZE, plan_range, sealed_len,
};

use crate::checksum::{Algorithm, Hasher};
use crate::error::internal;

/// Largest object a single PUT may carry, as on S3.
pub(crate) const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Read granularity for GETs and copies of unencrypted (legacy) blobs.
const READ_CHUNK: usize = 256 * 1024;
/// Sealed segments fetched per read (4 × 64 KiB, like READ_CHUNK).
const SEGMENTS_PER_READ: u32 = 4;

/// What was written and what it hashes to.
#[derive(Debug)]
pub(crate) struct Ingested {
    pub blob: BlobId,
    pub size: u64,
    /// Computed only when asked for: it is the ETag of SSE-S3 objects and checks a
    /// Content-MD5, and otherwise costs a core for nothing.
    pub md5: Option<[u8; 16]>,
    /// The keyed digest of an opaque ETag (SSE-C, SSE-KMS), when a key for it was given.
    pub etag_mac: Option<[u8; 16]>,
    pub crc64nvme: u64,
    /// Raw digest of the requested checksum algorithm, if one was requested.
    pub checksum: Option<Vec<u8>>,
}

/// The ETag digests a write computes: MD5 when wanted (the ETag of SSE-S3 objects, and a
/// Content-MD5 check), and the keyed digest of an opaque ETag when a key for it is given.
pub(crate) struct EtagDigests {
    pub md5: bool,
    pub mac: Option<EtagMac>,
}

enum Chunk {
    Data(Bytes),
    /// The body ended normally: commit. A worker whose channel closes without this discards.
    End,
}

/// The plaintext digests of a body: MD5 (when wanted), CRC64NVME (S3's default checksum)
/// and the checksum the client asked for.
struct Digests {
    size: u64,
    md5: Option<md5::Md5>,
    etag_mac: Option<EtagMac>,
    crc: CrcDigest,
    checksum: Option<Hasher>,
}

impl Digests {
    fn new(md5: bool, etag_mac: Option<EtagMac>, algorithm: Option<Algorithm>) -> Self {
        Self {
            size: 0,
            md5: md5.then(md5::Md5::new),
            etag_mac,
            crc: CrcDigest::new(CrcAlgorithm::Crc64Nvme),
            checksum: algorithm.map(Hasher::new),
        }
    }

    fn update(&mut self, data: &[u8]) {
        if let Some(m) = self.md5.as_mut() {
            m.update(data);
        }
        if let Some(m) = self.etag_mac.as_mut() {
            m.update(data);
        }
        self.crc.update(data);
        if let Some(h) = self.checksum.as_mut() {
            h.update(data);
        }
        self.size += data.len() as u64;
    }

    fn finish(self, blob: BlobId) -> Ingested {
        Ingested {
            blob,
            size: self.size,
            md5: self.md5.map(|m| m.finalize().into()),
            etag_mac: self.etag_mac.map(EtagMac::finish),
            crc64nvme: self.crc.finalize(),
            checksum: self.checksum.map(Hasher::finish),
        }
    }
}

/// Seals plaintext into a new blob. The blob writer only ever sees the sealer's output.
struct SealedBlob {
    writer: Box<dyn coffer_store::BlobWriter>,
    sealer: PartSealer,
    sealed: Vec<u8>,
}

fn crypto_io(e: coffer_crypto::CryptoError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl SealedBlob {
    fn new(blobs: &dyn BlobStore, key: &PartKey) -> std::io::Result<Self> {
        Ok(Self {
            writer: blobs.create()?,
            sealer: PartSealer::new(key).map_err(crypto_io)?,
            sealed: Vec::with_capacity(2 * SEGMENT_SIZE),
        })
    }

    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.sealer
            .push(data, &mut self.sealed)
            .map_err(crypto_io)?;
        self.writer.write_all(&self.sealed)?;
        self.sealed.clear();
        Ok(())
    }

    /// Seals the final segment and makes the blob durable.
    fn commit(mut self) -> std::io::Result<BlobId> {
        self.sealer.finish(&mut self.sealed).map_err(crypto_io)?;
        self.writer.write_all(&self.sealed)?;
        self.writer.commit()
    }
}

/// Runs `each` on every chunk a channel delivers until `End` (then `finish`); a channel that
/// closes without `End` yields `None` (the body failed: whatever was built is discarded).
fn drain<S, T>(
    rx: &mut mpsc::Receiver<Chunk>,
    mut state: S,
    mut each: impl FnMut(&mut S, &[u8]) -> std::io::Result<()>,
    finish: impl FnOnce(S) -> std::io::Result<T>,
) -> std::io::Result<Option<T>> {
    while let Some(chunk) = rx.blocking_recv() {
        match chunk {
            Chunk::Data(b) => each(&mut state, &b)?,
            Chunk::End => return finish(state).map(Some),
        }
    }
    Ok(None)
}

/// Streams a request body into a new durable blob. Hashing and sealing run on two blocking
/// threads fed with the same chunks, so one large PUT is bound by the slower of MD5 and
/// AES-GCM, not their sum. Nothing is committed unless the whole body arrived: a truncated or
/// failed body, or one whose length differs from the declared (decoded) content length,
/// leaves no blob and yields `IncompleteBody`.
pub(crate) async fn ingest(
    blobs: Arc<dyn BlobStore>,
    key: PartKey,
    body: Option<StreamingBlob>,
    etag: EtagDigests,
    algorithm: Option<Algorithm>,
    max_size: u64,
    declared_len: Option<i64>,
) -> S3Result<Ingested> {
    let (hash_tx, mut hash_rx) = mpsc::channel::<Chunk>(8);
    let (seal_tx, mut seal_rx) = mpsc::channel::<Chunk>(8);
    let hasher = tokio::task::spawn_blocking(move || {
        drain(
            &mut hash_rx,
            Digests::new(etag.md5, etag.mac, algorithm),
            |d, data| {
                d.update(data);
                Ok(())
            },
            Ok,
        )
    });
    let sealer = tokio::task::spawn_blocking(move || -> std::io::Result<Option<BlobId>> {
        let sealed = SealedBlob::new(blobs.as_ref(), &key)?;
        drain(
            &mut seal_rx,
            sealed,
            |s, data| s.write(data),
            SealedBlob::commit,
        )
    });

    let mut received: u64 = 0;
    let mut failure = None;
    // A worker that stopped early (a disk fault) has its error waiting; the rest of the body
    // is still read, and dropped, so the client gets that error as an answer instead of a
    // connection closed under its upload.
    let mut worker_stopped = false;
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
                    if worker_stopped {
                        continue;
                    }
                    let (a, b) = (
                        hash_tx.send(Chunk::Data(bytes.clone())),
                        seal_tx.send(Chunk::Data(bytes)),
                    );
                    let (a, b) = futures::join!(a, b);
                    worker_stopped = a.is_err() || b.is_err();
                }
                Err(e) => {
                    tracing::debug!(error = %e, "request body failed");
                    // A browser POST's file stream reports its size limits as S3 errors.
                    failure = Some(match e.downcast::<s3s::S3Error>() {
                        Ok(s3) => *s3,
                        Err(e) => body_error(&e.to_string()),
                    });
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
        let _ = futures::join!(hash_tx.send(Chunk::End), seal_tx.send(Chunk::End));
    }
    drop((hash_tx, seal_tx));
    let digests = hasher.await.map_err(internal)?;
    let blob = sealer.await.map_err(internal)?;
    // Without `End` the sealer discarded its blob, so a failure leaves nothing behind.
    if let Some(f) = failure {
        return Err(f);
    }
    match (digests, blob) {
        (Ok(Some(d)), Ok(Some(id))) => {
            let ingested = d.finish(id);
            metrics::counter!("coffer_s3_bytes_received_total").increment(ingested.size);
            Ok(ingested)
        }
        (_, Err(e)) | (Err(e), _) => Err(crate::error::io_failure(&e)),
        _ => Err(internal("a body worker stopped before the body ended")),
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
    source: SourceData,
    offset: u64,
    len: u64,
    key: PartKey,
    etag: EtagDigests,
    algorithm: Option<Algorithm>,
) -> S3Result<Ingested> {
    let opened = open_range(blobs.clone(), source, offset, len).await?;
    tokio::task::spawn_blocking(move || -> S3Result<Ingested> {
        let mut digests = Digests::new(etag.md5, etag.mac, algorithm);
        let mut sealed =
            SealedBlob::new(blobs.as_ref(), &key).map_err(|e| crate::error::io_failure(&e))?;
        opened
            .read(|chunk| {
                digests.update(&chunk);
                sealed.write(&chunk).map_err(|e| e.to_string())
            })
            .map_err(internal)?;
        Ok(digests.finish(sealed.commit().map_err(|e| crate::error::io_failure(&e))?))
    })
    .await
    .map_err(internal)?
}

/// The MD5 of an object's plaintext, read and authenticated segment by segment: the ETag an
/// object gets when a copy turns it from SSE-C (whose ETag is opaque) into SSE-S3.
pub(crate) async fn plaintext_md5(
    blobs: Arc<dyn BlobStore>,
    source: SourceData,
    size: u64,
) -> S3Result<[u8; 16]> {
    let opened = open_range(blobs, source, 0, size).await?;
    tokio::task::spawn_blocking(move || {
        let mut md5 = md5::Md5::new();
        opened
            .read(|chunk| {
                md5.update(&chunk);
                Ok(())
            })
            .map_err(internal)?;
        Ok(md5.finalize().into())
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
}

/// The blobs holding a byte range of an object, already open. Opening every blob before the
/// first byte is sent means a concurrent overwrite or delete (which unlinks blobs) cannot cut
/// a response short: an open file stays readable after it is unlinked.
pub(crate) struct OpenedRange {
    slices: Vec<Slice>,
    name: String,
}

/// Why a range could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// A blob the record names is gone: the record was replaced meanwhile (reload it), or
    /// the data directory was damaged.
    Missing(BlobId),
    /// A blob is not what its record says: truncated, swapped or altered on disk.
    Damaged(String),
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
        }
    }
}

pub(crate) async fn open_range(
    blobs: Arc<dyn BlobStore>,
    source: SourceData,
    offset: u64,
    len: u64,
) -> Result<OpenedRange, OpenError> {
    tokio::task::spawn_blocking(move || open_range_blocking(blobs.as_ref(), source, offset, len))
        .await
        .map_err(|e| OpenError::Damaged(e.to_string()))?
}

/// [`open_range`], on the calling thread (which may block).
pub(crate) fn open_range_blocking(
    blobs: &dyn BlobStore,
    source: SourceData,
    offset: u64,
    len: u64,
) -> Result<OpenedRange, OpenError> {
    {
        let end = offset + len;
        let mut slices = Vec::new();
        let mut part_start = 0u64;
        for part in &source.parts {
            let part_end = part_start + part.size;
            if part_end > offset && part.size > 0 && part_start < end {
                let mut reader = blobs.open(&part.blob).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => OpenError::Missing(part.blob.clone()),
                    _ => OpenError::Damaged(format!("blob {}: {e}", part.blob)),
                })?;
                let expected = match &source.key {
                    Some(_) => sealed_len(part.size)
                        .map_err(|e| OpenError::Damaged(format!("part size: {e}")))?,
                    None => part.size,
                };
                if reader.len() != expected {
                    return Err(OpenError::Damaged(format!(
                        "{}: blob {} holds {} bytes, its record says {}",
                        source.name,
                        part.blob,
                        reader.len(),
                        expected
                    )));
                }
                let opener = match &source.key {
                    Some(dek) => {
                        let mut header = [0u8; HEADER_LEN];
                        reader
                            .read_exact_at(0, &mut header)
                            .map_err(|e| OpenError::Damaged(format!("blob {}: {e}", part.blob)))?;
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
                });
            }
            part_start = part_end;
        }
        Ok(OpenedRange {
            slices,
            name: source.name,
        })
    }
}

impl Slice {
    /// Plain (legacy, unencrypted) bytes in chunks.
    fn read_plain(
        &mut self,
        each: &mut impl FnMut(Bytes) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut pos = self.from;
        while pos < self.to {
            let n = READ_CHUNK.min((self.to - pos) as usize);
            let mut buf = bytes::BytesMut::zeroed(n);
            self.reader
                .read_exact_at(pos, &mut buf)
                .map_err(|e| format!("blob {}: {e}", self.blob))?;
            each(buf.freeze())?;
            pos += n as u64;
        }
        Ok(())
    }

    /// Sealed bytes: only the segments the range touches are read and opened; each is
    /// authenticated before any of its bytes is passed on.
    fn read_sealed(
        &mut self,
        opener: &PartOpener,
        name: &str,
        each: &mut impl FnMut(Bytes) -> Result<(), String>,
    ) -> Result<(), String> {
        let plan = plan_range(self.part_len, self.from..self.to).map_err(|e| e.to_string())?;
        let (first, last) = (*plan.segments().start(), *plan.segments().end());
        let base = plan.blob_range().start;
        let mut index = first;
        // Contiguous segments are fetched SEGMENTS_PER_READ at a time and opened in place;
        // their plaintext is then compacted over the tags so each batch goes out as one
        // chunk (as many bytes per hand-off as a plaintext read).
        while index <= last {
            let batch_end = last.min(index + SEGMENTS_PER_READ - 1);
            let lens: Vec<usize> = (index..=batch_end)
                .map(|i| plan.sealed_segment_len(i))
                .collect();
            let at = base + u64::from(index - first) * SEALED_SEGMENT_LEN as u64;
            let mut buf = bytes::BytesMut::zeroed(lens.iter().sum());
            self.reader
                .read_exact_at(at, &mut buf)
                .map_err(|e| format!("blob {}: {e}", self.blob))?;
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
        let name = self.name;
        for mut slice in self.slices {
            match slice.opener.take() {
                Some(opener) => slice.read_sealed(&opener, &name, &mut each)?,
                None => slice.read_plain(&mut each)?,
            }
        }
        Ok(())
    }

    /// A response body with the range's bytes. The first chunk is read and authenticated
    /// before this returns, so a damaged object is an error status, not a 200; a failure
    /// later aborts the body, so a client sees a failed transfer, never wrong bytes.
    pub(crate) async fn into_body(self) -> S3Result<StreamingBlob> {
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
