//! MD5 throughput, aws-lc (this crate) against RustCrypto's `md-5`, on the 1 MiB batches an
//! SSE-S3 PUT hashes.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use md5::Digest as _;

fn md5(c: &mut Criterion) {
    let data = vec![0xa5u8; 1 << 20];
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

criterion_group!(benches, md5);
criterion_main!(benches);
