#!/usr/bin/env bash
# Soak test: 64 clients mix PUT/GET/HEAD/DELETE/LIST/multipart/copy in SSE-S3, SSE-KMS and
# SSE-C against a release server over HTTPS for DURATION seconds (`coffer-bench --workload
# soak` checks every answer byte for byte), while this script samples the server's resident
# memory and open descriptors every few seconds.
#
# Usage: scripts/soak.sh [DURATION-SECONDS] [DIR-WITH-coffer-AND-coffer-bench]
#   DURATION defaults to 600. Without a directory it builds both binaries in release mode.
#   SOAK_CONCURRENCY (64), SOAK_SAMPLE_EVERY (seconds, 5); SOAK_KEEP=1 keeps the work
#   directory (server logs, samples.tsv); SOAK_HTTP=1 uses plain HTTP/1.1 (SSE-C allowed
#   over loopback) instead of HTTPS, where the SDK speaks HTTP/2; SOAK_CONFIG replaces the
#   extra configuration lines (default: audit log files every 30 s and digests every 120 s
#   instead of 300 s and 3600 s, so that even a one-minute soak cuts and signs the trail
#   under load).
#
# It fails if any request failed or returned wrong data, if anything is left in the bucket,
# if the server died or panicked, or if the server's footprint grew under steady load:
#   warm-up is the first 20% of the run; "post-warm-up" is the highest sample in 20-40%,
#   "end" the highest in the last 20%. Flat means
#     RSS: end <= post-warm-up + max(25%, 32 MiB)
#     fds: end <= post-warm-up + max(16, half the clients)
#   and, once the clients are gone, fds <= start + 16 (no connection or file left open).
# The last line is "soak: N passed, M failed": N and M count the requests made plus the
# four checks above (RSS flat, fds flat, fds released, server alive without panics).
set -uo pipefail
cd "$(dirname "$0")/.."

duration=${1:-600}
bin=${2:-}
concurrency=${SOAK_CONCURRENCY:-64}
every=${SOAK_SAMPLE_EVERY:-5}
[[ $duration =~ ^[0-9]+$ ]] && [ "$duration" -ge 10 ] || {
    echo "soak: DURATION must be a number of seconds >= 10"
    exit 2
}

if [ -z "$bin" ]; then
    cargo build --release --locked -p coffer -p coffer-bench || exit 1
    bin=${CARGO_TARGET_DIR:-target}/release
fi

