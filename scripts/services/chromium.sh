#!/usr/bin/env bash
# Installs Debian's chromium and chromedriver for the console's browser tests
# (crates/coffer/tests/e2e/console). Nothing to start: each test starts its own chromedriver
# and a headless chromium with a fresh profile.
#
#   scripts/services/chromium.sh [start]   install them if missing (idempotent)
#   scripts/services/chromium.sh stop      nothing to stop
set -euo pipefail
dir=$(dirname "$0")
. "$dir/lib.sh"

case "${1:-start}" in
    start)
        if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
            note "chromium and chromedriver are installed"
        else
            note "installing chromium and chromium-driver"
            # Fonts too: without recommends, pages (and the screenshots) would have none.
            apt_install chromium chromium-driver fonts-dejavu-core fonts-liberation
        fi
        /usr/bin/chromedriver --version >&2 || die "chromedriver does not run"
        ;;
    stop) ;;
    *) die "usage: $0 [start|stop]" ;;
esac
