#!/usr/bin/env bash
# One gateway against two, in one sitting, over one PostgreSQL schema and one S3 store prefix:
# the same coffer-bench run through gateway a alone, then spread over a and b (each object
# written through one and read and deleted through the other). On a 2-core machine the
# figure shows what a second gateway costs, not what it adds: both share the same cores.
#
# Usage: scripts/bench-gateways.sh [BIN_DIR] [-- extra coffer-bench args]
#   BIN_DIR holds release builds of `coffer` and `coffer-bench` (default target/release).
#   Needs the COFFER_TEST_* variables of scripts/services/start-all.sh.
# BENCH_SIZES (default "64MiB:16:4 4KiB:5000:16") and BENCH_MODES (default "s3 kms").
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
bin=${1:-target/release}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
: "${COFFER_TEST_POSTGRES_URL:?source the env file scripts/services/start-all.sh prints}"
: "${COFFER_TEST_S3_ENDPOINT:?source the env file scripts/services/start-all.sh prints}"
sizes=${BENCH_SIZES:-"64MiB:16:4 4KiB:5000:16"}
modes=${BENCH_MODES:-"s3 kms"}
BENCH_WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/coffer-gateways.XXXXXX")
trap bench_cleanup EXIT
run_id=g$$_$(date +%s)
psql "$COFFER_TEST_POSTGRES_URL" -q -c "CREATE SCHEMA $run_id" >/dev/null
url="$COFFER_TEST_POSTGRES_URL?options=-csearch_path%3D$run_id"
(umask 077 && head -c 32 /dev/urandom | base64 > "$BENCH_WORK/root.key")

start() { # name port
    bench_config "$BENCH_WORK/$1.toml" "$BENCH_WORK/$1" "[metadata]
backend = \"postgres\"
url = \"$url\"
[blobs]
backend = \"s3\"
endpoint = \"$COFFER_TEST_S3_ENDPOINT\"
bucket = \"$COFFER_TEST_S3_BUCKET\"
prefix = \"$run_id\""
    COFFER_ROOT_KEY_FILE=$BENCH_WORK/root.key \
    AWS_ACCESS_KEY_ID=$COFFER_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$COFFER_TEST_S3_SECRET_KEY \
        bench_serve "$1" "$bin" "$BENCH_WORK/$1.toml" --http "127.0.0.1:$2" --https ""
}
start a 19711
start b 19712

bench() { # label endpoints sse size count concurrency
    "$bin/coffer-bench" --endpoint "$2" --access-key "$BENCH_AK" --secret-key "$BENCH_SK" --bucket "bench-$1" \
        --sse "$3" --size "$4" --count "$5" --concurrency "$6" "${extra[@]}" 2>&1 \
        | grep -E "^(PUT|GET) " | sed "s/^/$1 sse=$3: /"
}
extra=("$@")
for spec in $sizes; do
    IFS=: read -r size count conc <<<"$spec"
    for mode in $modes; do
        bench one-gateway http://127.0.0.1:19711 "$mode" "$size" "$count" "$conc"
        bench two-gateways http://127.0.0.1:19711,http://127.0.0.1:19712 "$mode" "$size" "$count" "$conc"
    done
done
