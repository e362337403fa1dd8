#!/usr/bin/env bash
# Quick start: installs what is missing, builds creek, starts it, and runs the seed's
# step 6 (create topic psg-customers) plus a produce/consume round trip with kcat.
# creek keeps running until Ctrl-C. (`creek demo`, the whole seed pipeline, arrives
# with the later pipeline issues; this is what exists today: the broker.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -p creek
CREEK="${CARGO_TARGET_DIR:-$PWD/target}/release/creek"
PORT="${CREEK_KAFKA_PORT:-9092}"
DATA="${CREEK_DATA_DIR:-$PWD/creek-data}"

"$CREEK" up --data-dir "$DATA" --kafka-port "$PORT" &
CREEK_PID=$!
trap 'kill -TERM $CREEK_PID 2>/dev/null; wait $CREEK_PID 2>/dev/null' EXIT INT TERM
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done

echo
echo "\$ creek topics --create --bootstrap-server localhost:$PORT --partitions 1 --replication-factor 1 --topic psg-customers"
"$CREEK" topics --create --bootstrap-server "localhost:$PORT" --partitions 1 --replication-factor 1 \
  --topic psg-customers --if-not-exists
echo "\$ creek topics --describe --bootstrap-server localhost:$PORT --topic psg-customers"
"$CREEK" topics --describe --bootstrap-server "localhost:$PORT" --topic psg-customers
echo "\$ printf 'hello\\ncreek\\n' | kcat -P -b localhost:$PORT -t psg-customers"
printf 'hello\ncreek\n' | kcat -P -b "localhost:$PORT" -t psg-customers
echo "\$ kcat -C -b localhost:$PORT -t psg-customers -o -2 -e -q"
kcat -C -b "localhost:$PORT" -t psg-customers -o -2 -e -q
echo
echo "creek is serving Kafka on localhost:$PORT with data in $DATA. Press Ctrl-C to stop."
wait $CREEK_PID
