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

mod multipart;
mod reads;
mod writes;

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
