#!/usr/bin/env bash
# The seed's steps 4-8 as a script against `creek up`, then a lake sink, checked end to
# end: every row the generator wrote to PostgreSQL is in the lake, both as the seed's
# topic psg-customers and as a stream ksqlDB derived from custstream.
#
#   4  a PostgreSQL (throwaway, from the machine's binaries)
#   5  the fake data generator (`creek fake`, the seed's flags)
#   6  the topic (`creek topics --create`, kafka-topics' flags)
#   7  the seed's connector JSON, posted with the seed's curl command
#   8  the seed's ksql session through `creek ksql`, as the seed types it
#   +  Confluent's S3 sink config writing Parquet into a folder; DuckDB counts it
#
# Usage: tests/e2e/seed-steps.sh [ROWS]   (CREEK_BIN: the binary, default target/debug/creek)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS="${1:-600}"
CREEK="${CREEK_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/creek}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; wait "${PIDS[i]}" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { echo; echo "\$ $*"; }
fail() { echo "FAIL: $*" >&2; echo "--- creek stderr" >&2; tail -n 30 "$WORK/creek.err" >&2 || true; exit 1; }

# 4 - PostgreSQL.
mkfifo "$WORK/pg"
python3 scripts/temp_postgres.py >"$WORK/pg" &
PIDS+=($!)
read -r PG_URL JDBC_URL <"$WORK/pg"
echo "PostgreSQL (throwaway): $PG_URL"

# The platform: `creek up` on free ports (the seed's are 9092, 8081, 8083, 8088).
"$CREEK" up --data-dir "$WORK/data" --kafka-port 0 --registry-port 0 --connect-port 0 \
  --ksql-port 0 >"$WORK/creek.out" 2>"$WORK/creek.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q "creek ready" "$WORK/creek.out" 2>/dev/null && break; sleep 0.1; done
READY="$(grep "creek ready" "$WORK/creek.out")" || fail "creek up did not start"
echo "$READY"
KAFKA="$(sed -E 's/.*kafka=([^ ]+).*/\1/' <<<"$READY")"
CONNECT="$(sed -E 's/.*connect=([^ ]+).*/\1/' <<<"$READY")"
KSQL_URL="$(sed -E 's/.*ksql=([^ ]+).*/\1/' <<<"$READY")"

# 5 - the generator: one batch to create the table, then a stream of batches.
step "creek fake -cs $PG_URL -n 10 --total 10"
"$CREEK" fake -cs "$PG_URL" -n 10 --total 10 >/dev/null
"$CREEK" fake -cs "$PG_URL" -n 20 --interval 0.05 --total "$((ROWS - 10))" --silent &
GENERATOR=$!

# 6 - the topic.
step "creek topics --create --bootstrap-server $KAFKA --partitions 1 --replication-factor 1 --topic psg-customers"
"$CREEK" topics --create --bootstrap-server "$KAFKA" --partitions 1 --replication-factor 1 --topic psg-customers

# 7 - the seed's connector JSON (only the database address and password are this machine's).
sed -e "s#jdbc:postgresql://127.0.0.1:5432/postgres#$JDBC_URL#" \
  crates/creek/src/demo/connect_postgres.config >"$WORK/connect_postgres.config"
step "curl -X POST -H \"Content-Type: application/json\" --data @connect_postgres.config $CONNECT/connectors"
(cd "$WORK" && curl -sf -X POST -H "Content-Type: application/json" \
  --data @connect_postgres.config "$CONNECT/connectors") || fail "the seed's connector was refused"
echo
for _ in $(seq 100); do
  curl -s "$CONNECT/connectors/postg-connector/status" | grep -q '"state":"RUNNING"' && break; sleep 0.1
done
curl -s "$CONNECT/connectors/postg-connector/status" | grep -q '"state":"RUNNING"' || fail "connector not RUNNING"

# 8 - the seed's ksql session, statement by statement.
ksql() { step "ksql> $1"; "$CREEK" ksql "$KSQL_URL" -e "$1" | tee "$WORK/ksql.out"; }
ksql "show topics;";      grep -q "psg-customers" "$WORK/ksql.out" || fail "show topics"
ksql "show connectors;";  grep -q "RUNNING" "$WORK/ksql.out" || fail "show connectors"
ksql "print psg-customers limit 2;"
ksql "create stream custstream WITH (kafka_topic='psg-customers', value_format='AVRO');"
grep -q "Stream created" "$WORK/ksql.out" || fail "create stream"
ksql "show streams;";     grep -q "CUSTSTREAM" "$WORK/ksql.out" || fail "show streams"
ksql "SET 'auto.offset.reset'='earliest'; select nome, telefone, email,
TIMESTAMPTOSTRING(nascimento, 'yyyy-MM-dd', 'UTC') as dt_nascimento,
TIMESTAMPTOSTRING(dt_update, 'yyyy-MM-dd HH:mm:ss.SSS', 'UTC') as dt_updt_conv
from custstream emit changes limit 3;"
grep -q "DT_UPDT_CONV" "$WORK/ksql.out" || fail "the seed's select"
# The exercise goes on: a stream classified with CASE, delivered to the lake too.
ksql "SET 'auto.offset.reset'='earliest'; CREATE STREAM custgender AS SELECT nome, email,
CASE WHEN sexo = 'F' THEN 'feminino' ELSE 'masculino' END AS genero FROM custstream EMIT CHANGES;"
grep -q "Created query" "$WORK/ksql.out" || fail "CREATE STREAM AS SELECT"

# The lake: Confluent's S3 sink config, Parquet into a local folder.
LAKE="$WORK/lake"
step "curl -X POST … $CONNECT/connectors   (S3SinkConnector, Parquet into $LAKE)"
curl -sf -X POST -H "Content-Type: application/json" "$CONNECT/connectors" --data @- <<JSON || fail "lake sink refused"
{"name": "lake", "config": {
  "connector.class": "io.confluent.connect.s3.S3SinkConnector",
  "topics": "psg-customers,CUSTGENDER", "flush.size": 250, "rotate.schedule.interval.ms": 1000,
  "format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
  "s3.bucket.name": "datalake", "store.url": "file://$LAKE"}}
JSON
echo

wait "$GENERATOR"
# Every row of the table must reach the lake, through both paths.
python3 - "$PG_URL" "$LAKE" <<'PY' || fail "the lake does not hold the table's rows"
import sys, time, glob
import duckdb, psycopg
pg_url, lake = sys.argv[1:]
with psycopg.connect(pg_url) as conn:
    table = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
def lake_rows(topic):
    files = glob.glob(f"{lake}/datalake/topics/{topic}/*/*.parquet")
    if not files:
        return 0
    return duckdb.sql(f"SELECT count(*) FROM read_parquet({files!r})").fetchall()[0][0]
deadline = time.time() + 90
while True:
    got = {t: lake_rows(t) for t in ("psg-customers", "CUSTGENDER")}
    if all(v == table for v in got.values()) or time.time() > deadline:
        break
    time.sleep(0.5)
print(f"rows in table customers: {table}; rows in the lake: "
      + ", ".join(f"{t}: {v}" for t, v in got.items()))
assert all(v == table for v in got.values()), got
PY
echo "seed steps 4-8 and the lake: OK ($ROWS rows)"
