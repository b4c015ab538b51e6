#!/usr/bin/env bash
# Compares two coffer builds on the same workload in one sitting: starts a server from each
# (fresh data directories, the same configuration), then runs coffer-bench against them in
# alternating rounds so that the machine's noise falls on both alike.
#
# Usage: scripts/bench-ab.sh OLD_DIR NEW_DIR ROUNDS -- COFFER-BENCH-ARGS...
#   OLD_DIR, NEW_DIR: directories holding a `coffer` binary (e.g. a release build of the
#   previous commit, and target/release). coffer-bench comes from NEW_DIR.
# Example: scripts/bench-ab.sh /tmp/old target/release 3 -- --sse kms --size 4KiB --count 2000 --concurrency 16
set -eu
old=$1 new=$2 rounds=$3
shift 4
work=$(mktemp -d /var/tmp/coffer-ab.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
start() { # name dir port
    cat > "$work/$1.toml" <<T
data_dir = "$work/$1"
[[users]]
name = "b"
access_key = "AKIABENCH00000000001"
secret_key = "bench-secret-000000000000000000000000001"
admin = true
T
    "$2/coffer" serve --config "$work/$1.toml" --http "127.0.0.1:$3" --https "" \
        >"$work/$1.out" 2>"$work/$1.err" &
    pids+=($!)
}
start old "$old" 19981
start new "$new" 19982
for port in 19981 19982; do
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.1
    done
done
for r in $(seq "$rounds"); do
    for side in old:19981 new:19982; do
        name=${side%%:*} port=${side##*:}
        "$new/coffer-bench" --endpoint "http://127.0.0.1:$port" \
            --access-key AKIABENCH00000000001 \
            --secret-key bench-secret-000000000000000000000000001 \
            --bucket "ab-$r" "$@" 2>/dev/null | sed "s/^/round $r $name: /"
    done
done
