#!/usr/bin/env python3
"""creek on a three-broker Apache Kafka 4.4.0 cluster, one broker SIGKILLed mid-way.

Usage: tests/e2e/kafka-failover.py [--rows N] [--records N]     (CREEK_BIN: the creek
binary, default the debug build under $CARGO_TARGET_DIR or ./target)

1. scripts/kafka.sh starts three combined broker+controller nodes (replication factor
   3, min.insync.replicas 2) on free loopback ports; a throwaway PostgreSQL starts
   (tests/python/pgutil.py).
2. `creek up --bootstrap-servers … --replication-factor 3 --connect-property
   exactly.once.source.support=enabled` runs the registry, Connect and ksqlDB on it.
3. The seed's whole pipeline, exactly once: `creek fake` fills PostgreSQL (200 rows,
   then N more with -n 20 --interval 0.05), the seed's JDBC source copies them into
   `psg-customers` as Avro (each chunk and its offset in one Kafka transaction); a
   stream over it, a CSAS (CUSTGENDER) and a windowed CTAS (PER_SEX: COUNT per sexo,
   TUMBLING 1 HOUR) run with processing.guarantee=exactly_once_v2; the lake sink
   (Confluent's S3 sink config, ParquetFormat, store.url file://…) writes
   `psg-customers` and CUSTGENDER as Parquet.
4. Beside it, ksqlDB's default guarantee (at least once) on plain JSON: a stream over
   `events`, a CSAS keeping every event (KEPT) and a CTAS counting per key (PER_KEY),
   fed by an idempotent acks=all producer that waits at half of its events for the
   kill and writes the rest after it.
5. Once rows have reached the lake through CUSTGENDER and while the generator still
   writes, the broker leading `psg-customers` is killed with SIGKILL; it stays down.
6. Then: every row of the PostgreSQL table is in the lake exactly once, through
   `psg-customers` and through CUSTGENDER (compared row by row, as multisets); the
   newest window counts add up to the table; every acknowledged event is in KEPT
   exactly once and every key's final count equals the events sent for it; creek
   still runs, every query is RUNNING and both connectors and their tasks are RUNNING.

Every check runs; exit 0 and "kafka failover: OK" when all hold, otherwise
"kafka failover: FAILED:" with one line per check that failed and the end of creek's
log (waiting stops early once the query a check waits for is in ERROR, which it never
leaves). Every process (the Kafka JVMs, creek, PostgreSQL, the generator) is stopped
on every way out, SIGTERM and Ctrl-C included; the work dir with the logs is kept and
printed. About two minutes; not in CI, named in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

REPO = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO / "scripts" / "kafka.sh"
sys.path.insert(0, str(REPO / "tests" / "python"))
from creekutil import window_counts  # noqa: E402
from pgutil import TempPostgres  # noqa: E402
from test_jdbc_source import seed_connector  # noqa: E402

KEYS = [f"k{i}" for i in range(10)]
FIRST_ROWS = 200  # written before the connector starts: the table exists
KILL_AFTER = 200  # CSAS rows in the lake before the broker is killed
EOS = {"auto.offset.reset": "earliest", "processing.guarantee": "exactly_once_v2"}
AT_LEAST_ONCE = {"auto.offset.reset": "earliest"}


class Failed(Exception):
    pass


def fail(why: str) -> None:
    raise Failed(why)


def http(method: str, url: str, body: dict | None = None, timeout: float = 60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def ksql(url: str, statement: str, properties: dict) -> None:
    status, text = http("POST", f"{url}/ksql", {"ksql": statement,
                                                "streamsProperties": properties})
    if status != 200:
        fail(f"{statement}: HTTP {status}: {text}")


def queries(url: str) -> list:
    """SHOW QUERIES: each persistent query's id and state."""
    code, text = http("POST", f"{url}/ksql", {"ksql": "SHOW QUERIES;", "streamsProperties": {}})
    if code != 200:
        fail(f"SHOW QUERIES: HTTP {code}: {text}")
    return json.loads(text)[0]["queries"]


