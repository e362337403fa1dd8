#!/usr/bin/env bash
# creek's whole test suite: formatting, lints, unit and integration tests (a throwaway
# PostgreSQL, moto S3), and the client tests (kcat, confluent-kafka, kafka-python, the
# Java client, pyarrow/DuckDB readers) against `creek up`, and the seed's steps 4-8 end
# to end (tests/e2e/seed-steps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test

TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

echo "== rustfmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
echo "== client tests (pytest)"
cargo build -p creek --locked
echo "== ksqlDB conformance (QTT)"
# The conformance files live in ../shared beside the repository (or $CREEK_SHARED_DIR).
SHARED_DIR="${CREEK_SHARED_DIR:-$PWD/../shared}"
QTT_DIR="${CREEK_QTT_DIR:-$SHARED_DIR/ksql-qtt}"
QTT_REST_DIR="${CREEK_QTT_REST_DIR:-$SHARED_DIR/ksql-qtt-rest}"
for dir in "$QTT_DIR" "$QTT_REST_DIR"; do
  if [ ! -d "$dir" ]; then
    echo "ksqlDB's conformance files are missing: $dir does not exist." >&2
    echo "They come from ../shared beside this repository; set CREEK_SHARED_DIR (or CREEK_QTT_DIR and CREEK_QTT_REST_DIR) to where they are." >&2
    exit 1
  fi
done
"$TARGET_DIR/debug/creek" qtt "$QTT_DIR" --must-pass tests/qtt/must-pass.txt | tail -n 1
"$TARGET_DIR/debug/creek" qtt --rest "$QTT_REST_DIR" --must-pass tests/qtt/rest-must-pass.txt | tail -n 1
CREEK_BIN="$TARGET_DIR/debug/creek" python3 -m pytest tests/python -q
echo "== the seed's steps 4-8 end to end, into the lake"
CREEK_BIN="$TARGET_DIR/debug/creek" tests/e2e/seed-steps.sh >"${TMPDIR:-/tmp}/creek-seed-steps.log" 2>&1 \
  || { tail -n 60 "${TMPDIR:-/tmp}/creek-seed-steps.log"; exit 1; }
tail -n 2 "${TMPDIR:-/tmp}/creek-seed-steps.log"
