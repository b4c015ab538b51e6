//! Throughput of sealing and opening a part, against raw aws-lc-rs AES-256-GCM over the same bytes in
//! the same 64 KiB chunks. The goal: coffer ≥ 0.85 × raw, both ways.
//!
//! `cargo bench -p coffer-crypto --bench segment -- --warm-up-time 1 --measurement-time 3`
//!
//! After criterion's own report, a table prints each pair's throughput and the ratio
//! coffer / raw (means over every timed iteration, warm-up included, for both alike).
//!
//! What each side includes:
//! - `aead_raw` seal: `seal_in_place_separate_tag` on each 64 KiB chunk of the buffer, key
//!   prepared once. No copy.
//! - `aead_raw_new_key`: `aead_raw` plus an AES key schedule per pass, as any scheme with a key
//!   per object or part pays (it matters for small parts only).
//! - `aead_raw_copy` seal: the same after copying each chunk into a reused output buffer, the
//!   least any sealer must do when the plaintext arrives in a buffer it may not overwrite.
//! - `coffer` seal: a whole part as a server streams it: `PartSealer::new` (random nonce prefix,
//!   AES key schedule), `push` of the buffer, `finish`, into a reused output buffer. One copy.
//! - `coffer_in_place` seal: `SegmentSealer::new`, then `seal_next`/`seal_last` on the buffer's
//!   segments in place. No copy: the like-for-like comparison with `aead_raw`.
//! - raw open: `open_in_place` on each sealed chunk, key prepared once.
//! - coffer open: `PartOpener::new` (header check, AES key schedule) and `open_segment` on each
//!   segment, the streaming read path. `open_range` additionally compacts the plaintext.
//!   Restoring the sealed bytes before each opening pass is not timed, on either side.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use coffer_crypto::{
    DataKey, HEADER_LEN, PartKey, PartOpener, PartSealer, SEALED_SEGMENT_LEN, SEGMENT_SIZE,
    SegmentSealer, plan_range, seal_part,
};
use criterion::{Criterion, Throughput};

const SIZES: [(usize, &str); 2] = [(4 * 1024, "4KiB"), (64 * 1024 * 1024, "64MiB")];

/// Total time and iterations per benchmark id, for the ratio table.
static TOTALS: Mutex<BTreeMap<String, (Duration, u64, usize)>> = Mutex::new(BTreeMap::new());

fn record(id: &str, bytes: usize, iters: u64, elapsed: Duration) {
    let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    let entry = totals
        .entry(id.to_owned())
        .or_insert((Duration::ZERO, 0, bytes));
    entry.0 += elapsed;
    entry.1 += iters;
}

fn raw_key() -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[0x42; 32]).expect("valid key"))
}

fn raw_nonce(index: usize) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[4..12].copy_from_slice(&(index as u64).to_be_bytes());
    Nonce::assume_unique_for_key(nonce)
}

fn part_key() -> PartKey {
    DataKey::generate().expect("random").part_key(1)
}

