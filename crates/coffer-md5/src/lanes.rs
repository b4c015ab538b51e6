//! MD5 of many uploads at once, in the SIMD lanes of one thread.
//!
//! One MD5 stream cannot go faster than its chain of 64-byte blocks allows (about 600 MiB/s
//! a core here), but independent streams can share the lanes of a vector register:
//! `md5-many` hashes 4 messages at 1.8 GiB/s together and 16 at 6 GiB/s on this project's
//! AVX-512 machine, against 0.6 for each alone (`cargo bench -p coffer-md5`). A server
//! takes several large PUTs at once, and every SSE-S3 one hashes its whole body, so the
//! body hashers of concurrent uploads hand their bytes to one engine thread, which takes a
//! piece of each waiting stream in turn and hashes them side by side.
//!
//! Nothing waits on MD5 until an upload ends: [`SharedMd5::update`] queues the bytes (it
//! blocks only past [`MAX_QUEUED`] bytes, which bounds memory) and [`SharedMd5::finalize`]
//! waits for the queue to empty. A panic in the engine fails the streams it was hashing
//! instead of leaving them waiting.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use bytes::{Bytes, BytesMut};
use md5_many::{Md5Many, Md5State};

use crate::DIGEST_LEN;

/// Bytes a stream may have queued before `update` waits: enough to keep the engine fed
/// between two arrivals of the uploader's chunks, small beside the upload's own buffers.
pub const MAX_QUEUED: usize = 4 << 20;
/// Bytes of each stream one round hashes: long enough that the lanes' set-up is noise,
/// short enough that a stream with much queued does not hold the others' lanes idle.
const ROUND: usize = 64 << 10;

/// The engine failed (a panic) while hashing this stream; its digest is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineFailed;

impl std::fmt::Display for EngineFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the shared MD5 engine failed")
    }
}

impl std::error::Error for EngineFailed {}

/// An MD5 digest whose hashing runs on the shared engine thread. For bodies large enough
/// that handing them over costs little beside hashing them; a few KiB are faster with
/// [`crate::Md5`] in place.
pub struct SharedMd5 {
    stream: Arc<Stream>,
}

struct Stream {
    inner: Mutex<Inner>,
    /// Signalled each time the engine took bytes off the queue.
    progressed: Condvar,
}

struct Inner {
    state: Md5State,
    /// Whole pieces of [`ROUND`] bytes (and, once flushing, the last one, shorter).
    queue: VecDeque<Bytes>,
    /// The piece being filled. Bytes are copied into pieces of one length, whatever the
    /// chunks they came in, so the engine's lanes run in lockstep without first aligning
    /// each stream to a block: the copy costs less than the scalar hashing it saves.
    filling: BytesMut,
    /// Bytes in `queue` and `filling`.
    queued: usize,
    /// The owner waits for the digest: hash what is queued, however little.
    flushing: bool,
    failed: bool,
}

/// The engine's view: every live stream, and whether one asked for a round.
struct Engine {
    work: Mutex<Work>,
    wake: Condvar,
}

#[derive(Default)]
struct Work {
    live: Vec<Arc<Stream>>,
    wanted: bool,
    /// Where the next round starts among `live`, so more than [`LANES`] streams take turns.
    next: usize,
}

/// A stream asks for a round once this much waits: the engine then takes a piece of every
/// stream with bytes queued, so the lanes fill with the streams that arrived meanwhile
/// instead of each chunk being hashed alone as it comes.
const ASK_AT: usize = 1 << 20;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<&'static Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let engine: &'static Engine = Box::leak(Box::new(Engine {
            work: Mutex::new(Work::default()),
            wake: Condvar::new(),
        }));
        // Without its thread no stream could finish: failing to start one is as fatal as
        // failing to start a runtime worker.
        std::thread::Builder::new()
            .name("coffer-md5".into())
            .spawn(move || engine.run())
            .expect("cannot start the shared MD5 thread");
        engine
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data whole before anything can panic in it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    fn ask(&self) {
        lock(&self.work).wanted = true;
        self.wake.notify_one();
    }
}

