# shellcheck shell=bash
# Shared by scripts/services/*.sh (sourced, not run). Those scripts install and start, as
# root on a Debian 12 machine, the services that the integration tests reach over loopback,
# and record how to reach them in an env file that a test run sources.

# Where the `export NAME=value` lines go. One file for all services, so a test run needs
# `. "$SERVICES_ENV"` once, whatever was started.
SERVICES_ENV=${SERVICES_ENV:-/var/tmp/coffer-services.env}

# die REASON: one line on stderr that says why, then exit 1. Every failure path ends here,
# so a CI log shows the reason last instead of a bare non-zero exit.
die() {
    echo "$(basename "$0"): error: $*" >&2
    exit 1
}

# note TEXT: progress on stderr, with the seconds since the script started (to see where a
# slow start spends its time); stdout is kept for the lines a caller parses.
note() {
    echo "$(basename "$0"): [${SECONDS}s] $*" >&2
}

# Set the deadline for everything that waits: a service that will not come up makes the
# script fail after this many seconds with a reason, rather than hang a CI run.
start_deadline() {
    DEADLINE=$(( $(date +%s) + ${1:-120} ))
}

# wait_for WHAT CMD...: run CMD every half second until it succeeds or the deadline passes.
wait_for() {
    local what=$1; shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$DEADLINE" ] || die "timed out waiting for $what"
        sleep 0.5
    done
}

# apt_install PKG...: install Debian packages that are missing. `apt-get update` runs first
# because a fresh machine (or container image) has no package lists; the timeout is separate
# from the start deadline since a download is not the service hanging.
apt_install() {
    [ "$(id -u)" = 0 ] || die "packages $* are missing and installing them needs root"
    note "installing Debian packages: $*"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -q >/dev/null || die "apt-get update failed"
    # --no-install-recommends: the recommends of ceph-* and postgresql pull in hundreds of MB
    # (e.g. ceph-mgr's python stack) that nothing here uses.
    timeout 900 apt-get install -y -q --no-install-recommends "$@" >/dev/null \
        || die "apt-get install $* failed"
}

# env_set NAME VALUE: make $SERVICES_ENV hold exactly one `export NAME=VALUE` line, replacing
# an older one, so that running a script again does not pile up lines. Written through a
# temporary file and a rename so that a reader never sees half a file; a lock keeps two
# scripts run at once from losing each other's lines.
env_set() {
    local name=$1 value=$2 tmp
    mkdir -p "$(dirname "$SERVICES_ENV")"
    touch "$SERVICES_ENV"
    (
        flock 9
        tmp=$(mktemp "$SERVICES_ENV.XXXXXX")
        grep -v "^export $name=" "$SERVICES_ENV" > "$tmp" || true
        printf 'export %s=%q\n' "$name" "$value" >> "$tmp"
        chmod 644 "$tmp"
        mv "$tmp" "$SERVICES_ENV"
    ) 9>"$SERVICES_ENV.lock"
}

# env_unset NAME: drop NAME from $SERVICES_ENV (after `stop`, so a test run does not try to
# reach a service that is gone).
env_unset() {
    local name=$1 tmp
    [ -f "$SERVICES_ENV" ] || return 0
    (
        flock 9
        tmp=$(mktemp "$SERVICES_ENV.XXXXXX")
        grep -v "^export $name=" "$SERVICES_ENV" > "$tmp" || true
        chmod 644 "$tmp"
        mv "$tmp" "$SERVICES_ENV"
    ) 9>"$SERVICES_ENV.lock"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT (bash's /dev/tcp, so
# no netcat is needed).
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# proc_alive PID: the process exists and is not a zombie. A killed daemon stays a zombie until
# its parent (here init, which in a container may reap late) collects it, and /proc and
# kill -0 still show it; such a daemon must count as stopped.
proc_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    # The state is the field after the ")" that closes the command name.
    case "${stat##*) }" in Z*|X*) return 1 ;; esac
}
