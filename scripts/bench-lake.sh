#!/usr/bin/env bash
# The lake sink's Parquet delivery vs pyarrow's Parquet writer, same rows, same run.
# Usage: scripts/bench-lake.sh [ROWS]   (default 1,000,000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p creek >/dev/null
CREEK_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/creek" exec python3 scripts/bench_lake.py "$@"
