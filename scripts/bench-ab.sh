#!/usr/bin/env bash
# Compares two coffer builds on the same workload in one sitting: starts a server from each
# (fresh data directories, the same configuration), then runs coffer-bench against them in
# alternating rounds so that the machine's noise falls on both alike.
#
# Usage: scripts/bench-ab.sh OLD_DIR NEW_DIR ROUNDS -- COFFER-BENCH-ARGS...
#   OLD_DIR, NEW_DIR: directories holding a `coffer` binary (e.g. a release build of the
#   previous commit, and target/release). coffer-bench comes from NEW_DIR.
# Example: scripts/bench-ab.sh /tmp/old target/release 3 -- --sse kms --size 4KiB --count 2000 --concurrency 16
# AB_DIR (default /var/tmp) is where the data directories go: /dev/shm (tmpfs) takes the disk
# out (no fsync cost, no file-system allocator state left by earlier runs) to compare CPU.
# AB_KMS_LATENCY=1 also runs scripts/kms-latency.py against both (with $PYTHON, which needs
# botocore).
# AB_POSTGRES=URL keeps each server's metadata in a schema of its own in that database (as
# scripts/bench-backends.sh does), e.g. AB_POSTGRES=$COFFER_TEST_POSTGRES_URL.
set -eu
. "$(dirname "$0")/bench-lib.sh"
old=$1 new=$2 rounds=$3
shift 4
BENCH_WORK=$(mktemp -d "${AB_DIR:-/var/tmp}/coffer-ab.XXXXXX")
schemas=()
cleanup() {
    bench_cleanup
    for s in "${schemas[@]}"; do
        psql "$AB_POSTGRES" -q -c "DROP SCHEMA $s CASCADE" >/dev/null 2>&1
    done
}
trap cleanup EXIT
start() { # name dir port
    local more=
    if [ -n "${AB_POSTGRES:-}" ]; then
        # Named like bench-backends.sh's (`b<pid>_<secs>_...`), so postgres.sh drops it
        # once it is stale, even if this script is killed before it can.
        local schema=b$$_$(date +%s)_$1
        psql "$AB_POSTGRES" -q -c "CREATE SCHEMA $schema" >/dev/null
        schemas+=("$schema")
        more=$(printf '[metadata]\nbackend = "postgres"\nurl = "%s?options=-csearch_path%%3D%s"' \
            "$AB_POSTGRES" "$schema")
    fi
    bench_config "$BENCH_WORK/$1.toml" "$BENCH_WORK/$1" "$more"
    bench_serve "$1" "$2" "$BENCH_WORK/$1.toml" --http "127.0.0.1:$3" --https ""
}
start old "$old" 19981
start new "$new" 19982
for r in $(seq "$rounds"); do
    for side in old:19981 new:19982; do
        name=${side%%:*} port=${side##*:}
        "$new/coffer-bench" --endpoint "http://127.0.0.1:$port" \
            --access-key "$BENCH_AK" --secret-key "$BENCH_SK" \
            --bucket "ab-$r" "$@" 2>/dev/null | sed "s/^/round $r $name: /"
    done
done
if [ "${AB_KMS_LATENCY:-}" = 1 ]; then
    "${PYTHON:-python3}" "$(dirname "$0")/kms-latency.py" "$BENCH_AK" "$BENCH_SK" \
        http://127.0.0.1:19981 http://127.0.0.1:19982 | sed 's/19981/old/; s/19982/new/'
fi
