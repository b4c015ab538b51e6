#!/usr/bin/env bash
# Start a PostgreSQL server for the integration tests: Debian's own packages, a cluster of
# its own under /var/tmp/coffer-pg (not Debian's "main" cluster, so the machine's setup is not
# touched), listening on 127.0.0.1:25432 only.
#
#   scripts/services/postgres.sh [start]   install if missing, init if missing, start if stopped;
#                                          prints COFFER_TEST_POSTGRES_URL=... on stdout
#   scripts/services/postgres.sh stop      stop the server (the data is kept)
#   scripts/services/postgres.sh purge     stop and delete the data directory
#
# Auth: the tests log in over TCP as role `coffer` with a fixed password (scram-sha-256), the
# same way a deployment would; the unix socket takes only the `postgres` OS user (peer), which
# this script uses for setup. The password is not a secret: the server listens on loopback
# only and holds nothing but test data.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PG_BASE=${COFFER_PG_DIR:-/var/tmp/coffer-pg}
PG_DATA=$PG_BASE/data
# Below Linux's ephemeral ports (32768-60999): while the server is down, a client retrying
# 127.0.0.1:55432 was once handed 55432 as its own port and connected to itself, and the
# server could not bind the port again until that socket's TIME_WAIT ran out (a minute).
PG_PORT=${COFFER_PG_PORT:-25432}
PG_USER=coffer
PG_PASSWORD=coffer-test-password
PG_DB=coffer
URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"

# The newest Debian server build, >= 15. Named by full path because the PATH may hold other
# builds (this machine has /usr/local/bin/pg_ctl), whose major version need not match the
# data directory's.
find_bindir() {
    local d v best=
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] || continue
        v=$(basename "$(dirname "$d")")
        [ "${v%%.*}" -ge 15 ] 2>/dev/null || continue
        if [ -z "$best" ] || [ "${v%%.*}" -gt "$(basename "$(dirname "$best")")" ]; then best=$d; fi
    done
    echo "$best"
}

# Run a command as the postgres OS user: initdb and the server refuse to run as root. From /,
# since the caller's directory (e.g. /root/...) may be closed to that user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        [ "$(id -un)" = postgres ] || die "run as root (or as the postgres user)"
        "$@"
    fi
}

BIN=$(find_bindir)

# The postmaster's pid, from the first line of its lock file.
postmaster_pid() {
    head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null
}

# Not `pg_ctl status` alone: it trusts kill -0, which also succeeds on a killed postmaster
# that is still a zombie, and then nothing would start a new one.
running() {
    local pid
    [ -n "$BIN" ] && [ -f "$PG_DATA/PG_VERSION" ] || return 1
    pid=$(postmaster_pid) && [ -n "$pid" ] && proc_alive "$pid" || return 1
    as_pg "$BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

# psql as the superuser over the unix socket in $PG_BASE (the server's socket lives there, not
# in /var/run/postgresql, which only exists once Debian's own service has run).
psql_admin() {
    as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_BASE" -p "$PG_PORT" -d postgres "$@"
}

cmd_stop() {
    if running; then
        # fast: roll back open transactions and stop now; -t bounds the wait.
        as_pg "$BIN/pg_ctl" -D "$PG_DATA" -m fast -t 60 stop >/dev/null || die "pg_ctl stop failed"
        note "stopped"
    else
        note "not running"
    fi
    env_unset COFFER_TEST_POSTGRES_URL
    env_unset COFFER_TEST_POSTGRES_TLS_URL
    env_unset COFFER_TEST_POSTGRES_TLS_CA
}

cmd_start() {
    start_deadline 120
    if [ -z "$BIN" ]; then
        # `postgresql` is Debian's metapackage for its current major version (15 on Debian 12).
        apt_install postgresql
        BIN=$(find_bindir)
        [ -n "$BIN" ] || die "postgresql installed but no /usr/lib/postgresql/<15+>/bin/initdb found"
    fi
    id postgres >/dev/null 2>&1 || die "no postgres OS user (it comes with Debian's postgresql-common)"

    if ! running; then
        # A data directory left half-made by an interrupted initdb has no PG_VERSION: start over.
        if [ ! -f "$PG_DATA/PG_VERSION" ]; then
            rm -rf "$PG_DATA"
            mkdir -p "$PG_BASE"
            chown postgres: "$PG_BASE"
            note "initdb $PG_DATA ($("$BIN/postgres" --version))"
            as_pg "$BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=peer \
                --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_BASE/initdb.log" 2>&1 \
                || die "initdb failed, see $PG_BASE/initdb.log"
            # Appended settings win over initdb's defaults. fsync stays on (the default) and
            # is said so: the tests check durability claims, which fsync=off would void.
            cat >>"$PG_DATA/postgresql.conf" <<CONF

# coffer test server (scripts/services/postgres.sh)
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_BASE'
fsync = on
synchronous_commit = on
max_connections = 100
shared_buffers = 128MB
logging_collector = off
CONF
            tls_setup
        fi
        # A postmaster that was killed but not yet reaped still holds its lock file in the
        # server's eyes (kill -0 succeeds on a zombie), and the new one would refuse to start.
        # Give init some seconds to reap it; if it does not, drop the lock file: the zombie is
        # dead, and the server still refuses to start while any old backend is attached to
        # the old shared memory, which is the check that protects the data.
        local old
        old=$(postmaster_pid) || true
        if [ -n "$old" ] && [ -e "/proc/$old" ] && ! proc_alive "$old"; then
            for _ in $(seq 1 20); do [ -e "/proc/$old" ] || break; sleep 0.5; done
            [ ! -e "/proc/$old" ] || { note "old postmaster $old is an unreaped zombie; removing its lock file"; rm -f "$PG_DATA/postmaster.pid"; }
        fi
        # A port held by something else would make the server fail with a less clear log line.
        ! port_open "$PG_PORT" || die "127.0.0.1:$PG_PORT is already in use by another program"
        # -w waits for the server to accept connections, -t bounds that wait; pg_ctl puts the
        # server in the background, so it outlives this script.
        local left=$(( DEADLINE - $(date +%s) ))
        # The port is given here too, so a cluster made with another one follows this script.
        as_pg "$BIN/pg_ctl" -D "$PG_DATA" -l "$PG_BASE/server.log" -w -t "$left" \
            -o "-p $PG_PORT" start >/dev/null \
            || die "server did not start, see $PG_BASE/server.log"
        note "started on 127.0.0.1:$PG_PORT"
    else
        note "already running"
    fi

    # Role and database: created when missing, so this also repairs a cluster whose first
    # run was interrupted after initdb. The password is set each time so the URL below is
    # always right.
    psql_admin <<SQL || die "could not create role $PG_USER / database $PG_DB"
SELECT 'CREATE ROLE $PG_USER LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER') \gexec
ALTER ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD';
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DB') \gexec
SQL
    # Prove the URL itself works (TCP, password auth) before handing it out.
    PGCONNECT_TIMEOUT=10 "$BIN/psql" -X -q -d "$URL" -c 'select 1' >/dev/null \
        || die "server is up but $URL does not log in"

    drop_stale_test_schemas

    env_set COFFER_TEST_POSTGRES_URL "$URL"
    if [ -f "$PG_BASE/ca.pem" ]; then
        env_set COFFER_TEST_POSTGRES_TLS_URL "$URL?sslmode=require"
        env_set COFFER_TEST_POSTGRES_TLS_CA "$PG_BASE/ca.pem"
    fi
    echo "COFFER_TEST_POSTGRES_URL=$URL"
}

