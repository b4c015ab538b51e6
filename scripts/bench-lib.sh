# Sourced by the bench scripts (bench-ab, bench-backends, bench-console, bench-gateways,
# bench-matrix, bench-threads, compare-s3s-fs, measure-memory): the bench user, a server's configuration,
# starting a server and waiting for its ready line, and cleaning up after them.
#
# A script sets BENCH_WORK to its scratch directory, then calls bench_config and bench_serve;
# `trap bench_cleanup EXIT` stops the servers it started and removes BENCH_WORK.

BENCH_AK=AKIABENCH00000000001
BENCH_SK=bench-secret-000000000000000000000000001
# Every server bench_serve started, and the newest of them.
BENCH_PIDS=()
BENCH_PID=

# bench_config FILE DATA_DIR [MORE_TOML]: a configuration with MORE_TOML (settings, then
# backend tables) and one user, the bench user, an admin (buckets, KMS keys). MORE_TOML goes
# before the user's table, so that its top-level settings stay top-level.
bench_config() {
    cat >"$1" <<T
data_dir = "$2"
${3:-}
[[users]]
name = "b"
access_key = "$BENCH_AK"
secret_key = "$BENCH_SK"
admin = true
T
}

# bench_serve NAME BIN_DIR CONFIG [SERVE_ARGS...]: starts BIN_DIR/coffer serve in the
# background, its output in $BENCH_WORK/NAME.out and NAME.err, and returns once it prints its
# ready line (both listeners accept) within BENCH_READY_TENTHS tenths of a second (300);
# exits the script, showing why, if it never does.
# SERVE_ARGS default to a plain-HTTP listener on 127.0.0.1:19960 and no HTTPS one.
bench_serve() {
    local name=$1 bin=$2 config=$3
    shift 3
    [ $# -gt 0 ] || set -- --http 127.0.0.1:19960 --https ""
    "$bin/coffer" serve --config "$config" "$@" >"$BENCH_WORK/$name.out" 2>"$BENCH_WORK/$name.err" &
    BENCH_PID=$!
    BENCH_PIDS+=("$BENCH_PID")
    # A cold start with a PostgreSQL schema to migrate or a store to reach takes a few
    # seconds; a restart over a large data directory walks it first (BENCH_READY_TENTHS).
    for _ in $(seq "${BENCH_READY_TENTHS:-300}"); do
        grep -q '^coffer ready' "$BENCH_WORK/$name.out" 2>/dev/null && return 0
        kill -0 "$BENCH_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "coffer ($name) did not start:" >&2
    cat "$BENCH_WORK/$name.err" >&2
    exit 1
}

# bench_cleanup: stops the servers and removes the scratch directory (an EXIT trap).
bench_cleanup() {
    [ ${#BENCH_PIDS[@]} -gt 0 ] && kill "${BENCH_PIDS[@]}" 2>/dev/null
    wait 2>/dev/null
    [ -n "${BENCH_WORK:-}" ] && rm -rf "$BENCH_WORK"
    return 0
}
