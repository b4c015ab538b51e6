#!/usr/bin/env bash
# How fast the console's heaviest pages load: the first page of a bucket of 100,000 objects,
# and the audit timeline over a trail of 1,000,000 records (goal: < 300 ms each).
#
# Usage: scripts/bench-console.sh [BIN_DIR]
#   BIN_DIR holds release builds of `coffer` and `coffer-bench` (default target/release).
#   OBJECTS (default 100000) go into bucket `big` under SSE-KMS; each PUT and each GET of
#   coffer-bench's verify pass is one KMS request, so the trail gets 2 × OBJECTS records,
#   and a second bucket adds EXTRA_OBJECTS (default 400000) more objects (2 × as many
#   records) to reach the million.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release}
objects=${OBJECTS:-100000}
extra=${EXTRA_OBJECTS:-400000}
# BENCH_DIR keeps the filled data directory for another run (filling takes ~15 minutes).
work=${BENCH_DIR:-$(mktemp -d /var/tmp/coffer-console-bench.XXXXXX)}
mkdir -p "$work"
filled=$([ -f "$work/filled" ] && echo yes || echo no)
. scripts/bench-lib.sh
BENCH_WORK=$work
port=19811
# A kept directory stays; only the server is stopped.
trap '[ -z "${BENCH_DIR:-}" ] || BENCH_WORK=; bench_cleanup' EXIT
bench_config "$work/coffer.toml" "$work/data"
# A restart over a filled directory first walks it for leftovers: allow two minutes.
BENCH_READY_TENTHS=1200 bench_serve coffer "$bin" "$work/coffer.toml" \
    --http "127.0.0.1:$port" --https ""
fill() { # bucket count
    echo "filling $1 with $2 objects (SSE-KMS; PUT then verified GET)" >&2
    "$bin/coffer-bench" --endpoint "http://127.0.0.1:$port" --access-key "$BENCH_AK" --secret-key "$BENCH_SK" \
        --bucket "$1" --sse kms --size 1 --count "$2" --concurrency 32 --keep 2>&1 \
        | grep -E "^(PUT|GET) " >&2
}
if [ "$filled" = no ]; then
    fill big "$objects"
    [ "$extra" -gt 0 ] && fill more "$extra"
    touch "$work/filled"
fi
base="http://127.0.0.1:$port/console"
cookie=$(curl -s -i -X POST --data-urlencode "access_key=$BENCH_AK" --data-urlencode "secret_key=$BENCH_SK" \
    "$base/sign-in" | sed -n 's/^set-cookie: \(coffer_console=[0-9a-f]*\);.*/\1/p')
[ -n "$cookie" ] || { echo "sign-in failed" >&2; exit 1; }
# The median of 7 loads (after one to warm), in milliseconds.
measure() { # label path
    curl -s -o /dev/null -b "$cookie" "$base$2"
    local out status ms times=()
    for _ in $(seq 1 7); do
        out=$(curl -s -o "$work/page" -w '%{http_code} %{time_total}' -b "$cookie" "$base$2")
        read -r status ms <<<"$out"
        [ "$status" = 200 ] || { echo "$1: HTTP $status" >&2; exit 1; }
        times+=("$(awk -v s="$ms" 'BEGIN { printf "%.0f", s * 1000 }')")
    done
    sorted=($(printf '%s\n' "${times[@]}" | sort -n))
    echo "$1: median ${sorted[3]} ms (min ${sorted[0]}, max ${sorted[6]}) over 7 loads"
}
# coffer-bench names its objects bench/<size>/<n>: the bucket's root is one folder, and the
# first page of the objects themselves is under it.
measure "objects, first page of $objects" "/objects/big?prefix=bench%2F1%2F"
measure "objects, the bucket's root (one folder over $objects keys)" "/objects/big"
measure "audit timeline over $((2 * (objects + extra))) records" "/audit"
measure "audit timeline filtered by user" "/audit?user=bench"
measure "audit timeline filtered by event (Decrypt)" "/audit?event_name=Decrypt"
# Once: it counts every record of the last day (all of them, here).
curl -s -o /dev/null -b "$cookie" -w "audit chart over the last day: %{http_code} in %{time_total} s\n" \
    "$base/audit/chart.svg"
measure "bucket page (counts all objects)" "/buckets/big"
