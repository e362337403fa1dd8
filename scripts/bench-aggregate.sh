#!/usr/bin/env bash
# The SQL engine's aggregations: a tumbling-window COUNT(*) grouped by a low-cardinality
# column (customers per sexo in 30-second windows, EMIT CHANGES) over N Avro seed records
# already in an embedded log, in input records/s, with its peer measured in the same run
# (creek bench sql's filter + projection query in the same engine, a raw read of the same
# records, and the same read with every record decoded and re-encoded by apache-avro).
# Usage: scripts/bench-aggregate.sh [RECORDS] [RUNS]   (defaults 1,000,000 and 3)
# CREEK_PERF=FILE records a `perf` profile of the timed aggregation (last run).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
RUNS="${2:-3}"
cargo build --release -p creek >/dev/null
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/creek"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, creek bench aggregate --records $RECORDS"
for i in $(seq 1 "$RUNS"); do
  if [ "$i" = "$RUNS" ] && [ -n "${CREEK_PERF:-}" ]; then
    "$BIN" bench aggregate --records "$RECORDS"
  else
    CREEK_PERF= "$BIN" bench aggregate --records "$RECORDS"
  fi
done
