#!/usr/bin/env bash
# Start every service the integration tests need (PostgreSQL, Ceph RGW; and install chromium
# for the console's browser tests), then print where the
# env file with their COFFER_TEST_* variables is. A test run does:
#
#   . "$(scripts/services/start-all.sh | sed -n 's/^SERVICES_ENV=//p')"
#
#   scripts/services/start-all.sh [start]   start both (each script is idempotent)
#   scripts/services/start-all.sh stop      stop both
#
# One after the other rather than at once: PostgreSQL takes about a second, and Ceph's start
# is CPU-bound on a 2-core machine, so running them together would save nothing worth the
# interleaved output.
set -euo pipefail
dir=$(dirname "$0")
. "$dir/lib.sh"
export SERVICES_ENV

case "${1:-start}" in
    start)
        "$dir/postgres.sh" start || die "postgres.sh failed"
        "$dir/ceph-rgw.sh" start || die "ceph-rgw.sh failed"
        "$dir/chromium.sh" start || die "chromium.sh failed"
        echo "SERVICES_ENV=$SERVICES_ENV"
        ;;
    stop)
        # Both, even if the first fails; then report.
        rc=0
        "$dir/ceph-rgw.sh" stop || rc=1
        "$dir/postgres.sh" stop || rc=1
        [ "$rc" = 0 ] || die "stopping a service failed"
        ;;
    *) die "usage: $0 [start|stop]" ;;
esac
