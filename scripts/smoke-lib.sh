# Shared by the smoke scripts (sourced, not run): a coffer server on ephemeral loopback
# ports with one admin user, removed on exit, and `step NAME CMD...` that counts passes and
# failures. After `start_smoke_server COFFER [EXTRA-TOML-LINES]`: $work (a scratch
# directory), $http and $https (host:port), $ca (the generated certificate), and the user's
# keys in $SMOKE_ACCESS_KEY and $SMOKE_SECRET_KEY.

SMOKE_ACCESS_KEY=AKIASMOKETEST0000001
SMOKE_SECRET_KEY=smoke-secret-0000000000000000000000000001

work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

start_smoke_server() {
    local coffer=$1 extra=${2:-}
    cat > "$work/coffer.toml" <<TOML
data_dir = "$work/data"
$extra
[[users]]
name = "smoke"
access_key = "$SMOKE_ACCESS_KEY"
secret_key = "$SMOKE_SECRET_KEY"
admin = true
TOML
    "$coffer" serve --config "$work/coffer.toml" --http 127.0.0.1:0 --https 127.0.0.1:0 \
        >"$work/stdout" 2>"$work/stderr" &
    server_pid=$!
    disown
    for _ in $(seq 1 100); do
        grep -q '^coffer ready' "$work/stdout" 2>/dev/null && break
        sleep 0.1
    done
    local ready
    ready=$(grep '^coffer ready' "$work/stdout") || { echo "server did not start"; cat "$work/stderr"; exit 1; }
    http=$(sed -n 's/.*http=\([^ ]*\).*/\1/p' <<<"$ready")
    https=$(sed -n 's/.*https=\([^ ]*\).*/\1/p' <<<"$ready")
    ca="$work/data/tls/cert.pem"
}

passed=0
failed=0
step() {
    local name=$1
    shift
    if out=$("$@" 2>&1); then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        sed 's/^/     /' <<<"$out" | head -20
    fi
}
