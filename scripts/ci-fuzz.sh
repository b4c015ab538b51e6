#!/usr/bin/env bash
# CI's fuzz stage: installs cargo-fuzz from crates.io (once; kept with the other test tools)
# and runs every fuzz target for a bounded time, two at a time (CI has the machine's two
# cores to itself). About 30 s per target; the first run on a new machine also builds the
# instrumented targets (several minutes), later runs only what changed.
# Usage: scripts/ci-fuzz.sh [SECONDS_PER_TARGET]    (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."

tools=${COFFER_TOOLS:-$HOME/.cache/coffer-tools}
if [ ! -x "$tools/cargo-fuzz/bin/cargo-fuzz" ]; then
    echo "installing cargo-fuzz into $tools/cargo-fuzz"
    cargo install --locked --quiet cargo-fuzz@0.13.2 --root "$tools/cargo-fuzz"
fi
export PATH="$tools/cargo-fuzz/bin:$PATH"
FUZZ_JOBS=${FUZZ_JOBS:-2} scripts/fuzz.sh "${1:-30}"