impl SharedMd5 {
    /// A digest of nothing yet.
    #[must_use]
    pub fn new() -> Self {
        let stream = Arc::new(Stream {
            inner: Mutex::new(Inner {
                state: Md5State::new(),
                queue: VecDeque::new(),
                filling: BytesMut::new(),
                queued: 0,
                flushing: false,
                // With the engine gone, fail at once rather than wait for it.
                failed: DEAD.load(Ordering::SeqCst),
            }),
            progressed: Condvar::new(),
        });
        lock(&engine().work).live.push(stream.clone());
        SharedMd5 { stream }
    }

    /// Queues `data` to be hashed after what came before. Blocks while more than
    /// [`MAX_QUEUED`] bytes wait, so call it only where blocking is allowed.
    pub fn update(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let stream = &self.stream;
        let mut inner = lock(&stream.inner);
        while inner.queued > MAX_QUEUED && !inner.failed {
            inner = stream
                .progressed
                .wait(inner)
                .unwrap_or_else(|p| p.into_inner());
        }
        if inner.failed {
            return;
        }
        let before = inner.queued;
        inner.queued += data.len();
        let mut rest = data;
        while !rest.is_empty() {
            if inner.filling.capacity() == 0 {
                inner.filling.reserve(ROUND);
            }
            let take = rest.len().min(ROUND - inner.filling.len());
            inner.filling.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if inner.filling.len() == ROUND {
                let piece = inner.filling.split().freeze();
                inner.queue.push_back(piece);
            }
        }
        let ask = before < ASK_AT && inner.queued >= ASK_AT;
        drop(inner);
        if ask {
            engine().ask();
        }
    }

    /// The digest of everything queued, once the engine has hashed it all.
    pub fn finalize(self) -> Result<[u8; DIGEST_LEN], EngineFailed> {
        let stream = &self.stream;
        let mut inner = lock(&stream.inner);
        if inner.queued > 0 {
            inner.flushing = true;
            if !inner.filling.is_empty() {
                let piece = inner.filling.split().freeze();
                inner.queue.push_back(piece);
            }
            drop(inner);
            engine().ask();
            inner = lock(&stream.inner);
        }
        while inner.queued > 0 && !inner.failed {
            inner = stream
                .progressed
                .wait(inner)
                .unwrap_or_else(|p| p.into_inner());
        }
        if inner.failed {
            return Err(EngineFailed);
        }
        Ok(inner.state.finalize())
        // Dropping `self` wipes the state.
    }
}

impl Default for SharedMd5 {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SharedMd5 {
    fn drop(&mut self) {
        {
            let mut inner = lock(&self.stream.inner);
            // A round holding a piece of this stream finds the queue empty when it puts
            // the rest back, and drops it.
            inner.queue.clear();
            inner.filling = BytesMut::new();
            inner.queued = 0;
            wipe(&mut inner.state);
        }
        lock(&engine().work)
            .live
            .retain(|s| !Arc::ptr_eq(s, &self.stream));
    }
}

impl std::fmt::Debug for SharedMd5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state buffers plaintext: never print it.
        f.debug_struct("SharedMd5").finish_non_exhaustive()
    }
}

/// Overwrites a state, whose buffer holds up to 63 bytes of the input. Best effort, as for
/// the in-place `Md5`: `Md5State` is `Copy`, so `md5-many` and the rounds hold short-lived
/// copies, and the queued pieces are plaintext freed unwiped, as the request's own body
/// chunks are. What it prevents is a stream's last bytes lying in the long-lived states.
fn wipe(state: &mut Md5State) {
    // SAFETY: `state` is a valid, exclusively borrowed, initialised `Md5State` (plain
    // integers and bytes, no drop glue), so writing a whole new value through the pointer
    // is sound; volatile, so the write is not dropped as dead before the memory is freed.
    #[allow(unsafe_code)]
    unsafe {
        std::ptr::write_volatile(state, Md5State::new());
    }
}

