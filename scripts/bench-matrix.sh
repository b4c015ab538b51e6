#!/usr/bin/env bash
# HTTP against HTTPS, in each SSE mode, for large and small objects, over HTTP/1.1 and
# HTTP/2, in one sitting against one release server: the table of the TLS speed goals.
#
#   large: 64 MiB x 8 objects at 4 in flight;  small: 4 KiB x 2000 objects at 16 in flight
#   h1: HTTP/1.1 over plain HTTP and over TLS;  h2: HTTP/2 prior knowledge (h2c) and over TLS
#
# Each cell is coffer-bench's figure (MiB/s for large, ops/s for small); "tls/plain" is the
# HTTPS figure over the plain one; "cpu s/GiB" is the server's CPU per GiB moved (from its
# /metrics), plain then TLS. SSE-C runs over plain HTTP too, with --allow-sse-c-over-http
# (loopback only), so that the two transports are compared in every mode.
#
# A second table divides the SSE-KMS small-object figures by the SSE-S3 ones of the same
# sitting (the SSE-KMS goal), beside how long each SSE-KMS request's audit record waited for
# the disk on average (coffer-bench's "audit: ... wait="), which that request waits too.
#
# Usage: scripts/bench-matrix.sh [DIR-WITH-coffer-AND-coffer-bench]   (default target/release)
set -eu
bin=${1:-target/release}
. "$(dirname "$0")/bench-lib.sh"
BENCH_WORK=$(mktemp -d /var/tmp/coffer-matrix.XXXXXX)
trap bench_cleanup EXIT
bench_config "$BENCH_WORK/c.toml" "$BENCH_WORK/data" "block_sse_c_on_new_buckets = false"
bench_serve coffer "$bin" "$BENCH_WORK/c.toml" --http 127.0.0.1:19991 --https 127.0.0.1:19992 \
    --allow-sse-c-over-http
ca="$BENCH_WORK/data/tls/cert.pem"

run=0
# Every figure, by "mode size op transport" (transport: http-h1, https-h1, http-h2, https-h2),
# and each SSE-KMS cell's mean audit wait in ms, for the second table.
declare -A figure wait
# bench MODE SIZE COUNT CONCURRENCY TRANSPORT -> "PUT-figure PUT-cpu PUT-wait GET-figure
# GET-cpu GET-wait" (a wait is "-" for a phase that wrote no audit record)
bench() {
    run=$((run + 1))
    local endpoint=http://127.0.0.1:19991 extra=()
    case $5 in
        https-h1) endpoint=https://127.0.0.1:19992 extra=(--ca-bundle "$ca") ;;
        https-h2) endpoint=https://127.0.0.1:19992 extra=(--ca-bundle "$ca" --http2) ;;
        http-h2) extra=(--http2) ;;
    esac
    "$bin/coffer-bench" --endpoint "$endpoint" --access-key "$BENCH_AK" \
        --secret-key "$BENCH_SK" --bucket "matrix-$run" \
        --sse "$1" --size "$2" --count "$3" --concurrency "$4" "${extra[@]}" 2>/dev/null |
        awk -v large="$([ "$2" = 64MiB ] && echo 1 || echo 0)" '
            $1 == "PUT" || $1 == "GET" {
                fig = "-"; cpu = "-"; wait = "-"
                for (i = 1; i <= NF; i++) {
                    if (large == 1 && $(i + 1) == "MiB/s") fig = sprintf("%.0f", $i)
                    if (large == 0 && $(i + 1) == "ops/s") fig = sprintf("%.0f", $i)
                    if ($i ~ /^\(/ && $(i + 1) == "s/GiB)") cpu = substr($i, 2)
                    if ($i ~ /^wait=/) { wait = substr($i, 6); sub(/ms$/, "", wait) }
                }
                out = out fig " " cpu " " wait " "
            }
            END { print out }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "-") printf "%.2f", b / a; else printf "-" }'; }

printf "| mode | size | op | proto | plain | TLS | TLS/plain | cpu s/GiB plain | cpu s/GiB TLS |\n"
printf "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n"
for mode in s3 kms c; do
    for shape in "64MiB 8 4" "4KiB 2000 16"; do
        set -- $shape
        for proto in h1 h2; do
            read -r pp pc pw gp gc gw <<<"$(bench $mode $1 $2 $3 http-$proto)"
            read -r tp tc tw tg tgc tgw <<<"$(bench $mode $1 $2 $3 https-$proto)"
            figure["$mode $1 PUT http-$proto"]=$pp figure["$mode $1 GET http-$proto"]=$gp
            figure["$mode $1 PUT https-$proto"]=$tp figure["$mode $1 GET https-$proto"]=$tg
            wait["$mode $1 PUT http-$proto"]=$pw wait["$mode $1 GET http-$proto"]=$gw
            wait["$mode $1 PUT https-$proto"]=$tw wait["$mode $1 GET https-$proto"]=$tgw
            printf "| %s | %s | PUT | %s | %s | %s | %s | %s | %s |\n" $mode $1 $proto "$pp" "$tp" "$(ratio "$pp" "$tp")" "$pc" "$tc"
            printf "| %s | %s | GET | %s | %s | %s | %s | %s | %s |\n" $mode $1 $proto "$gp" "$tg" "$(ratio "$gp" "$tg")" "$gc" "$tgc"
        done
    done
done

printf "\n| op | transport | SSE-S3 ops/s | SSE-KMS ops/s | KMS/S3 | KMS audit wait ms |\n"
printf "| --- | --- | ---: | ---: | ---: | ---: |\n"
for op in PUT GET; do
    for transport in http-h1 https-h1 http-h2 https-h2; do
        s3=${figure["s3 4KiB $op $transport"]} kms=${figure["kms 4KiB $op $transport"]}
        printf "| %s | %s | %s | %s | %s | %s |\n" $op $transport "$s3" "$kms" \
            "$(ratio "$s3" "$kms")" "${wait["kms 4KiB $op $transport"]}"
    done
done
