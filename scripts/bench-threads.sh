#!/usr/bin/env bash
# Where a server's CPU goes, thread by thread: one release server, each SSE mode's objects
# written once (--keep), then GET-only runs of each mode in turn, printing for every thread
# kind the user and system CPU (clock ticks, 10 ms) and the voluntary and involuntary context
# switches it made during that run (from /proc/PID/task/*/stat and status).
#
# It shows what a mode costs beside the request workers: for SSE-KMS, the audit writer
# (fsync), its indexer and the metadata committer; and how often they wake or preempt.
#
# Usage: scripts/bench-threads.sh [BIN_DIR] [ROUNDS] [MODES]   (defaults: target/release 2 "s3 kms")
set -u
bin=${1:-target/release} rounds=${2:-2} modes=${3:-s3 kms}
. "$(dirname "$0")/bench-lib.sh"
BENCH_WORK=$(mktemp -d /var/tmp/coffer-threads.XXXXXX)
trap bench_cleanup EXIT
bench_config "$BENCH_WORK/c.toml" "$BENCH_WORK/data"
bench_serve coffer "$bin" "$BENCH_WORK/c.toml" --http 127.0.0.1:19961 --https ""
pid=$BENCH_PID
bench() { # MODE ARGS...
    "$bin/coffer-bench" --endpoint http://127.0.0.1:19961 --access-key "$BENCH_AK" \
        --secret-key "$BENCH_SK" --bucket "threads-$1" --sse "$1" \
        --size 4KiB --count 5000 --concurrency 16 --keep "${@:2}" 2>/dev/null | grep -E '^(PUT|GET)'
}
# thread-kind user-ticks system-ticks voluntary-switches involuntary-switches
snapshot() {
    for t in /proc/"$pid"/task/*; do
        # A thread may end between the listing and the read (tokio's blocking threads do).
        read -r -a f < <(sed 's/.*) //' "$t/stat" 2>/dev/null) && [ "${#f[@]}" -gt 12 ] || continue
        echo "$(tr ' ' _ <"$t/comm" 2>/dev/null) ${f[11]} ${f[12]} $(awk '/^voluntary_ctxt/ {v=$2} /^nonvoluntary_ctxt/ {n=$2} END {print v, n}' "$t/status" 2>/dev/null)"
    done | awk '{u[$1]+=$2; s[$1]+=$3; v[$1]+=$4; n[$1]+=$5} END {for (k in u) print k, u[k], s[k], v[k], n[k]}' | sort
}
for m in $modes; do bench "$m" >/dev/null; done
sleep 2
for _ in $(seq "$rounds"); do
    for m in $modes; do
        snapshot >"$BENCH_WORK/before"
        echo "$m: $(bench "$m" --skip-put | tr -s ' ')"
        # Let what the run queued (index commits, anchors) land in this run's figures.
        sleep 0.6
        snapshot >"$BENCH_WORK/after"
        join "$BENCH_WORK/before" "$BENCH_WORK/after" | awk '{
            du = $6 - $2; ds = $7 - $3; dv = $8 - $4; dn = $9 - $5
            if (du + ds + dv + dn > 0)
                printf "    %-18s user %4d sys %4d ticks   voluntary %6d  involuntary %6d switches\n", $1, du, ds, dv, dn
        }'
    done
done