/// Moves the front piece of `stream`'s queue, with its state, into `shares`.
fn take_piece(stream: Arc<Stream>, shares: &mut Vec<Share>) {
    let mut inner = lock(&stream.inner);
    let Some(piece) = inner.queue.pop_front() else {
        return;
    };
    let state = inner.state;
    drop(inner);
    shares.push(Share {
        stream,
        state,
        taken: piece.len(),
        piece,
    });
}

/// Set once the engine's thread has died: every stream then fails at once.
static DEAD: AtomicBool = AtomicBool::new(false);

/// Fails every live stream if the engine's thread unwinds.
struct DeadMan<'a>(&'a Engine);

impl Drop for DeadMan<'_> {
    fn drop(&mut self) {
        DEAD.store(true, Ordering::SeqCst);
        let live = std::mem::take(&mut lock(&self.0.work).live);
        for stream in live {
            fail(&mut lock(&stream.inner));
            stream.progressed.notify_all();
        }
    }
}

/// Marks a stream failed and drops what it had queued.
fn fail(inner: &mut Inner) {
    inner.failed = true;
    inner.flushing = false;
    inner.queue.clear();
    inner.filling = BytesMut::new();
    inner.queued = 0;
}

/// One stream's share of a round: its state, taken out, and the bytes to add. The round
/// may leave the end of the piece unhashed; it goes back to the front of the queue.
struct Share {
    stream: Arc<Stream>,
    state: Md5State,
    piece: Bytes,
    /// The piece's length when taken off the queue.
    taken: usize,
}

impl Engine {
    fn run(&self) {
        // Should anything in here panic past the round's own guard, no stream may be left
        // waiting for an engine that is gone.
        let _dead_man = DeadMan(self);
        let many = Md5Many::new();
        let mut candidates: Vec<Arc<Stream>> = Vec::new();
        let mut shares: Vec<Share> = Vec::with_capacity(LANES);
        loop {
            {
                let mut work = lock(&self.work);
                while !work.wanted {
                    work = self.wake.wait(work).unwrap_or_else(|p| p.into_inner());
                }
                work.wanted = false;
            }
            // Rounds until no stream has a full request's worth waiting or wants its digest.
            while self.take_round(&mut candidates, &mut shares) {
                let hashed = catch_unwind(AssertUnwindSafe(|| hash(&many, &mut shares)));
                self.settle(&mut shares, hashed.is_ok());
            }
        }
    }

    /// Takes a piece of up to [`LANES`] streams into `shares`: first every stream someone
    /// waits for (its owner wants the digest, or [`ASK_AT`] bytes wait), then others with
    /// bytes queued, to fill the lanes; both in turn from where the last round stopped, so
    /// more streams than lanes all progress. Every live stream is looked at: an urgent one
    /// left unseen would never ask again. False, with `shares` empty, when none is urgent.
    fn take_round(&self, candidates: &mut Vec<Arc<Stream>>, shares: &mut Vec<Share>) -> bool {
        {
            let mut work = lock(&self.work);
            let n = work.live.len();
            let start = if n == 0 { 0 } else { work.next % n };
            candidates.extend(work.live[start..].iter().cloned());
            candidates.extend(work.live[..start].iter().cloned());
            work.next = start + 1;
        }
        let mut others: Vec<Arc<Stream>> = Vec::new();
        let mut urgent = false;
        for stream in candidates.drain(..) {
            let inner = lock(&stream.inner);
            if inner.queue.is_empty() || inner.failed {
                continue;
            }
            if inner.flushing || inner.queued >= ASK_AT {
                urgent = true;
                drop(inner);
                if shares.len() < LANES {
                    take_piece(stream, shares);
                }
            } else {
                drop(inner);
                others.push(stream);
            }
        }
        if !urgent {
            return false;
        }
        for stream in others {
            if shares.len() == LANES {
                break;
            }
            take_piece(stream, shares);
        }
        !shares.is_empty()
    }

