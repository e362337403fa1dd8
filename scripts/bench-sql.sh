#!/usr/bin/env bash
# The SQL engine: a persistent filter + projection with date formatting over N Avro
# seed records already in an embedded log (Avro in, Avro out), in input records/s,
# with its peer measured in the same run (a raw read of the same records, and the
# same read with every record decoded and re-encoded by apache-avro).
# Usage: scripts/bench-sql.sh [RECORDS] [RUNS]   (defaults 1,000,000 and 3)
# CREEK_PERF=FILE records a `perf` profile of the timed query (last run).
# CREEK_BENCH=aggregate runs `creek bench aggregate` instead (scripts/bench-aggregate.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
RUNS="${2:-3}"
cargo build --release -p creek >/dev/null
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/creek"
BENCH="${CREEK_BENCH:-sql}"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, creek bench $BENCH --records $RECORDS"
for i in $(seq 1 "$RUNS"); do
  if [ "$i" = "$RUNS" ] && [ -n "${CREEK_PERF:-}" ]; then
    "$BIN" bench "$BENCH" --records "$RECORDS"
  else
    CREEK_PERF= "$BIN" bench "$BENCH" --records "$RECORDS"
  fi
done
