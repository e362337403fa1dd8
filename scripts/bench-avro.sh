#!/usr/bin/env bash
# The Avro codec alone: N seed records decoded to SQL rows and encoded back by creek
# (`creek bench avro`), by apache-avro in the same process, and by Python's fastavro
# (scripts/bench_avro.py) on the same bodies, one after the other, one thread each.
# Usage: scripts/bench-avro.sh [RECORDS] [RUNS]   (defaults 1,000,000 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
RUNS="${2:-3}"
python3 -c "import fastavro" 2>/dev/null || scripts/install-deps.sh test
cargo build --release -p creek >/dev/null
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/creek"
BODIES="$(mktemp -d)/bodies.bin"
trap 'rm -rf "$(dirname "$BODIES")"' EXIT
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, creek bench avro --records $RECORDS"
for i in $(seq 1 "$RUNS"); do
  "$BIN" bench avro --records "$RECORDS" --bodies "$BODIES"
  python3 scripts/bench_avro.py "$BODIES" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("  fastavro %s:         decode %10.0f records/s, decode + encode %10.0f records/s"
      % (r["fastavro"], r["fastavro_decode_rps"], r["fastavro_round_trip_rps"]))'
done