    /// Gives each share's state and unhashed rest back to its stream, or fails the stream
    /// if the round panicked.
    fn settle(&self, shares: &mut Vec<Share>, hashed: bool) {
        for mut share in shares.drain(..) {
            let mut inner = lock(&share.stream.inner);
            if hashed && !inner.failed {
                // A stream dropped meanwhile has an empty queue and nothing to give back to.
                if inner.queued > 0 {
                    inner.state = share.state;
                    let rest = std::mem::take(&mut share.piece);
                    inner.queued -= share.taken - rest.len();
                    if !rest.is_empty() {
                        inner.queue.push_front(rest);
                    }
                    if inner.queued == 0 {
                        inner.flushing = false;
                    }
                }
            } else {
                fail(&mut inner);
            }
            wipe(&mut share.state);
            drop(inner);
            share.stream.progressed.notify_all();
        }
    }
}

/// Full width of the vector kernel: `md5-many` is fast only in lockstep, with every lane of
/// its widest kernel given a block-aligned input of one length. With fewer streams it runs
/// no faster than one stream alone (measured: 2–4 streams of 64 KiB pieces at 0.6–0.8 GiB/s
/// together, 16 at 7), so a round fills the lanes it has no stream for with copies of one
/// it has, and discards their states: 16 lanes of work for 4 streams still hash them at
/// about 1.8 GiB/s together.
const LANES: usize = 16;
/// Pieces shorter than this are hashed alone rather than hold the lanes to their length.
const LOCKSTEP_MIN: usize = 4 << 10;