# Each end-to-end server under the shared backends, and each backend benchmark, makes a
# schema of its own (e2e_PID_NANOS, bNNN_SECS_local, bNNN_SECS_old, gNNN_SECS) and may
# leave it behind; on a database kept across runs they pile up by thousands, and every
# catalog lookup pays for them. Those older than STALE_SCHEMA_HOURS (by the time in their name) are dropped, each
# in a commit of its own (one transaction for all would exhaust the lock table); younger
# ones may belong to a run still going.
STALE_SCHEMA_HOURS=6
drop_stale_test_schemas() {
    # Progress (a first cleanup of a long-kept database drops thousands) comes as notices,
    # which psql prints on stderr as they arrive.
    "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$URL" <<SQL >/dev/null || die "could not drop stale test schemas"
DO \$\$
DECLARE s text; names text[]; n int := 0; total int;
BEGIN
  SELECT array_agg(nspname) INTO names FROM pg_namespace
    WHERE nspname ~ '^(e2e_|b|g)[0-9]+_[0-9]{10,19}(_local|_s3|_old|_new)?$'
      AND (substring(nspname FROM '^(?:e2e_|b|g)[0-9]+_([0-9]+)')::numeric
           / CASE WHEN length(substring(nspname FROM '^(?:e2e_|b|g)[0-9]+_([0-9]+)')) > 12
                  THEN 1e9 ELSE 1 END)  -- nanoseconds or seconds since the epoch
          < extract(epoch FROM now()) - $STALE_SCHEMA_HOURS * 3600;
  total := coalesce(array_length(names, 1), 0);
  FOREACH s IN ARRAY coalesce(names, '{}') LOOP
    -- Without the "drop cascades to table ..." notice for each of the schema's tables.
    PERFORM set_config('client_min_messages', 'warning', false);
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
    PERFORM set_config('client_min_messages', 'notice', false);
    COMMIT;
    n := n + 1;
    IF n % 200 = 0 OR n = total THEN
      RAISE NOTICE 'dropped % of % test schemas older than $STALE_SCHEMA_HOURS h', n, total;
    END IF;
  END LOOP;
END
\$\$;
SQL
}

# A CA and a server certificate for 127.0.0.1, so the tests can connect over TLS that is
# verified (sslmode=require with the CA) and see an unknown CA refused. Made once, at initdb.
tls_setup() {
    command -v openssl >/dev/null || apt_install openssl
    local d=$PG_DATA
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=coffer test CA" \
        -keyout "$PG_BASE/ca.key" -out "$PG_BASE/ca.pem" >/dev/null 2>&1 \
        || die "openssl could not make the test CA"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$d/server.key" -out "$PG_BASE/server.csr" >/dev/null 2>&1 \
        || die "openssl could not make the server key"
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$PG_BASE/server.ext"
    openssl x509 -req -in "$PG_BASE/server.csr" -CA "$PG_BASE/ca.pem" -CAkey "$PG_BASE/ca.key" \
        -CAcreateserial -days 3650 -extfile "$PG_BASE/server.ext" -out "$d/server.crt" >/dev/null 2>&1 \
        || die "openssl could not sign the server certificate"
    chown postgres: "$d/server.key" "$d/server.crt"
    chmod 600 "$d/server.key"
    chmod 644 "$PG_BASE/ca.pem"
    cat >>"$d/postgresql.conf" <<CONF
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
CONF
}

case "${1:-start}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    purge) cmd_stop; rm -rf "$PG_BASE"; note "removed $PG_BASE" ;;
    *) die "usage: $0 [start|stop|purge]" ;;
esac
