#!/usr/bin/env bash
# Initial load of the seed's JDBC source config vs PostgreSQL's binary COPY, same run.
# Usage: scripts/bench-jdbc.sh [ROWS]   (default 1,000,000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p creek >/dev/null
CREEK_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/creek" exec python3 scripts/bench_jdbc.py "$@"
