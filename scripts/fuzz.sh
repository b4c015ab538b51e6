#!/usr/bin/env bash
# Builds every fuzz target in fuzz/ (cargo fuzz, stable toolchain, libFuzzer without a
# sanitizer: our crates forbid unsafe code) and runs each for a bounded time, starting from
# its committed seed corpus, fuzz/corpus/<target>/. Prints each target's executions; exits
# non-zero if any target crashed, failed an assertion or hung, keeping the input that did it
# in fuzz/artifacts/<target>/ (replay: scripts/fuzz.sh --replay FILE).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
#        FUZZ_JOBS=2 runs two targets at a time (one by default: the machine is shared).
#        FUZZ_TARGETS="policy sigv4" runs only those.
#        FUZZ_GROW_CORPUS=1 merges into fuzz/corpus/<target>/ the new inputs that reach code
#        the corpus did not (libFuzzer's -merge=1); otherwise they are left in a scratch folder.
# Needs cargo-fuzz on PATH (scripts/ci-fuzz.sh installs it from crates.io).
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/fuzz}
bins="$target_dir/x86_64-unknown-linux-gnu/release"
build() { cargo fuzz build -s none --target-dir "$target_dir" "$@"; }

if [ "${1:-}" = "--replay" ]; then
    file=${2:?usage: scripts/fuzz.sh --replay fuzz/artifacts/TARGET/crash-...}
    target=$(basename "$(dirname "$file")")
    build "$target"
    exec "$bins/$target" "$file"
fi

seconds=${1:-60}
jobs=${FUZZ_JOBS:-1}
targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
started=$(date +%s)
build
echo "fuzz: built in $(($(date +%s) - started)) s; $seconds s per target, $jobs at a time"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

run_one() {
    local t=$1
    mkdir -p "$scratch/$t" "fuzz/artifacts/$t"
    # -timeout: one input running 10 s is a hang, reported like a crash.
    # -rss_limit_mb: one input needing 2 GiB is a failure too.
    "$bins/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" \
        "$scratch/$t" "fuzz/corpus/$t" >"$scratch/$t.log" 2>&1 || return
    if [ -n "${FUZZ_GROW_CORPUS:-}" ]; then
        "$bins/$t" -merge=1 "fuzz/corpus/$t" "$scratch/$t" >"$scratch/$t.merge.log" 2>&1
    fi
}

failed=()
running=0
for t in $targets; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    (run_one "$t" && touch "$scratch/$t.ok") &
    running=$((running + 1))
done
wait || true

printf '%-16s %12s %8s %10s  %s\n' target executions seconds exec/s result
for t in $targets; do
    log="$scratch/$t.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    if [ -z "$execs" ]; then
        execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    fi
    result=ok
    if [ ! -e "$scratch/$t.ok" ]; then
        result="FAILED (input kept in fuzz/artifacts/$t/)"
        failed+=("$t")
    fi
    rate=-
    [ -n "$secs" ] && [ "$secs" -gt 0 ] && rate=$((${execs:-0} / secs))
    printf '%-16s %12s %8s %10s  %s\n' "$t" "${execs:-?}" "${secs:-?}" "$rate" "$result"
done
for t in "${failed[@]}"; do
    echo "---- $t: the end of its log"
    grep -v '^#' "$scratch/$t.log" | tail -40
done
echo "fuzz: $(($(date +%s) - started)) s in all"
count=$(wc -w <<<"$targets")
echo "fuzz: $((count - ${#failed[@]})) passed, ${#failed[@]} failed"
[ "${#failed[@]}" -eq 0 ]