fn input(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn seal(c: &mut Criterion) {
    for (len, name) in SIZES {
        let mut group = c.benchmark_group(format!("seal_{name}"));
        group.throughput(Throughput::Bytes(len as u64));
        if len > 1 << 20 {
            group.sample_size(10);
        }

        let key = raw_key();
        let mut buffer = input(len);
        let id = format!("seal_{name}/aead_raw");
        group.bench_function("aead_raw", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    for (i, chunk) in buffer.chunks_mut(SEGMENT_SIZE).enumerate() {
                        let tag = key
                            .seal_in_place_separate_tag(raw_nonce(i), Aad::empty(), chunk)
                            .expect("seal");
                        black_box(&tag);
                    }
                }
                let elapsed = start.elapsed();
                record(&id, len, iters, elapsed);
                elapsed
            })
        });

        let id = format!("seal_{name}/aead_raw_new_key");
        group.bench_function("aead_raw_new_key", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let key = raw_key();
                    for (i, chunk) in buffer.chunks_mut(SEGMENT_SIZE).enumerate() {
                        let tag = key
                            .seal_in_place_separate_tag(raw_nonce(i), Aad::empty(), chunk)
                            .expect("seal");
                        black_box(&tag);
                    }
                }
                let elapsed = start.elapsed();
                record(&id, len, iters, elapsed);
                elapsed
            })
        });

        let mut out = Vec::with_capacity(len + len / SEGMENT_SIZE * 16 + 64);
        let plaintext = input(len);
        let id = format!("seal_{name}/aead_raw_copy");
        group.bench_function("aead_raw_copy", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    out.clear();
                    for (i, chunk) in plaintext.chunks(SEGMENT_SIZE).enumerate() {
                        let at = out.len();
                        out.extend_from_slice(chunk);
                        let tag = key
                            .seal_in_place_separate_tag(raw_nonce(i), Aad::empty(), &mut out[at..])
                            .expect("seal");
                        out.extend_from_slice(tag.as_ref());
                    }
                    black_box(out.as_slice());
                }
                let elapsed = start.elapsed();
                record(&id, len, iters, elapsed);
                elapsed
            })
        });

        let key = part_key();
        let id = format!("seal_{name}/coffer");
        group.bench_function("coffer", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    out.clear();
                    let mut sealer = PartSealer::new(&key).expect("sealer");
                    sealer.push(&plaintext, &mut out).expect("push");
                    black_box(sealer.finish(&mut out).expect("finish"));
                    black_box(out.as_slice());
                }
                let elapsed = start.elapsed();
                record(&id, len, iters, elapsed);
                elapsed
            })
        });

        let id = format!("seal_{name}/coffer_in_place");
        group.bench_function("coffer_in_place", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut sealer = SegmentSealer::new(&key).expect("sealer");
                    black_box(sealer.header());
                    let last_start = (len - 1) / SEGMENT_SIZE * SEGMENT_SIZE;
                    let (full, last) = buffer.split_at_mut(last_start);
                    for segment in full.chunks_exact_mut(SEGMENT_SIZE) {
                        let segment = segment.try_into().expect("full segment");
                        black_box(sealer.seal_next(segment).expect("seal"));
                    }
                    black_box(sealer.seal_last(last).expect("seal"));
                }
                let elapsed = start.elapsed();
                record(&id, len, iters, elapsed);
                elapsed
            })
        });
        group.finish();
    }
}

fn open(c: &mut Criterion) {
    for (len, name) in SIZES {
        let mut group = c.benchmark_group(format!("open_{name}"));
        group.throughput(Throughput::Bytes(len as u64));
        if len > 1 << 20 {
            group.sample_size(10);
        }

        // Raw: each chunk sealed with its tag appended, in the same 64 KiB + 16 layout.
        let key = raw_key();
        let mut pristine = Vec::new();
        for (i, chunk) in input(len).chunks(SEGMENT_SIZE).enumerate() {
            let start = pristine.len();
            pristine.extend_from_slice(chunk);
            let tag = key
                .seal_in_place_separate_tag(raw_nonce(i), Aad::empty(), &mut pristine[start..])
                .expect("seal");
            pristine.extend_from_slice(tag.as_ref());
        }
        let mut work = pristine.clone();
        let id = format!("open_{name}/aead_raw");
        group.bench_function("aead_raw", |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    work.copy_from_slice(&pristine);
                    let start = Instant::now();
                    for (i, chunk) in work.chunks_mut(SEALED_SEGMENT_LEN).enumerate() {
                        let plaintext = key
                            .open_in_place(raw_nonce(i), Aad::empty(), chunk)
                            .expect("open");
                        black_box(plaintext.len());
                    }
                    elapsed += start.elapsed();
                }
                record(&id, len, iters, elapsed);
                elapsed
            })
        });

        let id = format!("open_{name}/aead_raw_new_key");
        group.bench_function("aead_raw_new_key", |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    work.copy_from_slice(&pristine);
                    let start = Instant::now();
                    let key = raw_key();
                    for (i, chunk) in work.chunks_mut(SEALED_SEGMENT_LEN).enumerate() {
                        let plaintext = key
                            .open_in_place(raw_nonce(i), Aad::empty(), chunk)
                            .expect("open");
                        black_box(plaintext.len());
                    }
                    elapsed += start.elapsed();
                }
                record(&id, len, iters, elapsed);
                elapsed
            })
        });

        let key = part_key();
        let pristine = seal_part(&key, &input(len)).expect("seal");
        let mut work = pristine.clone();
        let plan = plan_range(len as u64, 0..len as u64).expect("plan");
        let id = format!("open_{name}/coffer");
        group.bench_function("coffer", |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    work.copy_from_slice(&pristine);
                    let start = Instant::now();
                    let (header, body) = work.split_at_mut(HEADER_LEN);
                    let opener = PartOpener::new(&key, header).expect("header");
                    let mut at = 0;
                    for index in plan.segments() {
                        let end = at + plan.sealed_segment_len(index);
                        let plaintext = opener
                            .open_segment(index, plan.is_final(index), &mut body[at..end])
                            .expect("open");
                        black_box(plaintext.len());
                        at = end;
                    }
                    elapsed += start.elapsed();
                }
                record(&id, len, iters, elapsed);
                elapsed
            })
        });

        let id = format!("open_{name}/coffer_open_range");
        group.bench_function("coffer_open_range", |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    work.copy_from_slice(&pristine);
                    let start = Instant::now();
                    let (header, body) = work.split_at_mut(HEADER_LEN);
                    let opener = PartOpener::new(&key, header).expect("header");
                    black_box(opener.open_range(&plan, body).expect("open").len());
                    elapsed += start.elapsed();
                }
                record(&id, len, iters, elapsed);
                elapsed
            })
        });
        group.finish();
    }
}

