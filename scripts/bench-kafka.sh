#!/usr/bin/env bash
# creek's broker against Apache Kafka 4.4.0 on this machine: Kafka's own perf-test and
# end-to-end latency tools against both, same run (scripts/bench_kafka.py).
# Usage: scripts/bench-kafka.sh [--records N] [--sizes 100,1000] [--partitions 1,3] [--json]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p creek >/dev/null
scripts/kafka.sh fetch >/dev/null
CREEK_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/creek" exec python3 scripts/bench_kafka.py "$@"
