//! One soak worker: a loop of random operations on the keys it alone owns, each checked
//! against the worker's model of what those keys hold.
//!
//! Owning its keys (`soak/wNN/kMM`) is what lets a worker know the exact answer to every
//! read and listing without coordinating with the others. A write whose outcome is unknown
//! (it failed or timed out) marks its key `Unknown` until a later write settles it, so one
//! failure is counted once and does not cascade into mismatches.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};
use md5::{Digest, Md5};

use crate::soak::content::{Content, RangeVerifier};
use crate::soak::mode::{self, CustomerKeys, Echo, Mode};
use crate::soak::rng::Rng;
use crate::soak::tally::{Failure, Live, Moved, Op, Tally};

/// Keys per worker: few enough that reads often hit a key the worker wrote recently.
pub const SLOTS: u64 = 8;
/// No request may take longer than this; a hung request is a failure, not a stuck run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const MIB: u64 = 1 << 20;
/// S3's smallest part but the last.
const MIN_PART: u64 = 5 * MIB;
/// The server's segment size: sizes and ranges near its multiples are the interesting ones.
const SEGMENT: u64 = 64 * 1024;

/// What all workers share.
pub struct Shared {
    pub client: Client,
    pub bucket: String,
    pub keys: CustomerKeys,
    pub live: Live,
}

/// What a key holds, as far as its worker knows.
#[derive(Clone)]
enum Slot {
    Empty,
    Stored(Stored),
    /// A write to it failed midway: it may hold the old object, the new one, or nothing.
    Unknown,
}

#[derive(Clone)]
struct Stored {
    content: Content,
    mode: Mode,
    etag: String,
}

pub struct Worker<'s> {
    id: usize,
    shared: &'s Shared,
    rng: Rng,
    slots: Vec<Slot>,
    pub tally: Tally,
}

type Outcome = Result<Moved, Failure>;

impl<'s> Worker<'s> {
    pub fn new(id: usize, shared: &'s Shared, seed: u64) -> Self {
        Self {
            id,
            shared,
            rng: Rng::new(seed, id as u64),
            slots: vec![Slot::Empty; SLOTS as usize],
            tally: Tally::default(),
        }
    }

    /// Runs random operations until `deadline`, then reads back every object it holds,
    /// deletes them and checks that its prefix lists empty.
    pub async fn run(&mut self, deadline: Instant) {
        while Instant::now() < deadline {
            self.step().await;
        }
        self.drain().await;
    }

    async fn step(&mut self) {
        let slot = self.rng.below(SLOTS) as usize;
        let start = Instant::now();
        let op = match self.rng.below(100) {
            0..22 => Op::Put,
            22..40 => Op::Get,
            40..52 => Op::GetRange,
            52..60 => Op::Head,
            60..67 => Op::Delete,
            67..73 => Op::List,
            73..78 => Op::Multipart,
            78..80 => Op::MultipartAbort,
            80..95 => Op::Copy,
            _ => Op::Refused,
        };
        let op = self.feasible(op, slot);
        let outcome = match op {
            Op::Put => self.put(slot).await,
            Op::Get => self.get(slot).await,
            Op::GetRange => self.get_range(slot).await,
            Op::Head => self.head(slot).await,
            Op::Delete => self.delete(slot).await,
            Op::List => self.list().await,
            Op::Multipart => self.multipart(slot).await,
            Op::MultipartAbort => self.multipart_abort(slot).await,
            Op::Copy => self.copy(slot).await,
            Op::Refused => self.refused(slot).await,
        };
        self.record(op, start, outcome);
    }

    /// `op`, or what replaces it when `slot` cannot serve it: an unsettled key is deleted
    /// first; a range or a refusal needs a stored object (else GET or HEAD of the absent
    /// key, which must be 404); a copy needs a source (else a PUT).
    fn feasible(&self, op: Op, slot: usize) -> Op {
        let stored = self.stored(slot);
        match op {
            _ if matches!(self.slots[slot], Slot::Unknown) => Op::Delete,
            Op::GetRange if stored.as_ref().is_none_or(|s| s.content.size == 0) => Op::Get,
            Op::Refused if stored.is_none() => Op::Head,
            Op::Copy if self.stored_from(0, |_| true).is_none() => Op::Put,
            op => op,
        }
    }

