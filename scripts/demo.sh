#!/usr/bin/env bash
# Quick start: installs what is missing, builds creek, and runs `creek demo`: the seed's
# whole pipeline (a throwaway PostgreSQL filled by the generator, the seed's JDBC source,
# custstream and derived ksqlDB streams and a windowed table, a Parquet lake) with a live
# status screen, until Ctrl-C. Arguments go to `creek demo` (e.g. --duration 60,
# --connection-string URL, --data-dir DIR). The seed's steps one by one, as commands,
# are in tests/e2e/seed-steps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -p creek
exec "${CARGO_TARGET_DIR:-$PWD/target}/release/creek" demo "$@"