/// What a part costs before its first byte: key derivation and sealer/opener setup.
fn setup(c: &mut Criterion) {
    let mut group = c.benchmark_group("part_setup");
    let dek = DataKey::generate().expect("random");
    group.bench_function("DataKey::part_key", |b| {
        b.iter(|| black_box(dek.part_key(1)))
    });
    let key = dek.part_key(1);
    group.bench_function("PartSealer::new", |b| {
        b.iter(|| black_box(PartSealer::new(&key).expect("sealer")))
    });
    let blob = seal_part(&key, b"").expect("seal");
    group.bench_function("PartOpener::new", |b| {
        b.iter(|| black_box(PartOpener::new(&key, &blob[..HEADER_LEN]).expect("opener")))
    });
    group.finish();
}

fn print_ratios() {
    let totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    let gib_per_s = |id: &str| {
        totals.get(id).map(|(elapsed, iters, bytes)| {
            (*bytes as f64 * *iters as f64) / elapsed.as_secs_f64() / (1u64 << 30) as f64
        })
    };
    println!();
    println!(
        "{:<34} {:>8} {:>14} {:>8}",
        "benchmark", "GiB/s", "vs", "ratio"
    );
    let pairs = [
        ("aead_raw_copy", "aead_raw"),
        ("coffer", "aead_raw"),
        ("coffer", "aead_raw_copy"),
        ("coffer_in_place", "aead_raw"),
        ("aead_raw_new_key", "aead_raw"),
        ("coffer", "aead_raw_new_key"),
        ("coffer_in_place", "aead_raw_new_key"),
        ("coffer_open_range", "aead_raw"),
    ];
    for op in ["seal", "open"] {
        for (_, name) in SIZES {
            if let Some(raw) = gib_per_s(&format!("{op}_{name}/aead_raw")) {
                println!("{:<34} {raw:>8.2}", format!("{op} {name} aead_raw"));
            }
            for (ours, base) in pairs {
                let measured = gib_per_s(&format!("{op}_{name}/{ours}"));
                let baseline = gib_per_s(&format!("{op}_{name}/{base}"));
                if let (Some(measured), Some(baseline)) = (measured, baseline) {
                    println!(
                        "{:<34} {measured:>8.2} {base:>14} {:>8.3}",
                        format!("{op} {name} {ours}"),
                        measured / baseline
                    );
                }
            }
        }
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    seal(&mut criterion);
    open(&mut criterion);
    setup(&mut criterion);
    criterion.final_summary();
    print_ratios();
}