def query_down(url: str, sink: str) -> str | None:
    """Why the persistent query writing `sink` cannot go on (a failed query stays
    failed until terminated), or None while it runs."""
    try:
        running = queries(url)
    except OSError as e:  # URLError included: creek is gone
        return f"creek's ksqlDB does not answer ({e})"
    for q in running:
        if sink in q.get("sinks", []) and q.get("state") != "RUNNING":
            return f"query {q.get('id')} is {q.get('state')}"
    return None


def wait_until(check, timeout: float, what: str, interval: float = 0.5,
               give_up=None) -> None:
    """Waits for `check()`; fails after `timeout`, or as soon as `give_up()` names
    a reason it never will."""
    deadline = time.monotonic() + timeout
    while not check():
        reason = give_up() if give_up else None
        if reason:
            fail(f"gave up waiting for {what}: {reason}")
        if time.monotonic() > deadline:
            fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def lake_tables(lake: Path, topic: str) -> list:
    return [pq.read_table(f) for f in sorted(lake.glob(f"datalake/topics/{topic}/*/*.parquet"))]


def lake_count(lake: Path, topic: str) -> int:
    try:
        return sum(t.num_rows for t in lake_tables(lake, topic))
    except Exception:  # noqa: BLE001 - a file being written: not there yet
        return 0


def lake_rows(lake: Path, topic: str, columns: list[str]) -> Counter:
    """The lake's rows of `topic` as a multiset of tuples of `columns`."""
    rows = Counter()
    for t in lake_tables(lake, topic):
        rows.update(zip(*(t.column(c).to_pylist() for c in columns)))
    return rows


def read_topic(bootstrap: str, topic: str, until: int, timeout: float,
               give_up=None) -> list:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time()}",
                  "enable.auto.commit": False, "log_level": 2})
    c.assign([TopicPartition(topic, 0, 0)])
    out, deadline = [], time.monotonic() + timeout
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                # Past the expected count and quiet for a while: all is in.
                if len(out) >= until and time.monotonic() - quiet_since > 3:
                    break
                if give_up and time.monotonic() - quiet_since > 5 and give_up():
                    break
                continue
            quiet_since = time.monotonic()
            out.append((m.key().decode() if m.key() else None, json.loads(m.value())))
    finally:
        c.close()
    return out


