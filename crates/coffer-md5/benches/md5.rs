//! MD5 throughput on the 1 MiB batches an SSE-S3 PUT hashes: aws-lc (this crate's `Md5`)
//! against RustCrypto's `md-5` for one stream, and the shared engine (`SharedMd5`) for
//! several uploads at once, each on a thread of its own as the body hashers are.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use md5::Digest as _;

const MIB: usize = 1 << 20;

fn one_stream(c: &mut Criterion) {
    let data = vec![0xa5u8; MIB];
    let mut g = c.benchmark_group("md5_1MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("aws-lc", |b| {
        b.iter(|| coffer_md5::Md5::digest(std::hint::black_box(&data)))
    });
    g.bench_function("rustcrypto", |b| {
        b.iter(|| md5::Md5::digest(std::hint::black_box(&data)))
    });
    g.finish();
}

/// `streams` threads each hash 16 MiB fed in 256 KiB chunks, in place or on the engine.
fn concurrent(c: &mut Criterion) {
    let chunk = vec![0x5au8; 256 << 10];
    let per_stream = 16 * MIB;
    let mut g = c.benchmark_group("md5_concurrent_16MiB_each");
    g.sample_size(10);
    for streams in [1usize, 4, 8] {
        g.throughput(Throughput::Bytes((streams * per_stream) as u64));
        g.bench_function(format!("in_place_{streams}_streams"), |b| {
            b.iter(|| {
                std::thread::scope(|s| {
                    for _ in 0..streams {
                        s.spawn(|| {
                            let mut m = coffer_md5::Md5::new();
                            for _ in 0..per_stream / chunk.len() {
                                m.update(&chunk);
                            }
                            m.finalize()
                        });
                    }
                })
            })
        });
        g.bench_function(format!("shared_{streams}_streams"), |b| {
            b.iter(|| {
                std::thread::scope(|s| {
                    for _ in 0..streams {
                        s.spawn(|| {
                            let mut m = coffer_md5::SharedMd5::new();
                            for _ in 0..per_stream / chunk.len() {
                                m.update(&chunk);
                            }
                            m.finalize()
                        });
                    }
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, one_stream, concurrent);
criterion_main!(benches);
