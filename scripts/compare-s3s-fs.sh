#!/usr/bin/env bash
# Runs coffer-bench against Coffer and against s3s-fs (the simplest server on the same wire
# layer) in one sitting, alternating, for the two workloads the core issue names.
# Needs: cargo build --release -p coffer -p coffer-bench, and
#        cargo install s3s-fs@0.14.1 --features binary --root DIR   (S3S_FS=DIR/bin/s3s-fs)
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
bin="$target/release"
s3sfs=${S3S_FS:-s3s-fs}
. scripts/bench-lib.sh
BENCH_WORK=$(mktemp -d)
trap bench_cleanup EXIT

start_coffer() {
    bench_config "$BENCH_WORK/coffer.toml" "$BENCH_WORK/coffer/data"
    COFFER_LOG=warn bench_serve coffer "$bin" "$BENCH_WORK/coffer.toml" \
        --http 127.0.0.1:19800 --https ""
}

start_s3sfs() {
    mkdir -p "$BENCH_WORK/s3sfs"
    "$s3sfs" --host 127.0.0.1 --port 19801 --access-key "$BENCH_AK" --secret-key "$BENCH_SK" "$BENCH_WORK/s3sfs" \
        >"$BENCH_WORK/s3sfs.out" 2>&1 &
    BENCH_PIDS+=($!)
    until (echo >/dev/tcp/127.0.0.1/19801) 2>/dev/null; do sleep 0.1; done
}

start_coffer
start_s3sfs
for workload in "64MiB 16 4" "4KiB 5000 16"; do
    read -r size count conc <<<"$workload"
    for server in coffer s3s-fs; do
        port=19800
        [ "$server" = s3s-fs ] && port=19801
        echo "== $server size=$size count=$count concurrency=$conc"
        "$bin/coffer-bench" --endpoint "http://127.0.0.1:$port" --access-key "$BENCH_AK" --secret-key "$BENCH_SK" \
            --bucket "bench-${size,,}" --size "$size" --count "$count" --concurrency "$conc" 2>/dev/null
    done
done
