"""creek's Kafka Connect REST API beside a real Apache Kafka Connect 4.4.0 worker.

Both get the same sequence of REST calls and must answer with the same shapes: the
HTTP status, and for JSON bodies the keys of every object and the JSON type of every
value (lists by the shape of their elements; `null` stands for any type). Values that
legitimately differ are not compared: the connectors differ (the worker runs two small
connectors built from tests/java/connect-peer against Apache Kafka's connect-api,
since the worker's own test connectors are not published in a jar this test can fetch;
creek runs its JDBC source and S3 sink), and so do connector configs, offsets and
plug-in lists; objects whose keys are data (configs, `?expand=` answers keyed by
connector, `/topics`) are compared as maps, and source partitions and offsets as opaque
objects. Error answers must have Connect's body `{"error_code": N, "message": "..."}`.

The worker is a plain JVM (`ConnectDistributed`, distributed mode, JsonConverter) on
a one-node Kafka started by scripts/kafka.sh; creek is `creek up` with its embedded
broker. Three short lists below name where creek's answer differs, and why (what creek
does not have yet, 400 where Connect answers 500, creek's documented extra key);
anything else that differs fails the test, and the failure lists every difference at
once (the whole transcript is written next to the logs). Missing jars, a missing JDK or missing
PostgreSQL binaries fail the run; they are never a skip.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from creekutil import KAFKA_SH, REPO, CreekServer, creek_bin, free_port, kafka_libs
from pgutil import TempPostgres

JAVA_SOURCES = sorted((REPO / "tests" / "java" / "connect-peer").glob("*.java"))
LOG_CONFIG = REPO / "scripts" / "kafka" / "log4j2.properties"
WORKER_READY_TIMEOUT = 120.0
SETTLE_TIMEOUT = 30.0

# Calls where creek has no such feature yet: creek must answer 501 with Connect's
# error body and a message starting "not supported yet:", never a fake success.
KNOWN_EXCEPTIONS = {
    "PATCH offsets (stopped)": "altering a connector's offsets (KIP-875) is not supported "
                               "yet; creek answers 501",
    "DELETE offsets (stopped)": "resetting a connector's offsets (KIP-875) is not supported "
                                "yet; creek answers 501",
    "GET /admin/loggers": "changing log levels at runtime is not supported yet (creek's "
                          "levels come from RUST_LOG at start); creek answers 501",
}

# Calls where Connect 4.4.0 answers 500 to a request that is at fault (Jackson's parse
# error, or a BadRequestException wrapped on its way out): creek answers 400 with the
# same error body. The value is creek's status.
DELIBERATE_STATUS = {
    "POST /connectors (malformed JSON)": 400,
    "PUT validate (unknown class)": 400,
    "PUT validate (no connector.class)": 400,
}

# Keys creek adds on purpose (documented in README.md): each validated value's
# `warnings` list beside `errors` (keys accepted without effect, unknown keys).
CREEK_EXTRA_KEYS = {("$.configs[].value", "warnings")}


# ------------------------------------------------------------------------ shapes
def _kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    return "object"


def shape(v, path="$", maps=frozenset(), opaque=frozenset()) -> dict:
    """The shape of a JSON value: {"kinds": set, "keys": {k: shape}, "items": shape,
    "values": shape}. Objects at `maps` paths (or under a `config` key) have data as
    keys: their values' shapes are merged; objects at `opaque` paths are not looked
    into."""
    kind = _kind(v)
    out = {"kinds": {kind}, "keys": {}, "items": None, "values": None}
    if kind == "list":
        for item in v:
            out["items"] = merge(out["items"], shape(item, f"{path}[]", maps, opaque))
    elif kind == "object":
        if path in opaque:
            out["kinds"] = {"object(opaque)"}
        elif path in maps or path.endswith(".config"):
            out["kinds"] = {"map"}
            for item in v.values():
                out["values"] = merge(out["values"], shape(item, f"{path}.*", maps, opaque))
        else:
            out["keys"] = {k: shape(item, f"{path}.{k}", maps, opaque) for k, item in v.items()}
    return out


def merge(a, b):
    if a is None:
        return b
    if b is None:
        return a
    keys = dict(a["keys"])
    for k, s in b["keys"].items():
        keys[k] = merge(keys.get(k), s)
    return {"kinds": a["kinds"] | b["kinds"], "keys": keys,
            "items": merge(a["items"], b["items"]), "values": merge(a["values"], b["values"])}


def compare(worker, creek, path="$") -> list[str]:
    """Differences between two shapes; empty lists, empty maps and nulls match any."""
    diffs = []
    wk, ck = worker["kinds"] - {"null"}, creek["kinds"] - {"null"}
    if wk and ck and wk != ck:
        return [f"{path}: worker has {'/'.join(sorted(wk))}, creek {'/'.join(sorted(ck))}"]
    if "object" in wk and "object" in ck:
        for k in sorted(worker["keys"].keys() - creek["keys"].keys()):
            diffs.append(f"{path}: key {k!r} missing in creek")
        for k in sorted(creek["keys"].keys() - worker["keys"].keys()):
            if (path, k) not in CREEK_EXTRA_KEYS:
                diffs.append(f"{path}: creek has an extra key {k!r}")
        for k in sorted(worker["keys"].keys() & creek["keys"].keys()):
            diffs += compare(worker["keys"][k], creek["keys"][k], f"{path}.{k}")
    for part, suffix in (("items", "[]"), ("values", ".*")):
        if worker[part] is not None and creek[part] is not None:
            diffs += compare(worker[part], creek[part], path + suffix)
    return diffs


def test_shape_comparison_itself():
    """The comparison finds missing, extra and retyped keys and ignores values."""
    w = {"a": 1, "b": [{"x": "s", "y": None}], "config": {"k": "v"}, "gone": True}
    c = {"a": 2, "b": [{"x": 3, "y": "t"}], "config": {"other": "w"}, "new": 1}
    assert compare(shape(w), shape(c)) == [
        "$: key 'gone' missing in creek", "$: creek has an extra key 'new'",
        "$.b[].x: worker has string, creek integer"]
    assert compare(shape({"l": []}), shape({"l": [{"any": 1}]})) == []
    assert compare(shape({"m": {"t1": [1]}}, maps={"$.m"}),
                   shape({"m": {"t2": [2]}}, maps={"$.m"})) == []


# ------------------------------------------------------------------------- peers
class Side:
    """One Connect REST API and the connector configs it is given."""

    def __init__(self, name: str, url: str, names: dict, configs: dict):
        self.name, self.url, self.names, self.configs = name, url, names, configs

    def call(self, method: str, path: str, body=None, raw: str | None = None):
        """(status, parsed body or None for an empty one). The real worker answers 409
        while it rebalances after a change: such a call is retried."""
        deadline = time.monotonic() + 30
        while True:
            kwargs = {"timeout": 60}
            if raw is not None:
                kwargs.update(data=raw, headers={"Content-Type": "application/json"})
            elif body is not None:
                kwargs["json"] = body
            r = requests.request(method, self.url + path, **kwargs)
            parsed = None
            if r.content:
                try:
                    parsed = r.json()
                except ValueError:
                    parsed = f"<not JSON: {r.text[:200]!r}>"
            rebalancing = (r.status_code == 409 and isinstance(parsed, dict)
                           and "already exists" not in str(parsed.get("message")))
            if not rebalancing or time.monotonic() > deadline:
                return r.status_code, parsed
            time.sleep(0.25)

    def status(self, connector: str):
        code, body = self.call("GET", f"/connectors/{connector}/status")
        return body if code == 200 else None


def _stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM the process group we started, then SIGKILL after 20 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"<cannot read {path}: {e}>"


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    """(worker side, creek side), both with no connector yet."""
    work = tmp_path_factory.mktemp("connect-peer")
    jars = f"{kafka_libs()}/*"
    classes = work / "classes"
    javac = subprocess.Popen(["javac", "-Xlint:all", "-Werror", "-cp", jars, "-d", str(classes),
                              *map(str, JAVA_SOURCES)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cluster = work / "kafka"
    worker_proc = creek = pg = None
    try:
        started = subprocess.run([str(KAFKA_SH), "start", str(cluster)], capture_output=True,
                                 text=True, timeout=300)
        if started.returncode != 0:
            pytest.fail(f"scripts/kafka.sh start failed (exit {started.returncode}); Apache "
                        f"Kafka is required (scripts/install-deps.sh fetches it):\n"
                        f"{started.stdout}\n{started.stderr}", pytrace=False)
        bootstrap = started.stdout.split()[-1]
        out, _ = javac.communicate(timeout=300)
        if javac.returncode != 0:
            pytest.fail(f"javac failed:\n{out}", pytrace=False)
        # The connectors are found through ServiceLoader manifests (plugin.discovery=
        # service_load: no scan of the whole classpath, a faster start).
        services = classes / "META-INF" / "services"
        services.mkdir(parents=True)
        (services / "org.apache.kafka.connect.source.SourceConnector").write_text(
            "dev.creek.peer.PeerSourceConnector\n")
        (services / "org.apache.kafka.connect.sink.SinkConnector").write_text(
            "dev.creek.peer.PeerSinkConnector\n")
        port = free_port()
        props = work / "worker.properties"
        props.write_text("\n".join([
            f"bootstrap.servers={bootstrap}",
            "group.id=creek-peer-test",
            "config.storage.topic=peer-connect-configs",
            "offset.storage.topic=peer-connect-offsets",
            "status.storage.topic=peer-connect-status",
            "config.storage.replication.factor=1",
            "offset.storage.replication.factor=1",
            "status.storage.replication.factor=1",
            f"listeners=http://127.0.0.1:{port}",
            "rest.advertised.host.name=127.0.0.1",
            "key.converter=org.apache.kafka.connect.json.JsonConverter",
            "value.converter=org.apache.kafka.connect.json.JsonConverter",
            "plugin.discovery=service_load",
            "offset.flush.interval.ms=500",
        ]) + "\n")
        worker_log = work / "worker.log"
        with open(worker_log, "wb") as log:
            worker_proc = subprocess.Popen(
                ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                 "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={LOG_CONFIG}",
                 "-cp", os.pathsep.join([str(classes), jars]),
                 "org.apache.kafka.connect.cli.ConnectDistributed", str(props)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

        # creek and its PostgreSQL start while the JVM does.
        pg = TempPostgres().start()
        subprocess.run([str(creek_bin()), "fake", "-cs", pg.connection_string, "-n", "5",
                        "--interval", "0", "--total", "5", "--silent"],
                       check=True, capture_output=True, timeout=120)
        creek = CreekServer(work / "creek", name="creek-peer").start()
        lake = work / "lake"

        worker_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while True:
            if worker_proc.poll() is not None:
                pytest.fail(f"the Connect worker exited with code {worker_proc.returncode}:\n"
                            f"{_tail(worker_log)}", pytrace=False)
            try:
                plugins = requests.get(f"{worker_url}/connector-plugins", timeout=5)
                if plugins.status_code == 200 and len(plugins.json()) == 2:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the Connect worker did not answer within {WORKER_READY_TIMEOUT:.0f}"
                            f" s:\n{_tail(worker_log)}", pytrace=False)
            time.sleep(0.25)

        worker_side = Side("worker", worker_url, {
            "source_class": "dev.creek.peer.PeerSourceConnector",
            "sink_class": "dev.creek.peer.PeerSinkConnector",
        }, {
            "src": {"connector.class": "dev.creek.peer.PeerSourceConnector", "tasks.max": "1",
                    "topic": "peer-src", "poll.interval.ms": "200"},
            "snk": {"connector.class": "dev.creek.peer.PeerSinkConnector", "tasks.max": "1",
                    "topics": "peer-src", "flush.size": "1"},
            "bad_snk": {"flush.size": "zero"},
        })
        creek_side = Side("creek", creek.connect_url, {
            "source_class": "io.confluent.connect.jdbc.JdbcSourceConnector",
            "sink_class": "io.confluent.connect.s3.S3SinkConnector",
        }, {
            "src": {"connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
                    "tasks.max": "1", "connection.url": pg.jdbc_url,
                    "connection.user": "postgres", "mode": "timestamp",
                    "timestamp.column.name": "dt_update", "table.whitelist": "public.customers",
                    "topic.prefix": "psg-", "validate.non.null": "false",
                    "poll.interval.ms": "200"},
            "snk": {"connector.class": "io.confluent.connect.s3.S3SinkConnector",
                    "tasks.max": "1", "topics": "psg-customers", "flush.size": "1",
                    "format.class": "io.confluent.connect.s3.format.json.JsonFormat",
                    "s3.bucket.name": "peer", "store.url": f"file://{lake}"},
            "bad_snk": {"flush.size": "ten"},
        })
        yield worker_side, creek_side, work, worker_log, creek
    finally:
        if worker_proc is not None:
            _stop_process(worker_proc)
        if javac.poll() is None:
            javac.kill()
            javac.wait(10)
        try:
            if creek is not None:
                creek.dispose()
        finally:
            if pg is not None:
                pg.close()
            subprocess.run([str(KAFKA_SH), "stop", str(cluster)], timeout=60)


# ------------------------------------------------------------------------ the run
class Comparison:
    """Sends each call to both sides and collects every difference."""

    def __init__(self, worker: Side, creek: Side, transcript: Path):
        self.worker, self.creek = worker, creek
        self.diffs: list[str] = []
        self.transcript = open(transcript, "w")

    def call(self, label, method, path, body=None, raw=None, maps=(), opaque=(),
             status=None):
        """`path` may name {source_class} or {sink_class}; a callable body is called
        with the side. `status`: what the worker must answer (the test's own check)."""
        answers = {}
        for side in (self.worker, self.creek):
            p = path.format(**side.names)
            b = body(side) if callable(body) else body
            answers[side.name] = side.call(method, p, body=b, raw=raw)
        (w_code, w_body), (c_code, c_body) = answers["worker"], answers["creek"]
        self.transcript.write(json.dumps({"call": label, "request": f"{method} {path}",
                                          "worker": [w_code, w_body],
                                          "creek": [c_code, c_body]}) + "\n")
        where = f"{label} ({method} {path})"

        def show(b):
            return json.dumps(b)[:400]

        if label in KNOWN_EXCEPTIONS:
            ok = (c_code == 501 and isinstance(c_body, dict)
                  and str(c_body.get("message", "")).startswith("not supported yet:"))
            if not ok:
                self.diffs.append(f"{where}: known exception, so creek must answer 501 \"not "
                                  f"supported yet: ...\"; it answered {c_code} {show(c_body)}")
            return answers
        expected = DELIBERATE_STATUS.get(label, w_code)
        if c_code != expected:
            self.diffs.append(f"{where}: status: worker {w_code}, creek {c_code}"
                              f"{'' if expected == w_code else f' (expected {expected})'}\n"
                              f"    worker: {show(w_body)}\n    creek:  {show(c_body)}")
        if status is not None and w_code != status:
            self.diffs.append(f"{where}: the worker answered {w_code}, not {status} as the test "
                              f"expects: {show(w_body)}")
        if (w_body is None) != (c_body is None):
            self.diffs.append(f"{where}: body: worker {show(w_body)}, creek {show(c_body)}")
            return answers
        if c_code >= 400:
            if not (isinstance(c_body, dict) and set(c_body) == {"error_code", "message"}
                    and c_body["error_code"] == c_code and isinstance(c_body["message"], str)):
                self.diffs.append(f"{where}: creek's error body is not Connect's "
                                  f"{{\"error_code\": {c_code}, \"message\": ...}}: {show(c_body)}")
        if w_body is not None and c_body is not None:
            for d in compare(shape(w_body, maps=set(maps), opaque=set(opaque)),
                             shape(c_body, maps=set(maps), opaque=set(opaque))):
                self.diffs.append(f"{where}: {d}")
        return answers


def wait_for(run: Comparison, label: str, predicate, timeout=SETTLE_TIMEOUT):
    """Waits until predicate(side) holds on both sides; a side that never gets there
    is a difference (the comparison goes on)."""
    def holds(side):
        try:
            return predicate(side)
        except (KeyError, TypeError, IndexError):  # an answer of another shape
            return False

    deadline = time.monotonic() + timeout
    pending = [run.worker, run.creek]
    while pending:
        pending = [s for s in pending if not holds(s)]
        if pending and time.monotonic() > deadline:
            for side in pending:
                run.diffs.append(f"timed out after {timeout:.0f} s waiting for {label} on "
                                 f"{side.name}")
            return
        if pending:
            time.sleep(0.25)


def states(connector, connector_state, task_state=None, tasks=None):
    """A predicate: the connector is in `connector_state`, and each of its tasks (at
    least one, or exactly `tasks`) in `task_state`."""
    def check(side):
        s = side.status(connector)
        if s is None or s["connector"]["state"] != connector_state:
            return False
        if tasks is not None:
            return len(s["tasks"]) == tasks
        return bool(s["tasks"]) and all(t["state"] == task_state for t in s["tasks"])
    return check


def test_connect_rest_answers_have_the_workers_shapes(peers):
    worker, creek, work, worker_log, creek_server = peers
    run = Comparison(worker, creek, work / "transcript.jsonl")

    def named(name):
        return lambda side: {"name": name, "config": side.configs[name]}

    def config_of(key, extra=None):
        return lambda side: dict(side.configs[key], **(extra or {}))

    def bad_sink(side):
        return dict(side.configs["snk"], **side.configs["bad_snk"])

    # The worker, its plug-ins and validation, before any connector.
    run.call("GET /", "GET", "/", status=200)
    run.call("GET /health", "GET", "/health", status=200)
    run.call("GET /connectors (none)", "GET", "/connectors", status=200)
    run.call("GET /connector-plugins", "GET", "/connector-plugins", status=200)
    run.call("GET /connector-plugins?connectorsOnly=false", "GET",
             "/connector-plugins?connectorsOnly=false", status=200)
    run.call("GET /connector-plugins/{class}/config", "GET",
             "/connector-plugins/{sink_class}/config", status=200)
    run.call("GET /connector-plugins/{unknown}/config", "GET",
             "/connector-plugins/org.example.Nope/config", status=404)
    run.call("PUT validate (valid)", "PUT", "/connector-plugins/{sink_class}/config/validate",
             body=lambda side: dict(side.configs["snk"], name="v"), status=200)
    run.call("PUT validate (errors)", "PUT", "/connector-plugins/{sink_class}/config/validate",
             body=lambda side: dict(bad_sink(side), name="v"), status=200)
    run.call("PUT validate (unknown class)", "PUT",
             "/connector-plugins/org.example.Nope/config/validate",
             body={"connector.class": "org.example.Nope"})
    run.call("PUT validate (no connector.class)", "PUT",
             "/connector-plugins/{sink_class}/config/validate", body={"topics": "t"})

    # Creation and its errors.
    run.call("POST /connectors (source)", "POST", "/connectors", body=named("src"), status=201)
    run.call("POST /connectors (sink)", "POST", "/connectors", body=named("snk"), status=201)
    run.call("POST /connectors (duplicate)", "POST", "/connectors", body=named("snk"),
             status=409)
    run.call("POST /connectors (malformed JSON)", "POST", "/connectors", raw='{"name": "bad",')
    run.call("POST /connectors (no connector.class)", "POST", "/connectors",
             body={"name": "x", "config": {"tasks.max": "1"}}, status=400)
    run.call("POST /connectors (unknown class)", "POST", "/connectors",
             body={"name": "x", "config": {"connector.class": "org.example.Nope"}}, status=400)
    run.call("POST /connectors (invalid config)", "POST", "/connectors",
             body=lambda side: {"name": "x", "config": bad_sink(side)}, status=400)

    # Running connectors: tasks RUNNING, records moving (active topics, offsets).
    wait_for(run, "src and snk RUNNING",
             lambda s: states("src", "RUNNING", "RUNNING")(s)
             and states("snk", "RUNNING", "RUNNING")(s))

    def used_topics_and_committed(side):
        for name in ("src", "snk"):
            if side.call("GET", f"/connectors/{name}/topics")[1][name]["topics"] == []:
                return False
            if side.call("GET", f"/connectors/{name}/offsets")[1]["offsets"] == []:
                return False
        return True
    wait_for(run, "active topics and offsets of src and snk", used_topics_and_committed)

    run.call("GET /connectors", "GET", "/connectors", status=200)
    run.call("GET /connectors?expand=status&expand=info", "GET",
             "/connectors?expand=status&expand=info", maps={"$"}, status=200)
    run.call("GET /connectors?expand=status", "GET", "/connectors?expand=status",
             maps={"$"}, status=200)
    run.call("GET /connectors?expand=info", "GET", "/connectors?expand=info", maps={"$"},
             status=200)
    for name in ("src", "snk"):
        run.call(f"GET /connectors/{name}", "GET", f"/connectors/{name}", status=200)
        run.call(f"GET /connectors/{name}/config", "GET", f"/connectors/{name}/config",
                 maps={"$"}, status=200)
        run.call(f"GET /connectors/{name}/status", "GET", f"/connectors/{name}/status",
                 status=200)
        run.call(f"GET /connectors/{name}/tasks", "GET", f"/connectors/{name}/tasks",
                 status=200)
        run.call(f"GET /connectors/{name}/tasks/0/status", "GET",
                 f"/connectors/{name}/tasks/0/status", status=200)
        run.call(f"GET /connectors/{name}/topics", "GET", f"/connectors/{name}/topics",
                 maps={"$"}, status=200)
        run.call(f"GET /connectors/{name}/offsets", "GET", f"/connectors/{name}/offsets",
                 opaque={"$.offsets[].partition", "$.offsets[].offset"}, status=200)
    run.call("GET /connectors/snk/tasks/9/status", "GET", "/connectors/snk/tasks/9/status",
             status=404)

    # Config changes.
    run.call("PUT /connectors/snk/config (update)", "PUT", "/connectors/snk/config",
             body=config_of("snk", {"flush.size": "3"}), status=200)
    run.call("PUT /connectors/new1/config (create)", "PUT", "/connectors/new1/config",
             body=config_of("snk"), status=201)
    run.call("PUT /connectors/snk/config (invalid)", "PUT", "/connectors/snk/config",
             body=bad_sink, status=400)
    run.call("PUT /connectors/snk/config (other name)", "PUT", "/connectors/snk/config",
             body=config_of("snk", {"name": "other"}), status=400)
    run.call("PATCH /connectors/snk/config", "PATCH", "/connectors/snk/config",
             body={"flush.size": "2"}, status=200)
    run.call("PATCH /connectors/snk/config (remove a key)", "PATCH", "/connectors/snk/config",
             body={"tasks.max": None}, status=200)
    run.call("PATCH /connectors/nope/config", "PATCH", "/connectors/nope/config",
             body={"flush.size": "2"}, status=404)
    run.call("POST /connectors/snk/config (wrong method)", "POST", "/connectors/snk/config",
             body={}, status=405)
    wait_for(run, "snk RUNNING after its changes", states("snk", "RUNNING", "RUNNING"))

    # Pause, resume, restart.
    run.call("PUT pause", "PUT", "/connectors/snk/pause", status=202)
    wait_for(run, "snk PAUSED", states("snk", "PAUSED", "PAUSED"))
    run.call("GET status (paused)", "GET", "/connectors/snk/status", status=200)
    run.call("PUT resume", "PUT", "/connectors/snk/resume", status=202)
    wait_for(run, "snk RUNNING after resume", states("snk", "RUNNING", "RUNNING"))
    run.call("GET status (resumed)", "GET", "/connectors/snk/status", status=200)
    run.call("POST restart", "POST", "/connectors/snk/restart", status=204)
    wait_for(run, "snk RUNNING after restart", states("snk", "RUNNING", "RUNNING"))
    run.call("POST restart?includeTasks=true&onlyFailed=false", "POST",
             "/connectors/snk/restart?includeTasks=true&onlyFailed=false", status=202)
    wait_for(run, "snk RUNNING after restart", states("snk", "RUNNING", "RUNNING"))
    run.call("POST restart?includeTasks=true&onlyFailed=true", "POST",
             "/connectors/snk/restart?includeTasks=true&onlyFailed=true", status=202)
    run.call("POST restart?includeTasks=false&onlyFailed=false", "POST",
             "/connectors/snk/restart?includeTasks=false&onlyFailed=false", status=204)
    wait_for(run, "snk RUNNING after restart", states("snk", "RUNNING", "RUNNING"))
    run.call("POST tasks/0/restart", "POST", "/connectors/snk/tasks/0/restart", status=204)
    run.call("POST tasks/9/restart", "POST", "/connectors/snk/tasks/9/restart", status=404)
    wait_for(run, "snk RUNNING after its task restart", states("snk", "RUNNING", "RUNNING"))

    # Stop, and offsets that only a stopped connector may change.
    offsets = {"offsets": [{"partition": {"kafka_topic": "t", "kafka_partition": 0},
                            "offset": {"kafka_offset": 0}}]}
    run.call("PATCH offsets (running)", "PATCH", "/connectors/src/offsets", body=offsets,
             status=400)
    run.call("DELETE offsets (running)", "DELETE", "/connectors/src/offsets", status=400)
    run.call("PUT stop", "PUT", "/connectors/src/stop", status=204)
    wait_for(run, "src STOPPED", states("src", "STOPPED", tasks=0))
    run.call("GET status (stopped)", "GET", "/connectors/src/status", status=200)
    run.call("GET /connectors/src (stopped)", "GET", "/connectors/src", status=200)
    run.call("GET /connectors/src/tasks (stopped)", "GET", "/connectors/src/tasks",
             status=200)
    run.call("PATCH offsets (stopped)", "PATCH", "/connectors/src/offsets", body=offsets)
    run.call("DELETE offsets (stopped)", "DELETE", "/connectors/src/offsets")
    run.call("PUT resume (stopped)", "PUT", "/connectors/src/resume", status=202)
    wait_for(run, "src RUNNING after stop", states("src", "RUNNING", "RUNNING"))
    run.call("PUT topics/reset", "PUT", "/connectors/src/topics/reset", status=202)
    run.call("GET topics (reset)", "GET", "/connectors/src/topics", maps={"$"}, status=200)

    # A connector that does not exist, and paths that do not.
    for method, path, status in [("GET", "", 404), ("GET", "/config", 404),
                                 ("GET", "/status", 404), ("GET", "/tasks", 404),
                                 ("GET", "/topics", 200), ("GET", "/offsets", 404),
                                 ("PUT", "/pause", 404), ("PUT", "/resume", 404),
                                 ("PUT", "/stop", 404), ("POST", "/restart", 404),
                                 ("DELETE", "", 404)]:
        run.call(f"{method} /connectors/nope{path}", method, f"/connectors/nope{path}",
                 maps={"$"}, status=status)
    run.call("GET /no/such/path", "GET", "/no/such/path", status=404)
    run.call("GET /admin/loggers", "GET", "/admin/loggers")

    # Deletion.
    run.call("DELETE /connectors/snk", "DELETE", "/connectors/snk", status=204)
    run.call("DELETE /connectors/snk (again)", "DELETE", "/connectors/snk", status=404)
    run.call("GET /connectors/snk/topics (deleted)", "GET", "/connectors/snk/topics",
             maps={"$"}, status=200)
    run.call("DELETE /connectors/src", "DELETE", "/connectors/src", status=204)
    run.call("DELETE /connectors/new1", "DELETE", "/connectors/new1", status=204)
    run.call("GET /connectors (all deleted)", "GET", "/connectors", status=200)
    run.transcript.close()

    assert not run.diffs, (
        f"{len(run.diffs)} difference(s) between creek's Connect REST API and Apache Kafka "
        f"Connect 4.4.0's (known exceptions: {sorted(KNOWN_EXCEPTIONS)}):\n"
        + "\n".join(f"- {d}" for d in run.diffs)
        + f"\n(every call and both answers: {work / 'transcript.jsonl'}; worker log: "
        f"{worker_log}; creek log: {creek_server.log_path})")
