#!/usr/bin/env bash
# Smoke test with rclone: starts a coffer server on ephemeral loopback ports and drives
# rclone's s3 backend against it over HTTPS (trusting the generated certificate), with each
# server-side encryption mode: copy, check, ranged cat, and no protocol error in its log.
# Usage: scripts/smoke-rclone.sh PATH/TO/coffer
# Installs Debian's rclone with apt-get when it is missing and that is possible.
# Ends with the line "N passed, M failed"; exits non-zero if anything failed.
set -uo pipefail

coffer=${1:?usage: smoke-rclone.sh PATH/TO/coffer}
if ! command -v rclone >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing rclone (apt-get)"
        apt-get install -y -qq rclone >/dev/null || { apt-get update -qq && apt-get install -y -qq rclone >/dev/null; }
    fi
    command -v rclone >/dev/null || { echo "rclone is not installed (apt-get install rclone)"; exit 1; }
fi

source "$(dirname "$0")/smoke-lib.sh"
# SSE-C is tried too, so new buckets do not block it here (AWS's pre-2026 default).
start_smoke_server "$coffer" "block_sse_c_on_new_buckets = false"

# The remote, from the environment: no rclone.conf is read or written. AWS_CA_BUNDLE makes
# rclone's AWS SDK fail ("HTTPClient's transport unsupported type"); --ca-cert is rclone's way.
unset AWS_CA_BUNDLE
export RCLONE_CONFIG="$work/rclone.conf"
: >"$RCLONE_CONFIG"
export RCLONE_CONFIG_COFFER_TYPE=s3
export RCLONE_CONFIG_COFFER_PROVIDER=Other
export RCLONE_CONFIG_COFFER_ACCESS_KEY_ID=$SMOKE_ACCESS_KEY
export RCLONE_CONFIG_COFFER_SECRET_ACCESS_KEY=$SMOKE_SECRET_KEY
export RCLONE_CONFIG_COFFER_REGION=us-east-1
export RCLONE_CONFIG_COFFER_ENDPOINT="https://localhost:${https##*:}"
export RCLONE_CONFIG_COFFER_FORCE_PATH_STYLE=true
log="$work/rclone.log"
# Parts of 5 MiB past 5 MiB, so large.bin goes up as a multipart upload.
rc=(rclone --ca-cert "$ca" -vv --log-file "$log" --retries 1 --low-level-retries 1
    --s3-upload-cutoff 5M --s3-chunk-size 5M)

mkdir -p "$work/src/sub"
head -c 1048576 /dev/urandom >"$work/src/small.bin"
head -c 23068672 /dev/urandom >"$work/src/large.bin" # 22 MiB: rclone uploads it in parts
echo one >"$work/src/sub/a.txt"
# A byte range inside the second 64 KiB segment of small.bin, as `cat --offset --count` asks.
head -c $((70000 + 5000)) "$work/src/small.bin" | tail -c 5000 >"$work/range.expected"

# A KMS key for SSE-KMS, created through the KMS API with the AWS CLI when it is there;
# otherwise SSE-KMS uses the aws/s3 managed key.
kms_key=
if command -v aws >/dev/null; then
    kms_key=$(AWS_ACCESS_KEY_ID=$SMOKE_ACCESS_KEY \
        AWS_SECRET_ACCESS_KEY=$SMOKE_SECRET_KEY \
        AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
        aws --endpoint-url "http://$http" kms create-key --description rclone \
        --query KeyMetadata.KeyId --output text 2>/dev/null) || kms_key=
fi
customer_key=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n') # 32 characters

step "rclone mkdir" "${rc[@]}" mkdir coffer:rclone
for mode in s3 kms c; do
    case $mode in
        s3) sse=(--s3-server-side-encryption AES256) ;;
        kms) sse=(--s3-server-side-encryption aws:kms ${kms_key:+--s3-sse-kms-key-id "$kms_key"}) ;;
        c) sse=(--s3-sse-customer-algorithm AES256 --s3-sse-customer-key "$customer_key") ;;
    esac
    dest="coffer:rclone/$mode"
    step "sse-$mode: copy (single PUT and multipart)" "${rc[@]}" "${sse[@]}" copy "$work/src" "$dest"
    step "sse-$mode: check (sizes, and hashes where S3 gives them)" "${rc[@]}" "${sse[@]}" check "$work/src" "$dest"
    step "sse-$mode: download, same bytes" bash -c "$(printf '%q ' "${rc[@]}" "${sse[@]}") copy '$dest' '$work/back-$mode' && diff -r '$work/src' '$work/back-$mode'"
    step "sse-$mode: cat --offset --count" bash -c "$(printf '%q ' "${rc[@]}" "${sse[@]}") cat --offset 70000 --count 5000 '$dest/small.bin' | cmp - '$work/range.expected'"
done
if command -v aws >/dev/null; then
    awsc=(env AWS_ACCESS_KEY_ID=$SMOKE_ACCESS_KEY
        AWS_SECRET_ACCESS_KEY=$SMOKE_SECRET_KEY AWS_DEFAULT_REGION=us-east-1
        AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
        aws --endpoint-url "http://$http" s3api head-object --bucket rclone)
    step "stored as SSE-S3" bash -c "$(printf '%q ' "${awsc[@]}") --key s3/large.bin --query ServerSideEncryption --output text | grep -qx AES256"
    step "stored as SSE-KMS${kms_key:+ under the named key}" bash -c "$(printf '%q ' "${awsc[@]}") --key kms/large.bin --query '[ServerSideEncryption,SSEKMSKeyId]' --output text | grep -q 'aws:kms.*key/${kms_key}'"
fi
step "sse-c objects unreadable without their key" bash -c "! rclone --ca-cert '$ca' --retries 1 --low-level-retries 1 cat coffer:rclone/c/sub 2>'$work/nokey.err' && grep -q InvalidRequest '$work/nokey.err'"
step "rclone purge" "${rc[@]}" purge coffer:rclone
# rclone talks HTTP/2 to Coffer over TLS: no stream or connection error may appear.
step "no protocol error (nor any error) in rclone's log" bash -c "! grep -E 'PROTOCOL_ERROR|received DATA|stream error|GOAWAY|INTERNAL_ERROR|unexpected EOF|connection reset| ERROR : ' '$log'"
step "large.bin went up in parts" grep -q 'multipart upload' "$log"
step "rclone used HTTP/2 over TLS" bash -c "rclone --ca-cert '$ca' --dump headers lsd coffer: 2>&1 | grep -q 'HTTP/2.0 200'"
if [ "$failed" -ne 0 ]; then
    echo "--- last lines of rclone's log"
    grep -E 'ERROR|error' "$log" | tail -20
fi
echo "smoke-rclone: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
