#!/usr/bin/env bash
# Chart history and retention (issue 6): bytes per raw sample and the rollup job's throughput on 14
# days of one real-shaped PBX, a year of rollups for SERVERS servers (extrapolated to 100), and the
# server page's chart queries over 24 h, 7 d and 1 year, and how long migration 0007 (the 6-hour
# table filled from the hourly one) takes on that year. Prints measurements; asserts nothing.
#   bench/history.sh            # SERVERS=10
#   SERVERS=20 bench/history.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SERVERS=${SERVERS:-10}
cargo build --release -q -p centinela-bench
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
/usr/bin/time -f "peak RSS %M KiB, %e s wall" target/release/centinela-bench history "$T" "$SERVERS"
du -sh "$T/raw" "$T/history" | sed 's/^/files: /'
