#!/usr/bin/env bash
# The backends side by side in one sitting: coffer with its embedded defaults, with metadata
# on PostgreSQL and local blobs, and with metadata on PostgreSQL and blobs on the S3 store;
# then the S3 store itself, plain, through the same tool, as the yardstick for the last one.
#
# Usage: scripts/bench-backends.sh [BIN_DIR] [-- extra coffer-bench args]
#   BIN_DIR holds release builds of `coffer` and `coffer-bench` (default target/release).
#   Needs the COFFER_TEST_* variables of scripts/services/start-all.sh (PostgreSQL, the S3 store).
# BENCH_SIZES (default "64MiB:16:4 4KiB:5000:16", size:count:concurrency) and BENCH_MODES
# (default "s3 kms") narrow the matrix.
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
BENCH_WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/coffer-backends.XXXXXX")
run_id=b$$_$(date +%s)
# The servers stop right after their DELETE phases, before garbage collection removes the
# sealed blobs, so this run's prefix is swept from the store on the way out: repeated
# sittings would otherwise fill a test cluster (Ceph stops taking writes when its OSD is
# 95% full).
sweep_store() {
    bench_cleanup
    if command -v aws >/dev/null; then
        AWS_ACCESS_KEY_ID=$COFFER_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$COFFER_TEST_S3_SECRET_KEY \
            aws --endpoint-url "$COFFER_TEST_S3_ENDPOINT" s3 rm --recursive --quiet \
            "s3://$COFFER_TEST_S3_BUCKET/$run_id/" || echo "bench-backends: could not sweep $run_id/" >&2
    else
        echo "bench-backends: no aws CLI; blobs under $COFFER_TEST_S3_BUCKET/$run_id/ stay" >&2
    fi
}
trap sweep_store EXIT

# name port sections
start() {
    bench_config "$BENCH_WORK/$1.toml" "$BENCH_WORK/$1" "$3"
    AWS_ACCESS_KEY_ID=$COFFER_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$COFFER_TEST_S3_SECRET_KEY \
        bench_serve "$1" "$bin" "$BENCH_WORK/$1.toml" --http "127.0.0.1:$2" --https ""
}

schema() {
    psql "$COFFER_TEST_POSTGRES_URL" -q -c "CREATE SCHEMA $1" >/dev/null
    echo "$COFFER_TEST_POSTGRES_URL?options=-csearch_path%3D$1"
}

start embedded 19701 ""
start pg-local 19702 "[metadata]
backend = \"postgres\"
url = \"$(schema "${run_id}_local")\""
start pg-s3 19703 "[metadata]
backend = \"postgres\"
url = \"$(schema "${run_id}_s3")\"
[blobs]
backend = \"s3\"
endpoint = \"$COFFER_TEST_S3_ENDPOINT\"
bucket = \"$COFFER_TEST_S3_BUCKET\"
prefix = \"$run_id\""

bench() { # label endpoint access secret bucket sse size count concurrency
    "$bin/coffer-bench" --endpoint "$2" --access-key "$3" --secret-key "$4" --bucket "$5" \
        --sse "$6" --size "$7" --count "$8" --concurrency "$9" "${extra[@]}" 2>&1 \
        | grep -E "^(PUT|GET) " | sed "s/^/$1 sse=$6: /"
}
extra=("$@")
for spec in $sizes; do
    IFS=: read -r size count conc <<<"$spec"
    for mode in $modes; do
        bench embedded http://127.0.0.1:19701 "$BENCH_AK" "$BENCH_SK" bench-e "$mode" "$size" "$count" "$conc"
        bench pg-local http://127.0.0.1:19702 "$BENCH_AK" "$BENCH_SK" bench-l "$mode" "$size" "$count" "$conc"
        bench pg-s3 http://127.0.0.1:19703 "$BENCH_AK" "$BENCH_SK" bench-s "$mode" "$size" "$count" "$conc"
    done
    # The store alone, no encryption, its own bucket: what the S3 backend rides on.
    bench "s3-store-plain" "$COFFER_TEST_S3_ENDPOINT" "$COFFER_TEST_S3_ACCESS_KEY" \
        "$COFFER_TEST_S3_SECRET_KEY" "bench-plain-${run_id//_/-}" none "$size" "$count" "$conc"
done
