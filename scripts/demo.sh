#!/usr/bin/env bash
# Quick start: installs what is missing, builds creek, puts `creek` on PATH and runs
# `creek demo`: the seed's whole pipeline (a throwaway PostgreSQL filled by the
# generator, the seed's JDBC source, custstream and derived ksqlDB streams and a
# windowed table, a Parquet lake under ./creek-demo) with a live status screen, until
# Ctrl-C. Arguments go to `creek demo` (e.g. --duration 60, --connection-string URL,
# --data-dir DIR). The seed's steps one by one, as commands, are in
# tests/e2e/seed-steps.sh.
#
# Environment:
#   CREEK_INSTALL_DIR  where `creek` is installed (default: ~/.cargo/bin, on PATH with rustup)
#   CREEK_PROFILE      release (default) or debug: the build the demo runs
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "creek is built with Rust's cargo, which is not on PATH: install Rust (https://rustup.rs)," >&2
  echo "open a new shell and run scripts/demo.sh again" >&2
  exit 1
fi
scripts/install-deps.sh demo

PROFILE="${CREEK_PROFILE:-release}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
case "$PROFILE" in
  release) cargo build --locked --release -p creek ;;
  debug) cargo build --locked -p creek ;;
  *) echo "CREEK_PROFILE must be release or debug, not '$PROFILE'" >&2; exit 2 ;;
esac

# `creek …` as the README writes it: a copy of the binary in a directory on PATH.
INSTALL_DIR="${CREEK_INSTALL_DIR:-${CARGO_HOME:-$HOME/.cargo}/bin}"
mkdir -p "$INSTALL_DIR"
install -m 0755 "$TARGET_DIR/$PROFILE/creek" "$INSTALL_DIR/creek.new"
mv -f "$INSTALL_DIR/creek.new" "$INSTALL_DIR/creek"
case ":$PATH:" in
  *":$INSTALL_DIR:"*) echo "creek installed as $INSTALL_DIR/creek" ;;
  *) echo "creek installed as $INSTALL_DIR/creek; add $INSTALL_DIR to PATH to type \`creek\`" ;;
esac
exec "$INSTALL_DIR/creek" demo "$@"