/// Adds to each share's state the start of its piece, leaving in `piece` what this round did
/// not take: a lone stream, and the odd bytes that align a stream to a block, on the
/// single-stream path; the rest in lockstep, one length for all, across the vector lanes.
fn hash(many: &Md5Many, shares: &mut [Share]) {
    if let [only] = shares {
        only.state.update(&only.piece);
        only.piece.clear();
        return;
    }
    // Align each stream to a block boundary, and take short pieces whole.
    for share in shares.iter_mut() {
        let partial = (share.state.bytes_hashed() % 64) as usize;
        let take = if share.piece.len() < LOCKSTEP_MIN {
            share.piece.len()
        } else if partial != 0 {
            64 - partial
        } else {
            0
        };
        if take > 0 {
            let head = share.piece.split_to(take);
            share.state.update(&head);
        }
    }
    let mut group: Vec<usize> = (0..shares.len())
        .filter(|&i| shares[i].piece.len() >= 64)
        .collect();
    let Some(len) = group.iter().map(|&i| shares[i].piece.len() / 64 * 64).min() else {
        return;
    };
    if let [only] = group[..] {
        let share = &mut shares[only];
        share.state.update(&share.piece);
        share.piece.clear();
        return;
    }
    group.truncate(LANES);
    // The native kernel's width (16 with AVX-512, 8 with AVX2, 4 with SSE or NEON): padding
    // past it would only hash more copies.
    let width = group.len().next_multiple_of(many.lanes()).min(LANES);
    let mut states = [Md5State::new(); LANES];
    let mut inputs: [&[u8]; LANES] = [&[]; LANES];
    for lane in 0..width {
        // Lanes past the group's repeat its first stream; their states are thrown away.
        let i = group.get(lane).copied().unwrap_or(group[0]);
        states[lane] = shares[i].state;
        inputs[lane] = &shares[i].piece[..len];
    }
    many.update_many(&mut states[..width], &inputs[..width]);
    for (lane, &i) in group.iter().enumerate() {
        shares[i].state = states[lane];
        bytes::Buf::advance(&mut shares[i].piece, len);
    }
    for state in &mut states {
        wipe(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest as _;
    use proptest::prelude::*;

    fn rustcrypto(data: &[u8]) -> [u8; 16] {
        md5::Md5::digest(data).into()
    }

    #[test]
    fn empty_and_rfc_vectors() {
        assert_eq!(
            SharedMd5::new().finalize().unwrap(),
            rustcrypto(b""),
            "nothing queued"
        );
        let mut m = SharedMd5::new();
        m.update(b"message ");
        m.update(b"");
        m.update(b"digest");
        assert_eq!(m.finalize().unwrap(), rustcrypto(b"message digest"));
    }

    /// Streams hashed at the same time, each in its own pieces, each get their own digest:
    /// what the engine's lanes must keep apart.
    #[test]
    fn concurrent_streams_keep_their_own_digests() {
        let inputs: Vec<Vec<u8>> = (0..12u32)
            .map(|i| {
                (0..(300_000 + i as usize * 70_001))
                    .map(|j| (j as u32).wrapping_mul(2_654_435_761).wrapping_add(i) as u8)
                    .collect()
            })
            .collect();
        let threads: Vec<_> = inputs
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, data)| {
                std::thread::spawn(move || {
                    let mut m = SharedMd5::new();
                    // Pieces of odd sizes, so lanes start and end mid-block.
                    let step = 1 + 4099 * (i + 1);
                    let mut at = 0;
                    while at < data.len() {
                        let end = (at + step).min(data.len());
                        m.update(&data[at..end]);
                        at = end;
                    }
                    m.finalize().unwrap()
                })
            })
            .collect();
        for (t, data) in threads.into_iter().zip(&inputs) {
            assert_eq!(t.join().unwrap(), rustcrypto(data));
        }
    }

    /// A stream dropped with bytes queued leaves the engine serving the others.
    #[test]
    fn a_dropped_stream_does_not_stall_others() {
        let big = vec![7u8; 3 << 20];
        let mut abandoned = SharedMd5::new();
        abandoned.update(&big);
        abandoned.update(&big);
        drop(abandoned);
        let mut m = SharedMd5::new();
        m.update(&big);
        assert_eq!(m.finalize().unwrap(), rustcrypto(&big));
    }

    /// More streams than lanes, most of them idle with bytes queued below the threshold at
    /// which they ask for a round: one that wants its digest, or one past the memory bound,
    /// must still be served (an urgent stream the round's scan never reached once waited
    /// forever).
    #[test]
    fn an_urgent_stream_is_served_among_more_idle_ones_than_lanes() {
        let piece = vec![3u8; 128 << 10];
        let idle: Vec<SharedMd5> = (0..LANES + 4)
            .map(|_| {
                let mut m = SharedMd5::new();
                m.update(&piece);
                m
            })
            .collect();
        let (done, finished) = std::sync::mpsc::channel();
        let piece2 = piece.clone();
        std::thread::spawn(move || {
            let mut m = SharedMd5::new();
            m.update(&piece2);
            done.send(("flushed", m.finalize())).unwrap();
            let mut m = SharedMd5::new();
            let big = vec![4u8; MAX_QUEUED + (1 << 20)];
            m.update(&big);
            m.update(b"x");
            done.send(("past the bound", m.finalize())).unwrap();
        });
        let wait = std::time::Duration::from_secs(20);
        let (what, digest) = finished
            .recv_timeout(wait)
            .expect("a flushing stream waited");
        assert_eq!((what, digest.unwrap()), ("flushed", rustcrypto(&piece)));
        let (what, digest) = finished.recv_timeout(wait).expect("a full stream waited");
        let mut big = vec![4u8; MAX_QUEUED + (1 << 20)];
        big.push(b'x');
        assert_eq!(
            (what, digest.unwrap()),
            ("past the bound", rustcrypto(&big))
        );
        for m in idle {
            assert_eq!(m.finalize().unwrap(), rustcrypto(&piece));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any input, fed in any split, digests as RustCrypto's MD5 does in one call.
        #[test]
        fn matches_rustcrypto_in_any_split(
            data in proptest::collection::vec(any::<u8>(), 0..200_000),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            let mut m = SharedMd5::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([data.len()]) {
                m.update(&data[at..c]);
                at = c;
            }
            prop_assert_eq!(m.finalize().unwrap(), rustcrypto(&data));
        }
    }
}