    fn record(&mut self, op: Op, start: Instant, outcome: Outcome) {
        self.shared.live.record(self.id, op, &outcome);
        self.tally.record(op, start.elapsed(), &outcome);
    }

    /// Reads every object back in full, deletes it, and checks the prefix is empty.
    async fn drain(&mut self) {
        for slot in 0..self.slots.len() {
            if let Slot::Stored(_) = self.slots[slot] {
                let start = Instant::now();
                let outcome = self.get(slot).await;
                self.record(Op::Get, start, outcome);
            }
            let start = Instant::now();
            let outcome = self.delete(slot).await;
            self.record(Op::Delete, start, outcome);
        }
        let start = Instant::now();
        let outcome = self.list().await;
        self.record(Op::List, start, outcome);
    }

    fn key(&self, slot: usize) -> String {
        format!("{}k{slot:02}", self.prefix())
    }

    fn prefix(&self) -> String {
        format!("soak/w{:02}/", self.id)
    }

    fn keys(&self) -> &'s CustomerKeys {
        &self.shared.keys
    }

    fn mode(&mut self) -> Mode {
        *self.rng.pick(&Mode::ALL)
    }

    /// Object sizes from empty to a few MiB, some larger, with segment boundaries favoured.
    fn size(&mut self) -> u64 {
        match self.rng.below(100) {
            0..3 => 0,
            3..13 => {
                let k = self.rng.between(1, 40);
                (k * SEGMENT).saturating_add_signed(self.rng.below(3) as i64 - 1)
            }
            13..23 => self.rng.between(1, 1024),
            23..55 => self.rng.between(1024, SEGMENT),
            55..80 => self.rng.between(SEGMENT, MIB),
            80..95 => self.rng.between(MIB, 4 * MIB),
            _ => self.rng.between(4 * MIB, 12 * MIB),
        }
    }

    /// A stored slot, starting the search at `from`.
    fn stored_from(&self, from: usize, want: impl Fn(&Stored) -> bool) -> Option<usize> {
        (0..self.slots.len())
            .map(|i| (from + i) % self.slots.len())
            .find(|&i| matches!(&self.slots[i], Slot::Stored(s) if want(s)))
    }

    fn stored(&self, slot: usize) -> Option<Stored> {
        match &self.slots[slot] {
            Slot::Stored(s) => Some(s.clone()),
            _ => None,
        }
    }

    async fn put(&mut self, slot: usize) -> Outcome {
        let mode = self.mode();
        let content = Content {
            seed: self.rng.next_u64(),
            size: self.size(),
        };
        let body = content.bytes();
        let md5 = hex(&Md5::digest(&body));
        let req = self
            .shared
            .client
            .put_object()
            .bucket(&self.shared.bucket)
            .key(self.key(slot))
            .content_length(content.size as i64)
            .body(ByteStream::from(body));
        self.slots[slot] = Slot::Unknown;
        let out = within(mode::put(req, mode, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk("PutObject", &e))?;
        let etag = out.e_tag().unwrap_or_default().to_string();
        self.slots[slot] = Slot::Stored(Stored {
            content,
            mode,
            etag: etag.clone(),
        });
        let echo = Echo {
            sse: out.server_side_encryption(),
            customer_key_md5: out.sse_customer_key_md5(),
            bucket_key: out.bucket_key_enabled(),
        };
        mode::check_echo("PutObject", mode, echo, self.keys()).map_err(Failure::Mismatch)?;
        if mode.etag_is_md5() && etag != format!("\"{md5}\"") {
            return Err(Failure::Mismatch(format!(
                "PutObject {}: ETag {etag} is not the MD5 {md5} of the content",
                self.key(slot)
            )));
        }
        Ok(Moved {
            sent: content.size,
            verified: 0,
        })
    }

    /// A full GET, verified byte for byte; a GET of an absent key must be 404 NoSuchKey.
    async fn get(&mut self, slot: usize) -> Outcome {
        let key = self.key(slot);
        let req = self
            .shared
            .client
            .get_object()
            .bucket(&self.shared.bucket)
            .key(&key);
        let Some(s) = self.stored(slot) else {
            return match within(req.send()).await? {
                Ok(_) => Err(Failure::Mismatch(format!(
                    "GetObject {key}: a deleted key returned an object"
                ))),
                Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => {
                    Ok(Moved::default())
                }
                Err(e) => Err(Failure::from_sdk("GetObject of an absent key", &e)),
            };
        };
        let out = within(mode::get(req, s.mode, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk("GetObject", &e))?;
        let echo = Echo {
            sse: out.server_side_encryption(),
            customer_key_md5: out.sse_customer_key_md5(),
            bucket_key: out.bucket_key_enabled(),
        };
        mode::check_echo("GetObject", s.mode, echo, self.keys()).map_err(Failure::Mismatch)?;
        check_eq(&key, "ETag", out.e_tag(), Some(s.etag.as_str()))?;
        check_eq(
            &key,
            "Content-Length",
            out.content_length(),
            Some(s.content.size as i64),
        )?;
        let verified = read_verified(&key, out.body, s.content.verifier(0, s.content.size)).await?;
        Ok(Moved { sent: 0, verified })
    }

    /// A ranged GET: `bytes=a-b`, `bytes=a-` or `bytes=-n`, checked against Content-Range.
    async fn get_range(&mut self, slot: usize) -> Outcome {
        let Some(s) = self.stored(slot).filter(|s| s.content.size > 0) else {
            return Err(not_feasible("GET-RANGE"));
        };
        let key = self.key(slot);
        let size = s.content.size;
        let (header, start, end) = match self.rng.below(10) {
            0..6 => {
                // Often start just before a segment boundary, so the range spans two.
                let start = if self.rng.chance(50) && size > SEGMENT {
                    (self.rng.below(size / SEGMENT) + 1) * SEGMENT - self.rng.between(1, 16)
                } else {
                    self.rng.below(size)
                };
                let len = self.rng.between(1, (size - start).min(2 * MIB));
                (
                    format!("bytes={start}-{}", start + len - 1),
                    start,
                    start + len,
                )
            }
            6..8 => {
                let start = self.rng.below(size);
                (format!("bytes={start}-"), start, size)
            }
            _ => {
                let len = self.rng.between(1, size.min(2 * MIB));
                (format!("bytes=-{len}"), size - len, size)
            }
        };
        let req = self
            .shared
            .client
            .get_object()
            .bucket(&self.shared.bucket)
            .key(&key)
            .range(&header);
        let out = within(mode::get(req, s.mode, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk(&format!("GetObject {header}"), &e))?;
        let what = format!("{key} {header}");
        check_eq(
            &what,
            "Content-Range",
            out.content_range(),
            Some(format!("bytes {start}-{}/{size}", end - 1).as_str()),
        )?;
        check_eq(
            &what,
            "Content-Length",
            out.content_length(),
            Some((end - start) as i64),
        )?;
        let verified = read_verified(&what, out.body, s.content.verifier(start, end)).await?;
        Ok(Moved { sent: 0, verified })
    }

    /// HEAD: length, ETag and encryption as stored; an absent key must be 404.
    async fn head(&mut self, slot: usize) -> Outcome {
        let key = self.key(slot);
        let req = self
            .shared
            .client
            .head_object()
            .bucket(&self.shared.bucket)
            .key(&key);
        let Some(s) = self.stored(slot) else {
            return match within(req.send()).await? {
                Ok(_) => Err(Failure::Mismatch(format!(
                    "HeadObject {key}: a deleted key has a HEAD"
                ))),
                Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => {
                    Ok(Moved::default())
                }
                Err(e) => Err(Failure::from_sdk("HeadObject of an absent key", &e)),
            };
        };
        let out = within(mode::head(req, s.mode, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk("HeadObject", &e))?;
        let echo = Echo {
            sse: out.server_side_encryption(),
            customer_key_md5: out.sse_customer_key_md5(),
            bucket_key: out.bucket_key_enabled(),
        };
        mode::check_echo("HeadObject", s.mode, echo, self.keys()).map_err(Failure::Mismatch)?;
        check_eq(&key, "ETag", out.e_tag(), Some(s.etag.as_str()))?;
        check_eq(
            &key,
            "Content-Length",
            out.content_length(),
            Some(s.content.size as i64),
        )?;
        Ok(Moved::default())
    }

    async fn delete(&mut self, slot: usize) -> Outcome {
        let req = self
            .shared
            .client
            .delete_object()
            .bucket(&self.shared.bucket)
            .key(self.key(slot));
        self.slots[slot] = Slot::Unknown;
        within(req.send())
            .await?
            .map_err(|e| Failure::from_sdk("DeleteObject", &e))?;
        self.slots[slot] = Slot::Empty;
        Ok(Moved::default())
    }

    /// Lists the worker's prefix in small pages: exactly its stored keys, in order, with
    /// their sizes and ETags.
    async fn list(&mut self) -> Outcome {
        let prefix = self.prefix();
        let page = self.rng.between(1, SLOTS) as i32;
        let mut listed = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .shared
                .client
                .list_objects_v2()
                .bucket(&self.shared.bucket)
                .prefix(&prefix)
                .max_keys(page)
                .set_continuation_token(token.take());
            let out = within(req.send())
                .await?
                .map_err(|e| Failure::from_sdk("ListObjectsV2", &e))?;
            for o in out.contents() {
                listed.push((
                    o.key().unwrap_or_default().to_string(),
                    o.size(),
                    o.e_tag().map(str::to_string),
                ));
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
            if listed.len() > 4 * SLOTS as usize {
                return Err(Failure::Mismatch(format!(
                    "ListObjectsV2 {prefix}: more than {} keys, pagination does not end",
                    4 * SLOTS
                )));
            }
        }
        if !listed.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err(Failure::Mismatch(format!(
                "ListObjectsV2 {prefix}: keys not in ascending order: {:?}",
                listed.iter().map(|l| &l.0).collect::<Vec<_>>()
            )));
        }
        for (slot, state) in self.slots.iter().enumerate() {
            let key = self.key(slot);
            let found = listed.iter().find(|l| l.0 == key);
            match (state, found) {
                (Slot::Unknown, _) | (Slot::Empty, None) => {}
                (Slot::Empty, Some(_)) => {
                    return Err(Failure::Mismatch(format!(
                        "ListObjectsV2: deleted key {key} is listed"
                    )));
                }
                (Slot::Stored(_), None) => {
                    return Err(Failure::Mismatch(format!(
                        "ListObjectsV2: stored key {key} is missing"
                    )));
                }
                (Slot::Stored(s), Some((_, size, etag))) => {
                    if *size != Some(s.content.size as i64) || etag.as_deref() != Some(&s.etag) {
                        return Err(Failure::Mismatch(format!(
                            "ListObjectsV2: {key} listed with size {size:?} ETag {etag:?}, stored {} {}",
                            s.content.size, s.etag
                        )));
                    }
                }
            }
        }
        if let Some(stray) = listed
            .iter()
            .find(|l| !(0..self.slots.len()).any(|slot| self.key(slot) == l.0))
        {
            return Err(Failure::Mismatch(format!(
                "ListObjectsV2 {prefix}: unexpected key {}",
                stray.0
            )));
        }
        Ok(Moved::default())
    }

    /// Create, 2-3 parts uploaded in random order, complete.
    async fn multipart(&mut self, slot: usize) -> Outcome {
        let mode = self.mode();
        let parts = self.rng.between(2, 3);
        let last = self.rng.between(1, MIB);
        let content = Content {
            seed: self.rng.next_u64(),
            size: (parts - 1) * MIN_PART + last,
        };
        let key = self.key(slot);
        let upload_id = self.create_upload(&key, mode).await?;
        let mut order: Vec<u64> = (1..=parts).collect();
        self.rng.shuffle(&mut order);
        let mut completed = Vec::new();
        let mut part_md5s = Vec::new();
        for &number in &order {
            let start = (number - 1) * MIN_PART;
            let end = (start + MIN_PART).min(content.size);
            let body = content.range(start, end);
            part_md5s.push((number, Md5::digest(&body).to_vec()));
            match self.upload_part(&key, &upload_id, mode, number, body).await {
                Ok(etag) => completed.push(
                    CompletedPart::builder()
                        .part_number(number as i32)
                        .e_tag(etag)
                        .build(),
                ),
                Err(failure) => {
                    self.abort_quietly(&key, &upload_id).await;
                    return Err(failure);
                }
            }
        }
        completed.sort_by_key(|p| p.part_number());
        let req = self
            .shared
            .client
            .complete_multipart_upload()
            .bucket(&self.shared.bucket)
            .key(&key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            );
        self.slots[slot] = Slot::Unknown;
        let out = match within(req.send()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                self.abort_quietly(&key, &upload_id).await;
                return Err(Failure::from_sdk("CompleteMultipartUpload", &e));
            }
            Err(failure) => {
                self.abort_quietly(&key, &upload_id).await;
                return Err(failure);
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        self.slots[slot] = Slot::Stored(Stored {
            content,
            mode,
            etag: etag.clone(),
        });
        let echo = mode::complete_echo(&out, mode, self.keys());
        mode::check_echo("CompleteMultipartUpload", mode, echo, self.keys())
            .map_err(Failure::Mismatch)?;
        if mode.etag_is_md5() {
            part_md5s.sort();
            let mut all = Md5::new();
            for (_, md5) in &part_md5s {
                all.update(md5);
            }
            let want = format!("\"{}-{parts}\"", hex(&all.finalize()));
            if etag != want {
                return Err(Failure::Mismatch(format!(
                    "CompleteMultipartUpload {key}: ETag {etag}, expected {want}"
                )));
            }
        } else if !etag.ends_with(&format!("-{parts}\"")) {
            return Err(Failure::Mismatch(format!(
                "CompleteMultipartUpload {key}: ETag {etag} does not end in -{parts}"
            )));
        }
        Ok(Moved {
            sent: content.size,
            verified: 0,
        })
    }

    /// Create, one part, abort: afterwards the upload must be gone and the key unchanged.
    async fn multipart_abort(&mut self, slot: usize) -> Outcome {
        let mode = self.mode();
        let key = self.key(slot);
        let content = Content {
            seed: self.rng.next_u64(),
            size: self.rng.between(1, MIB),
        };
        let upload_id = self.create_upload(&key, mode).await?;
        if let Err(failure) = self
            .upload_part(&key, &upload_id, mode, 1, content.bytes())
            .await
        {
            self.abort_quietly(&key, &upload_id).await;
            return Err(failure);
        }
        let abort = self
            .shared
            .client
            .abort_multipart_upload()
            .bucket(&self.shared.bucket)
            .key(&key)
            .upload_id(&upload_id);
        within(abort.send())
            .await?
            .map_err(|e| Failure::from_sdk("AbortMultipartUpload", &e))?;
        let parts = self
            .shared
            .client
            .list_parts()
            .bucket(&self.shared.bucket)
            .key(&key)
            .upload_id(&upload_id);
        match within(parts.send()).await? {
            Ok(_) => Err(Failure::Mismatch(format!(
                "ListParts {key}: an aborted upload still lists its parts"
            ))),
            Err(e) if e.as_service_error().and_then(|se| se.code()) == Some("NoSuchUpload") => {
                Ok(Moved {
                    sent: content.size,
                    verified: 0,
                })
            }
            Err(e) => Err(Failure::from_sdk("ListParts of an aborted upload", &e)),
        }
    }

    async fn create_upload(&self, key: &str, mode: Mode) -> Result<String, Failure> {
        let req = self
            .shared
            .client
            .create_multipart_upload()
            .bucket(&self.shared.bucket)
            .key(key);
        let out = within(mode::create_multipart(req, mode, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk("CreateMultipartUpload", &e))?;
        let upload_id = out
            .upload_id()
            .ok_or_else(|| Failure::Mismatch(format!("CreateMultipartUpload {key}: no UploadId")))?
            .to_string();
        let echo = Echo {
            sse: out.server_side_encryption(),
            customer_key_md5: out.sse_customer_key_md5(),
            bucket_key: out.bucket_key_enabled(),
        };
        if let Err(e) = mode::check_echo("CreateMultipartUpload", mode, echo, self.keys()) {
            self.abort_quietly(key, &upload_id).await;
            return Err(Failure::Mismatch(e));
        }
        Ok(upload_id)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        mode: Mode,
        number: u64,
        body: bytes::Bytes,
    ) -> Result<String, Failure> {
        let length = body.len() as i64;
        let req = self
            .shared
            .client
            .upload_part()
            .bucket(&self.shared.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number as i32)
            .content_length(length)
            .body(ByteStream::from(body));
        let out = within(mode::upload_part(req, mode, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk(&format!("UploadPart {number}"), &e))?;
        let echo = Echo {
            sse: out.server_side_encryption(),
            customer_key_md5: out.sse_customer_key_md5(),
            bucket_key: out.bucket_key_enabled(),
        };
        mode::check_echo("UploadPart", mode, echo, self.keys()).map_err(Failure::Mismatch)?;
        out.e_tag()
            .map(str::to_string)
            .ok_or_else(|| Failure::Mismatch(format!("UploadPart {key} {number}: no ETag")))
    }

    /// Aborts an upload that failed, so the end-of-run check for leftover uploads only
    /// finds what the server leaked. Its own failure was already counted.
    async fn abort_quietly(&self, key: &str, upload_id: &str) {
        let req = self
            .shared
            .client
            .abort_multipart_upload()
            .bucket(&self.shared.bucket)
            .key(key)
            .upload_id(upload_id);
        let _ = within(req.send()).await;
    }

    /// CopyObject from one of the worker's objects to `slot` (possibly itself), into a
    /// random mode: within a mode and across modes, SSE-C source key included.
    async fn copy(&mut self, slot: usize) -> Outcome {
        let from = self.rng.below(SLOTS) as usize;
        let Some((source_slot, source)) = self
            .stored_from(from, |_| true)
            .and_then(|i| Some((i, self.stored(i)?)))
        else {
            return Err(not_feasible("COPY"));
        };
        let to = self.mode();
        let key = self.key(slot);
        let req = self
            .shared
            .client
            .copy_object()
            .bucket(&self.shared.bucket)
            .key(&key)
            .copy_source(format!("{}/{}", self.shared.bucket, self.key(source_slot)))
            // REPLACE makes a copy onto itself legal whatever the modes.
            .metadata_directive(MetadataDirective::Replace)
            .metadata("soak-copy-of", self.key(source_slot));
        self.slots[slot] = Slot::Unknown;
        let out = within(mode::copy(req, source.mode, to, self.keys()).send())
            .await?
            .map_err(|e| Failure::from_sdk("CopyObject", &e))?;
        let etag = out
            .copy_object_result()
            .and_then(|r| r.e_tag())
            .unwrap_or_default()
            .to_string();
        self.slots[slot] = Slot::Stored(Stored {
            content: source.content,
            mode: to,
            etag: etag.clone(),
        });
        let echo = Echo {
            sse: out.server_side_encryption(),
            customer_key_md5: out.sse_customer_key_md5(),
            bucket_key: out.bucket_key_enabled(),
        };
        mode::check_echo("CopyObject", to, echo, self.keys()).map_err(Failure::Mismatch)?;
        if etag.is_empty() {
            return Err(Failure::Mismatch(format!("CopyObject {key}: no ETag")));
        }
        Ok(Moved::default())
    }

    /// Reads that must be refused: an SSE-C object without its key (400 InvalidRequest),
    /// with the other key (403 AccessDenied, GET or HEAD), and an SSE-C key on an object
    /// that is not SSE-C (400 InvalidRequest).
    async fn refused(&mut self, slot: usize) -> Outcome {
        let Some(s) = self.stored(slot) else {
            return Err(not_feasible("REFUSED"));
        };
        let key = self.key(slot);
        let client = &self.shared.client;
        let get = client.get_object().bucket(&self.shared.bucket).key(&key);
        let other_key = match s.mode {
            Mode::Customer(i) => Mode::Customer(1 - i),
            _ => Mode::Customer(self.rng.below(2) as usize),
        };
        let (what, status, code, result) = match (s.mode, self.rng.below(3)) {
            (Mode::Customer(_), 0) => (
                "GET without the customer key",
                400,
                Some("InvalidRequest"),
                within(get.send()).await?.map(|_| ()),
            ),
            (Mode::Customer(_), 1) => (
                "GET with the wrong customer key",
                403,
                Some("AccessDenied"),
                within(mode::get(get, other_key, self.keys()).send())
                    .await?
                    .map(|_| ()),
            ),
            (Mode::Customer(_), _) => {
                let head = client.head_object().bucket(&self.shared.bucket).key(&key);
                let result = within(mode::head(head, other_key, self.keys()).send()).await?;
                return match result {
                    Ok(_) => Err(Failure::Mismatch(format!(
                        "HEAD with the wrong customer key succeeded on {key}"
                    ))),
                    Err(e)
                        if e.as_service_error().is_some()
                            && e.raw_response().map(|r| r.status().as_u16()) == Some(403) =>
                    {
                        Ok(Moved::default())
                    }
                    Err(e) => Err(Failure::from_sdk("HEAD with the wrong customer key", &e)),
                };
            }
            (_, _) => (
                "GET of a non-SSE-C object with a customer key",
                400,
                Some("InvalidRequest"),
                within(mode::get(get, other_key, self.keys()).send())
                    .await?
                    .map(|_| ()),
            ),
        };
        match result {
            Ok(()) => Err(Failure::Mismatch(format!(
                "{what} succeeded on {key} ({:?})",
                s.mode
            ))),
            Err(e) => {
                let got_status = e.raw_response().map(|r| r.status().as_u16());
                let got_code = e.as_service_error().and_then(|se| se.code());
                if got_status == Some(status) && got_code == code {
                    Ok(Moved::default())
                } else {
                    Err(Failure::from_sdk(
                        &format!("{what}: expected {status} {code:?}"),
                        &e,
                    ))
                }
            }
        }
    }
}

/// An operation called on a key `Worker::feasible` should have ruled out: a soak bug.
fn not_feasible(op: &str) -> Failure {
    Failure::error(
        "soak bug",
        format!("{op} chosen for a key that cannot serve it"),
    )
}

/// Bounds a request by [`REQUEST_TIMEOUT`].
async fn within<T>(request: impl Future<Output = T>) -> Result<T, Failure> {
    tokio::time::timeout(REQUEST_TIMEOUT, request)
        .await
        .map_err(|_| {
            Failure::error(
                "timeout",
                format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()),
            )
        })
}

/// Streams a body through `verifier`; the number of bytes checked.
async fn read_verified(
    what: &str,
    mut body: ByteStream,
    mut verifier: RangeVerifier,
) -> Result<u64, Failure> {
    within(async {
        while let Some(chunk) = body.try_next().await.map_err(|e| {
            Failure::error(
                "body read",
                format!("{what}: reading the body: {}", crate::errors::chain(&e)),
            )
        })? {
            verifier.update(&chunk);
        }
        Ok::<_, Failure>(())
    })
    .await??;
    verifier
        .finish()
        .map_err(|e| Failure::Mismatch(format!("{what}: {e}")))?;
    Ok(verifier.checked())
}

fn check_eq<T: PartialEq + std::fmt::Debug>(
    what: &str,
    header: &str,
    got: Option<T>,
    want: Option<T>,
) -> Result<(), Failure> {
    if got == want {
        Ok(())
    } else {
        Err(Failure::Mismatch(format!(
            "{what}: {header} is {got:?}, expected {want:?}"
        )))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