work=$(mktemp -d /var/tmp/coffer-soak.XXXXXX)
server_pid=
sampler_pid=
cleanup() {
    [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
    [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
    if [ "${SOAK_KEEP:-0}" = 1 ]; then echo "soak: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

access=AKIASOAKTEST00000001
secret=soak-secret-00000000000000000000000000001
extra_config=${SOAK_CONFIG-"audit_log_file_seconds = 30
audit_digest_seconds = 120"}
cat >"$work/coffer.toml" <<TOML
$extra_config
data_dir = "$work/data"
[[users]]
name = "soak"
access_key = "$access"
secret_key = "$secret"
admin = true
TOML

plain=()
[ "${SOAK_HTTP:-0}" = 1 ] && plain=(--allow-sse-c-over-http)
"$bin/coffer" serve --config "$work/coffer.toml" --http 127.0.0.1:0 --https 127.0.0.1:0 \
    "${plain[@]}" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
disown
for _ in $(seq 1 200); do
    grep -q '^coffer ready' "$work/server.out" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
ready=$(grep '^coffer ready' "$work/server.out") || {
    echo "soak: the server did not start"
    tail -20 "$work/server.err"
    echo "soak: 0 passed, 1 failed"
    exit 1
}
if [ "${SOAK_HTTP:-0}" = 1 ]; then
    endpoint=(--endpoint "http://$(sed -n 's/.*http=\([^ ]*\) .*/\1/p' <<<"$ready")")
else
    endpoint=(--endpoint "https://$(sed -n 's/.*https=\([^ ]*\).*/\1/p' <<<"$ready")"
        --ca-bundle "$work/data/tls/cert.pem")
fi

# One line per sample: seconds since the load started, VmRSS in KiB, open descriptors.
sample() {
    local rss fds
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status" 2>/dev/null) || return 1
    fds=$(ls "/proc/$server_pid/fd" 2>/dev/null | wc -l)
    echo "$1 $rss $fds"
}
start_time=$(date +%s)
sample 0 >"$work/start.tsv"
(
    while kill -0 "$server_pid" 2>/dev/null; do
        sample $(($(date +%s) - start_time)) || break
        sleep "$every"
    done
) >"$work/samples.tsv" &
sampler_pid=$!

echo "soak: ${duration}s, $concurrency clients, server pid $server_pid, ${endpoint[1]}"
# HTTP/2, as the SDK's default client negotiated it before coffer-bench chose its protocol.
"$bin/coffer-bench" --workload soak --duration "${duration}s" --concurrency "$concurrency" \
    --http2 "${endpoint[@]}" --access-key "$access" --secret-key "$secret" --bucket soak | tee "$work/bench.out"
bench_status=${PIPESTATUS[0]}
load_seconds=$(($(date +%s) - start_time))

# Once the clients are gone their connections close; give the server a moment to notice.
sleep 3
kill "$sampler_pid" 2>/dev/null
wait "$sampler_pid" 2>/dev/null
sampler_pid=
after=$(sample "$load_seconds") || after=""

passed=0
failed=0
check() { # check NAME CONDITION-TEXT COMMAND...
    local name=$1 detail=$2
    shift 2
    if "$@"; then
        passed=$((passed + 1))
        echo "soak check ok   $name ($detail)"
    else
        failed=$((failed + 1))
        echo "soak check FAIL $name ($detail)"
    fi
}

# Requests: what coffer-bench counted; no summary line means it crashed.
if total=$(grep '^soak total ' "$work/bench.out"); then
    passed=$((passed + $(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$total")))
    failed=$((failed + $(sed -n 's/.* failed=\([0-9]*\).*/\1/p' <<<"$total")))
fi
if [ "$bench_status" -ne 0 ] && ! grep -q '^soak total .* failed=[1-9]' "$work/bench.out"; then
    failed=$((failed + 1)) # a crash, a setup error or leftovers: not counted as a request
    echo "soak check FAIL coffer-bench exited with status $bench_status"
fi

# Footprint: the highest sample in a window of the run, by column (2 = RSS, 3 = fds).
window_max() { # window_max COLUMN FROM-SECONDS TO-SECONDS
    awk -v c="$1" -v a="$2" -v b="$3" '$1 >= a && $1 <= b && $c > m {m = $c} END {print m + 0}' \
        "$work/samples.tsv"
}
read -r _ rss_start fds_start <"$work/start.tsv"
warm=$((duration / 5))
rss_base=$(window_max 2 "$warm" $((2 * duration / 5)))
fds_base=$(window_max 3 "$warm" $((2 * duration / 5)))
rss_end=$(window_max 2 $((duration - duration / 5)) "$duration")
fds_end=$(window_max 3 $((duration - duration / 5)) "$duration")
rss_peak=$(window_max 2 0 999999)
fds_peak=$(window_max 3 0 999999)
read -r _ rss_after fds_after <<<"${after:-x 0 0}"
rss_limit=$((rss_base + (rss_base / 4 > 32768 ? rss_base / 4 : 32768)))
# A window's highest descriptor count moves with how many connections the clients hold at
# that sample (over HTTP/2 the SDK opens more when its streams are busy): one CI dry run saw
# 52 after warm-up and a single sample of 71 at the end, every one released after the load
# (15 = start). Half the clients' worth of slack keeps that from failing the run; a leak
# still shows in the "fds released" check and in the 10-minute run.
fds_slack=$((concurrency / 2 > 16 ? concurrency / 2 : 16))
fds_limit=$((fds_base + fds_slack))
mib() { awk -v k="$1" 'BEGIN {printf "%.1fMiB", k / 1024}'; }
echo "soak rss start=$(mib "$rss_start") post-warm-up=$(mib "$rss_base") end=$(mib "$rss_end") peak=$(mib "$rss_peak") after-load=$(mib "$rss_after") samples=$(wc -l <"$work/samples.tsv") every=${every}s"
echo "soak fds start=$fds_start post-warm-up=$fds_base end=$fds_end peak=$fds_peak after-load=$fds_after"
echo "soak data dir $(du -sh "$work/data" | cut -f1) after the run"

alive() { kill -0 "$server_pid" 2>/dev/null && ! grep -qi 'panick' "$work/server.err"; }
check "RSS flat" "end $(mib "$rss_end") <= $(mib "$rss_limit")" test "$rss_end" -gt 0 -a "$rss_end" -le "$rss_limit"
check "fds flat" "end $fds_end <= $fds_limit" test "$fds_end" -gt 0 -a "$fds_end" -le "$fds_limit"
check "fds released" "after load $fds_after <= start $fds_start + 16" test "$fds_after" -gt 0 -a "$fds_after" -le $((fds_start + 16))
check "server alive, no panic" "pid $server_pid" alive

echo "soak: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