def leader(bootstrap: str, topic: str) -> int:
    """The node leading partition 0 of `topic`, -1 when the metadata does not say."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        return admin.list_topics(topic, timeout=30).topics[topic].partitions[0].leader
    except (KeyError, KafkaException):
        return -1


class Events(threading.Thread):
    """An idempotent acks=all producer: half of `records` events, then (once the kill
    has happened) the other half; `acked` holds what the cluster acknowledged."""

    def __init__(self, bootstrap: str, records: int, killed: threading.Event,
                 stop: threading.Event):
        super().__init__(daemon=True)
        self.bootstrap, self.records, self.killed, self.stop = bootstrap, records, killed, stop
        self.acked: dict[int, str] = {}
        self.sent = 0
        self.unflushed = -1
        self.lock = threading.Lock()

    def on_delivery(self, err, msg):
        if err is None:
            row = json.loads(msg.value())
            with self.lock:
                self.acked[row["ID"]] = row["K"]

    def run(self):
        # Connection errors to the killed broker are expected: delivery reports
        # say what was acknowledged, so librdkafka's own error lines stay quiet.
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                      "enable.idempotence": True, "linger.ms": 1, "log_level": 2})
        for i in range(self.records):
            if self.stop.is_set():
                break
            if i == self.records // 2:
                while not self.killed.wait(0.2):
                    p.poll(0)
                    if self.stop.is_set():
                        break
            p.produce("events", json.dumps({"ID": i, "K": KEYS[i % len(KEYS)]}).encode(),
                      on_delivery=self.on_delivery)
            self.sent = i + 1
            p.poll(0)
            if i % 100 == 0:
                time.sleep(0.05)
        self.unflushed = p.flush(120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=6000,
                    help="rows the generator writes after the first 200 (default 6000)")
    ap.add_argument("--records", type=int, default=20_000,
                    help="events for the at-least-once queries (default 20000)")
    args = ap.parse_args()
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    creek_bin = os.environ.get("CREEK_BIN") or str(target / "debug" / "creek")
    work = Path(tempfile.mkdtemp(prefix="creek-kafka-failover-"))
    lake = work / "lake"
    env = {**os.environ, "CREEK_KAFKA_HEAP": os.environ.get("CREEK_KAFKA_HEAP", "512m")}
    # SIGTERM (and Ctrl-C) leave through the same clean-up as a failure.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    creek = pg = generator = events = None
    stop_events = threading.Event()
    killed = threading.Event()
    started = time.monotonic()
    status = 1

    def creek_log(lines: int = 40) -> str:
        try:
            text = (work / "creek.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        # Without librdkafka's lines about the killed broker's connections.
        text = [t for t in text if "librdkafka: FAIL" not in t
                and "BrokerTransportFailure" not in t]
        return "\n".join(text[-lines:])

    try:
        out = subprocess.run([str(KAFKA_SH), "start", str(work / "cluster"), "3"],
                             capture_output=True, text=True, env=env, timeout=300)
        if out.returncode != 0:
            fail(f"scripts/kafka.sh start failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
        bootstrap = out.stdout.split()[-1]
        print(f"three brokers at {bootstrap}", flush=True)
        pg = TempPostgres().start()
        print(f"PostgreSQL at {pg.connection_string}", flush=True)
        gen = [creek_bin, "fake", "-cs", pg.connection_string, "--silent"]
        subprocess.run(gen + ["-n", "100", "--interval", "0", "--total", str(FIRST_ROWS)],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([str(KAFKA_SH), "tool", "kafka-topics", "--bootstrap-server", bootstrap,
                        "--create", "--topic", "events", "--partitions", "1",
                        "--replication-factor", "3"], check=True, capture_output=True)

        log = open(work / "creek.log", "w")
        creek = subprocess.Popen(
            [creek_bin, "up", "--data-dir", str(work / "creek"), "--bootstrap-servers", bootstrap,
             "--replication-factor", "3", "--registry-port", "0", "--connect-port", "0",
             "--ksql-port", "0", "--connect-property", "exactly.once.source.support=enabled"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True)
        ready = creek.stdout.readline()
        if not ready.startswith("creek ready"):
            fail(f"creek did not start: {ready}\n{creek_log()}")
        print(ready.strip(), flush=True)
        urls = dict(part.split("=", 1) for part in ready.split(":", 1)[1].split()
                    if "=" in part)
        registry, connect, ksql_url = urls["registry"], urls["connect"], urls["ksql"]

        # The seed's pipeline: source, stream, CSAS, windowed CTAS, lake sink.
        status_code, text = http("POST", f"{connect}/connectors", seed_connector(pg.jdbc_url))
        if status_code != 201:
            fail(f"the seed's JDBC source: HTTP {status_code}: {text}")
        wait_until(lambda: http("GET", f"{registry}/subjects/psg-customers-value/versions/"
                                       "latest", timeout=10)[0] == 200,
                   90, "the source's schema in the registry")
        for statement in [
                "CREATE STREAM custstream WITH (kafka_topic='psg-customers', "
                "value_format='AVRO');",
                "CREATE STREAM custgender AS SELECT nome, email, CASE WHEN sexo = 'F' THEN "
                "'feminino' ELSE 'masculino' END AS genero FROM custstream EMIT CHANGES;",
                "CREATE TABLE per_sex AS SELECT sexo, COUNT(*) AS n FROM custstream "
                "WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY sexo EMIT CHANGES;"]:
            ksql(ksql_url, statement, EOS)
        # ksqlDB's default guarantee beside it, on plain JSON events.
        ksql(ksql_url, "CREATE STREAM events (id INT, k VARCHAR) "
                       "WITH (kafka_topic='events', value_format='JSON');", AT_LEAST_ONCE)
        ksql(ksql_url, "CREATE STREAM kept AS SELECT id, k FROM events EMIT CHANGES;",
             AT_LEAST_ONCE)
        ksql(ksql_url, "CREATE TABLE per_key AS SELECT k, COUNT(*) AS n FROM events "
                       "GROUP BY k EMIT CHANGES;", AT_LEAST_ONCE)
        status_code, text = http("POST", f"{connect}/connectors", {
            "name": "lake", "config": {
                "connector.class": "io.confluent.connect.s3.S3SinkConnector",
                "topics": "psg-customers,CUSTGENDER", "flush.size": 100,
                "rotate.schedule.interval.ms": 1000,
                "format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
                "s3.bucket.name": "datalake", "store.url": f"file://{lake}"}})
        if status_code != 201:
            fail(f"the lake sink: HTTP {status_code}: {text}")

        # Rows flow: the generator into PostgreSQL, the producer into `events`.
        generator = subprocess.Popen(
            gen + ["-n", "20", "--interval", "0.05", "--total", str(args.rows)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        events = Events(bootstrap, args.records, killed, stop_events)
        events.start()
        wait_until(lambda: lake_count(lake, "CUSTGENDER") >= KILL_AFTER or
                   generator.poll() is not None, 180, "the first rows in the lake")
        if generator.poll() is not None:
            fail(f"the generator finished (exit {generator.returncode}) before "
                 f"{KILL_AFTER} rows reached the lake: no kill while rows flow (more --rows?)")
        victim = leader(bootstrap, "psg-customers")
        if victim < 1:
            fail("no leader of psg-customers in the cluster's metadata")
        leaders = {t: leader(bootstrap, t) for t in
                   ("psg-customers", "CUSTGENDER", "PER_SEX", "events", "KEPT", "PER_KEY")}
        subprocess.run([str(KAFKA_SH), "kill", str(work / "cluster"), str(victim)], check=True)
        killed.set()
        with pg.connect() as conn:
            in_table = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        print(f"SIGKILLed broker {victim} (leaders: {leaders}) at "
              f"{time.monotonic() - started:.0f} s, with {lake_count(lake, 'CUSTGENDER')} "
              f"CSAS rows in the lake, {in_table} rows in the table, {events.sent} events "
              f"sent", flush=True)

        try:
            code = generator.wait(300)
        except subprocess.TimeoutExpired:
            fail("the generator did not finish within 300 s of the kill")
        if code != 0:
            fail(f"the generator exited with {code}: {generator.stderr.read().decode()[-2000:]}")
        events.join(300)
        if events.is_alive() or events.unflushed != 0:
            fail("the producer could not deliver every event within 120 s")
        acked = dict(events.acked)
        print(f"generator done; {len(acked)} of {args.records} events acknowledged", flush=True)

        # Every check runs; the run fails naming each one that does not hold.
        failures = []

        # Every row of the table in the lake once, through both topics.
        with pg.connect() as conn:
            table = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
            raw = Counter(conn.execute(
                "SELECT nome, email, telefone, endereco FROM customers").fetchall())
            derived = Counter(conn.execute(
                "SELECT nome, email, CASE WHEN sexo = 'F' THEN 'feminino' ELSE 'masculino' "
                "END FROM customers").fetchall())
        if table != FIRST_ROWS + args.rows:
            failures.append(f"the table holds {table} rows, not {FIRST_ROWS + args.rows}")
        try:
            # (No waiting for CUSTGENDER's rows once its query has failed.)
            wait_until(lambda: lake_count(lake, "psg-customers") >= table
                       and (lake_count(lake, "CUSTGENDER") >= table
                            or query_down(ksql_url, "CUSTGENDER")), 240,
                       "every row of the table in the lake")
            time.sleep(5)  # a duplicate would show up now
        except Failed as e:
            failures.append(str(e))
        for topic, columns, expected in [
                ("psg-customers", ["nome", "email", "telefone", "endereco"], raw),
                ("CUSTGENDER", ["NOME", "EMAIL", "GENERO"], derived)]:
            got = lake_rows(lake, topic, columns)
            missing, extra = expected - got, got - expected
            if missing or extra:
                failures.append(
                    f"the lake's {topic} holds {sum(got.values())} rows for the table's "
                    f"{table}: {sum(missing.values())} missing (e.g. {list(missing)[:2]}), "
                    f"{sum(extra.values())} duplicated or unknown (e.g. {list(extra)[:2]})")
            else:
                print(f"the lake's {topic} holds each of the {table} rows once", flush=True)
        last = {}

        def counts_add_up():
            last["counts"] = window_counts(bootstrap, registry, "PER_SEX")
            return sum(last["counts"].values()) == table
        try:
            wait_until(counts_add_up, 120, "the window counts to add up to the table",
                       interval=2, give_up=lambda: query_down(ksql_url, "PER_SEX"))
            print(f"PER_SEX's window counts add up to {table}", flush=True)
        except Failed as e:
            failures.append(f"{e}: PER_SEX's newest counts sum to "
                            f"{sum(last['counts'].values())}")

        # The at-least-once events: every acknowledged one once, right counts.
        kept = read_topic(bootstrap, "KEPT", len(acked), timeout=180,
                          give_up=lambda: query_down(ksql_url, "KEPT"))
        ids = [v["ID"] for _, v in kept]
        missing = sorted(set(acked) - set(ids))
        dups = len(ids) - len(set(ids))
        if missing:
            failures.append(f"{len(missing)} acknowledged events missing from KEPT "
                            f"(first: {missing[:5]})")
        if dups:
            failures.append(f"{dups} duplicate events in KEPT")
        expected = dict(Counter(acked.values()))
        finals = {k: v["N"] for k, v in read_topic(
            bootstrap, "PER_KEY", 1, timeout=60,
            give_up=lambda: query_down(ksql_url, "PER_KEY"))}
        if finals != expected:
            failures.append(f"PER_KEY's final counts {finals} differ from the events sent "
                            f"{expected}")
        if not missing and not dups and finals == expected:
            print(f"KEPT holds all {len(ids)} events once; PER_KEY counts match", flush=True)

        # creek, its queries and its connectors still run.
        if creek.poll() is not None:
            failures.append(f"creek exited with {creek.returncode}")
        else:
            for q in queries(ksql_url):
                if q.get("state") != "RUNNING":
                    failures.append(f"query {q.get('id')} is {q.get('state')}")
            for name in ("postg-connector", "lake"):
                code, text = http("GET", f"{connect}/connectors/{name}/status", timeout=10)
                states = json.loads(text) if code == 200 else {}
                tasks = [t.get("state") for t in states.get("tasks", [])]
                if states.get("connector", {}).get("state") != "RUNNING" or \
                        tasks != ["RUNNING"]:
                    failures.append(f"connector {name}: HTTP {code} {text[:300]}")
        if failures:
            fail("\n  " + "\n  ".join(failures))
        print(f"creek, its queries and connectors still run "
              f"({time.monotonic() - started:.0f} s)")
        print("kafka failover: OK", flush=True)
        status = 0
    except Failed as e:
        print(f"kafka failover: FAILED: {e}", file=sys.stderr, flush=True)
        if creek is not None:
            print(f"--- last lines of {work / 'creek.log'}\n{creek_log()}", file=sys.stderr)
    except (KeyboardInterrupt, SystemExit):
        print("kafka failover: FAILED: interrupted", file=sys.stderr, flush=True)
        raise
    except Exception as e:  # noqa: BLE001 - a tool or client broke: say what
        import traceback
        traceback.print_exc()
        print(f"kafka failover: FAILED: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
    finally:
        stop_events.set()
        killed.set()
        if generator is not None and generator.poll() is None:
            generator.terminate()
            try:
                generator.wait(10)
            except subprocess.TimeoutExpired:
                generator.kill()
        if creek is not None and creek.poll() is None:
            creek.send_signal(signal.SIGTERM)
            try:
                creek.wait(30)
            except subprocess.TimeoutExpired:
                creek.kill()
                creek.wait(10)
        if events is not None:
            events.join(130)
        if pg is not None:
            pg.close()
        subprocess.run([str(KAFKA_SH), "stop", str(work / "cluster")], check=False)
        print(f"work dir (logs): {work}")
    sys.exit(status)


if __name__ == "__main__":
    main()
