#!/usr/bin/env bash
# Runs coffer-bench against Coffer and against s3s-fs (the simplest server on the same wire
# layer) in one sitting, alternating, for the two workloads the core issue names.
# Needs: cargo build --release -p coffer -p coffer-bench, and
#        cargo install s3s-fs@0.14.1 --features binary --root DIR   (S3S_FS=DIR/bin/s3s-fs)
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
coffer="$target/release/coffer"
bench="$target/release/coffer-bench"
s3sfs=${S3S_FS:-s3s-fs}
work=$(mktemp -d)
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
ak=AKIABENCH00000000001
sk=bench-secret-000000000000000000000000001

start_coffer() {
    mkdir -p "$work/coffer"
    printf 'data_dir = "%s"\n[[users]]\nname = "bench"\naccess_key = "%s"\nsecret_key = "%s"\nadmin = true\n' \
        "$work/coffer/data" "$ak" "$sk" >"$work/coffer.toml"
    COFFER_LOG=warn "$coffer" serve --config "$work/coffer.toml" --http 127.0.0.1:19800 --https "" \
        >"$work/coffer.out" 2>&1 &
    pids+=($!)
    until grep -q '^coffer ready' "$work/coffer.out"; do sleep 0.1; done
}

start_s3sfs() {
    mkdir -p "$work/s3sfs"
    "$s3sfs" --host 127.0.0.1 --port 19801 --access-key "$ak" --secret-key "$sk" "$work/s3sfs" \
        >"$work/s3sfs.out" 2>&1 &
    pids+=($!)
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
        "$bench" --endpoint "http://127.0.0.1:$port" --access-key "$ak" --secret-key "$sk" \
            --bucket "bench-${size,,}" --size "$size" --count "$count" --concurrency "$conc" 2>/dev/null
    done
done
