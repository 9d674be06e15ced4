#!/usr/bin/env bash
# Monthly reports (issue 8): one call center's figures for a month of ROWS CDR rows (default
# 1,000,000, FreePBX-shaped, with the queue_log of its queue calls), computed RUNS times (default 5)
# by the release build of `reports::source::month` on a fresh reader connection: median and worst.
# Prints measurements; asserts nothing.
#   bench/reports.sh
#   ROWS=2000000 RUNS=7 bench/reports.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-5}
cargo build --release -q -p centinela-bench
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
/usr/bin/time -f "peak RSS %M KiB (generation included), %e s wall" target/release/centinela-bench reports "$T" "$ROWS" "$RUNS"
