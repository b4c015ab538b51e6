#!/usr/bin/env bash
# CI's disk guard. A CI machine kept across runs fills up: the reused cargo target directory
# grows with every build, Ceph's OSD file and the test tools live beside it. On a nearly full
# disk the services fail in ways that do not say "disk" (ceph-mon refuses to start, builds
# die midway), so this runs first: it prints what is free and, below NEED GiB, frees the one
# thing that is only a cache: first the target directory's incremental caches, then the
# whole target directory (the build then starts from scratch, which costs minutes, not a run).
# Usage: scripts/ci-disk.sh TARGET_DIR [NEED_GIB]    (default 15)
set -euo pipefail
target=$1
need_gib=${2:-15}

avail_gib() {
    # df on the nearest existing ancestor: the target directory may not exist yet.
    local d=$target
    until [ -e "$d" ]; do d=$(dirname "$d"); done
    df -P -k "$d" | awk 'NR == 2 { print int($4 / 1048576) }'
}

echo "ci-disk: $(avail_gib) GiB free where $target lives (want $need_gib)"
[ "$(avail_gib)" -lt "$need_gib" ] || exit 0

echo "ci-disk: removing the incremental caches under $target"
find "$target" -maxdepth 3 -type d -name incremental -prune -exec rm -rf {} + 2>/dev/null || true
[ "$(avail_gib)" -lt "$need_gib" ] || { echo "ci-disk: $(avail_gib) GiB free now"; exit 0; }

echo "ci-disk: removing $target: the build starts from scratch"
rm -rf "$target"
echo "ci-disk: $(avail_gib) GiB free now"
[ "$(avail_gib)" -ge 3 ] || { df -h / /var/tmp >&2; echo "ci-disk: error: under 3 GiB free even without the build cache" >&2; exit 1; }
