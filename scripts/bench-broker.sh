#!/usr/bin/env bash
# Benchmarks creek's broker against tansu (an independent Kafka-compatible broker from
# crates.io) with the same librdkafka client in the same run. Usage:
#   [PRODUCERS=N] [PARTITIONS=N] scripts/bench-broker.sh [RECORDS] [RECORD_SIZE]
# Needs tansu on PATH or at /opt/tansu/bin/tansu (cargo install tansu --features dynostore).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
SIZE="${2:-100}"
EXTRA=(--producers "${PRODUCERS:-1}" --partitions "${PARTITIONS:-1}")
cargo build --release -p creek >/dev/null
CREEK="${CARGO_TARGET_DIR:-$PWD/target}/release/creek"
TANSU="$(command -v tansu || echo /opt/tansu/bin/tansu)"
WORK="$(mktemp -d)"
trap 'kill $CREEK_PID $TANSU_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$CREEK" up --data-dir "$WORK/creek" --kafka-port 29092 >"$WORK/creek.out" 2>"$WORK/creek.err" &
CREEK_PID=$!
"$TANSU" broker --listener-url tcp://127.0.0.1:29093 --advertised-listener-url tcp://127.0.0.1:29093 \
  --storage-engine memory://tansu/ >"$WORK/tansu.log" 2>&1 &
TANSU_PID=$!
sleep 2

echo "# $(date -u +%Y-%m-%d) records=$RECORDS size=$SIZE ${EXTRA[*]}"
"$CREEK" bench broker --bootstrap 127.0.0.1:29092 --records "$RECORDS" --record-size "$SIZE" \
  --broker-pid "$CREEK_PID" --label creek-disk --json "${EXTRA[@]}"
"$CREEK" bench broker --bootstrap 127.0.0.1:29093 --records "$RECORDS" --record-size "$SIZE" \
  --broker-pid "$TANSU_PID" --label tansu-memory --json "${EXTRA[@]}"
