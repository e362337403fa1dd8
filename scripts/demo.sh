#!/usr/bin/env bash
# Quick start: installs what is missing, builds creek, and runs the seed's steps 4-8:
# a (throwaway) PostgreSQL, `creek fake` filling table customers, topic psg-customers,
# the seed's connector JSON posted with the seed's curl command, the Avro rows read
# back through creek's Schema Registry, the seed's ksql session through `creek ksql`,
# then a lake sink writing Parquet that DuckDB reads. Everything keeps running until Ctrl-C.
# (`creek demo`, the whole pipeline in one command, arrives with a later issue.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -p creek
CREEK="${CARGO_TARGET_DIR:-$PWD/target}/release/creek"
PORT="${CREEK_KAFKA_PORT:-9092}"
REGISTRY_PORT="${CREEK_REGISTRY_PORT:-8081}"
CONNECT_PORT="${CREEK_CONNECT_PORT:-8083}"
KSQL_PORT="${CREEK_KSQL_PORT:-8088}"
WORK="$(mktemp -d)"
# A fresh data dir by default: the database is throwaway too, and source offsets
# (PostgreSQL snapshots) only mean something for the database they came from.
DATA="${CREEK_DATA_DIR:-$WORK/data}"
PIDS=()
cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; wait "${PIDS[i]}" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
step() { echo; echo "\$ $*"; }

# 4 - PostgreSQL: a throwaway cluster from the machine's own binaries.
mkfifo "$WORK/pg"
python3 scripts/temp_postgres.py >"$WORK/pg" &
PIDS+=($!)
read -r PG_URL JDBC_URL <"$WORK/pg"
echo "PostgreSQL (throwaway): $PG_URL"

"$CREEK" up --data-dir "$DATA" --kafka-port "$PORT" --registry-port "$REGISTRY_PORT" \
  --connect-port "$CONNECT_PORT" --ksql-port "$KSQL_PORT" >"$WORK/creek.out" 2>"$WORK/creek.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q "creek ready" "$WORK/creek.out" 2>/dev/null && break; sleep 0.1; done
grep -q "creek ready" "$WORK/creek.out" || { cat "$WORK/creek.err"; echo "creek did not start" >&2; exit 1; }
cat "$WORK/creek.out"

# 5 - the fake data generator: one batch shown, then a silent stream in the background.
step "creek fake -cs $PG_URL -n 3 --total 3"
"$CREEK" fake -cs "$PG_URL" -n 3 --total 3
"$CREEK" fake -cs "$PG_URL" -n 10 --interval 0.5 --silent &
PIDS+=($!)

# 6 - the topic.
step "creek topics --create --bootstrap-server localhost:$PORT --partitions 1 --replication-factor 1 --topic psg-customers"
"$CREEK" topics --create --bootstrap-server "localhost:$PORT" --partitions 1 --replication-factor 1 \
  --topic psg-customers --if-not-exists

# 7 - the seed's connector JSON, with this database's address.
cat >"$WORK/connect_postgres.config" <<JSON
{
    "name": "postg-connector",
    "config": {
        "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
        "tasks.max": 1,
        "connection.url": "$JDBC_URL",
        "connection.user": "postgres",
        "connection.password": "SUA-SENHA",
        "mode": "timestamp",
        "timestamp.column.name": "dt_update",
        "table.whitelist": "public.customers",
        "topic.prefix": "psg-",
        "validate.non.null": "false",
        "poll.interval.ms": 500
    }
}
JSON
step "curl -X POST -H \"Content-Type: application/json\" --data @connect_postgres.config http://localhost:$CONNECT_PORT/connectors"
curl -s -X POST -H "Content-Type: application/json" --data @"$WORK/connect_postgres.config" \
  "http://localhost:$CONNECT_PORT/connectors"
echo
sleep 1.5
step "curl -s http://localhost:$CONNECT_PORT/connectors/postg-connector/status"
curl -s "http://localhost:$CONNECT_PORT/connectors/postg-connector/status"
echo

step "three rows of psg-customers, decoded with confluent-kafka's AvroDeserializer and creek's registry"
PYTHONWARNINGS=ignore python3 - "$PORT" "$REGISTRY_PORT" <<'PY'
import sys
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
port, registry = sys.argv[1:]
deser = AvroDeserializer(SchemaRegistryClient({"url": f"http://localhost:{registry}"}))
c = Consumer({"bootstrap.servers": f"localhost:{port}", "group.id": "demo"})
c.assign([TopicPartition("psg-customers", 0, 0)])
shown = 0
while shown < 3:
    m = c.poll(5)
    if m is None:
        break
    if m.error():
        continue
    row = deser(m.value(), SerializationContext("psg-customers", MessageField.VALUE))
    print({k: row[k] for k in ("nome", "email", "nascimento", "dt_update")})
    shown += 1
c.close()
PY

# 8 - The seed's ksql session, through `creek ksql` (push queries get a LIMIT here
# so that the script goes on; typed at the `ksql>` prompt they run until Ctrl-C).
KSQL=("$CREEK" ksql "http://localhost:$KSQL_PORT")
for stmt in "show topics;" "show connectors;" "print psg-customers from beginning limit 3;" \
    "create stream custstream WITH (kafka_topic='psg-customers', value_format='AVRO');" \
    "show streams;"; do
  step "ksql> $stmt"
  "${KSQL[@]}" -e "$stmt"
done
SELECT="select nome, telefone, email,
TIMESTAMPTOSTRING(nascimento, 'yyyy-MM-dd', 'UTC') as dt_nascimento,
TIMESTAMPTOSTRING(dt_update, 'yyyy-MM-dd HH:mm:ss.SSS', 'UTC') as dt_updt_conv
from custstream emit changes limit 3;"
step "ksql> $SELECT"
"${KSQL[@]}" -e "SET 'auto.offset.reset'='earliest'; $SELECT"

# The data lake: Confluent's S3 sink writing Parquet into a local folder.
LAKE="$DATA/lake"
step "curl -X POST ... http://localhost:$CONNECT_PORT/connectors   (S3SinkConnector, Parquet into $LAKE)"
curl -s -X POST -H "Content-Type: application/json" "http://localhost:$CONNECT_PORT/connectors" --data @- <<JSON
{"name": "lake", "config": {
  "connector.class": "io.confluent.connect.s3.S3SinkConnector",
  "topics": "psg-customers", "flush.size": 1000, "rotate.schedule.interval.ms": 2000,
  "format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
  "s3.bucket.name": "datalake", "store.url": "file://$LAKE"}}
JSON
echo
sleep 4
step "duckdb: SELECT count(*), min(dt_update), max(dt_update) FROM read_parquet('$LAKE/datalake/topics/psg-customers/*/*.parquet')"
PYTHONWARNINGS=ignore python3 -c "import duckdb, sys; print(duckdb.sql(\"SELECT count(*) AS rows, min(dt_update) AS first, max(dt_update) AS last FROM read_parquet('\" + sys.argv[1] + \"/datalake/topics/psg-customers/*/*.parquet')\"))" "$LAKE"

echo
echo "creek: kafka localhost:$PORT, registry http://localhost:$REGISTRY_PORT, connect http://localhost:$CONNECT_PORT, ksql http://localhost:$KSQL_PORT ($CREEK ksql)"
echo "data in $DATA, service logs in $DATA/logs (connect.log, schema-registry.log, kafka.log)"
echo "rows keep flowing from PostgreSQL into psg-customers and on into $LAKE. Press Ctrl-C to stop."
wait "${PIDS[1]}"
