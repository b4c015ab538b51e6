#!/usr/bin/env bash
# Two Coffer gateways on this machine over one PostgreSQL and one S3 store (Ceph RGW from
# Debian's packages, started by the project's own service scripts), sharing one root key.
#
#   deploy/two-gateways/run.sh [COFFER_BINARY]
#
# Gateway a serves http://127.0.0.1:9101, gateway b http://127.0.0.1:9102; put haproxy.cfg
# (or any TCP or HTTP balancer) in front. Ctrl-C stops both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
coffer=${1:-$repo/target/release/coffer}
work=${DEPLOY_DIR:-/var/tmp/coffer-two-gateways}
mkdir -p -m 700 "$work"

# PostgreSQL and the S3 store (skip this with your own: set the variables it prints).
env_file=$("$repo/scripts/services/start-all.sh" | sed -n 's/^SERVICES_ENV=//p')
# shellcheck disable=SC1090
. "$env_file"

# One root key for every gateway, from a file only its owner reads (a mounted secret in
# production; COFFER_ROOT_KEY or COFFER_ROOT_KEY_COMMAND work as well).
key="$work/root.key"
if [ ! -f "$key" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 > "$key")
fi

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
for g in a:9101 b:9102; do
    name=${g%%:*} port=${g##*:}
    sed -e "s|@NAME@|$name|; s|@DIR@|$work|" \
        -e "s|@POSTGRES_URL@|$COFFER_TEST_POSTGRES_URL|" \
        -e "s|@S3_ENDPOINT@|$COFFER_TEST_S3_ENDPOINT|; s|@S3_BUCKET@|$COFFER_TEST_S3_BUCKET|" \
        "$here/gateway.toml.in" > "$work/$name.toml"
    COFFER_ROOT_KEY_FILE=$key \
    AWS_ACCESS_KEY_ID=$COFFER_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$COFFER_TEST_S3_SECRET_KEY \
        "$coffer" serve --config "$work/$name.toml" --http "127.0.0.1:$port" --https "" &
    pids+=($!)
done
wait -n
