"""Shared helpers for the creek Python integration tests.

Imported by conftest.py and by the test modules (pytest puts this directory on
sys.path because it has no __init__.py, "prepend" import mode).
"""

from __future__ import annotations

import atexit
import os
import queue
import shlex
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
HOST = "127.0.0.1"
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
KCAT = os.environ.get("KCAT", "/usr/bin/kcat")


def creek_bin() -> Path:
    """Path of the creek binary: $CREEK_BIN or <repo>/target/debug/creek."""
    env = os.environ.get("CREEK_BIN")
    return Path(env).resolve() if env else REPO / "target" / "debug" / "creek"


def require_creek_bin() -> Path:
    """Fail loudly (never skip) when the binary is not there."""
    path = creek_bin()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"creek binary not found or not executable at {path}. Build it with "
            f"`cargo build -p creek` or point CREEK_BIN at it.",
            pytrace=False,
        )
    return path


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago and that this process
    has not handed out before: the kernel may offer a just-closed port again, and
    one server's four ports must differ."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def _tail(path: Path, lines: int) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:  # pragma: no cover - debugging aid only
        return f"<cannot read {path}: {e}>"
    text = data[-256 * 1024:].decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


# Every CreekServer that was started and whose fixture has not finished yet.
# conftest.py attaches their log tails to failing test reports.
ACTIVE_SERVERS: list["CreekServer"] = []
_ALL_SERVERS: list["CreekServer"] = []


def _killpg(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of a server we started (start_new_session=True,
    so its group id is its pid). Only our own child and its descendants."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@atexit.register
def _kill_leftovers() -> None:  # never leave brokers behind (e.g. after Ctrl-C)
    for srv in _ALL_SERVERS:
        if srv.proc is not None:
            _killpg(srv.proc)
            try:
                srv.proc.wait(5)
            except Exception:
                pass


class CreekServer:
    """One `creek up` process on free ports with its own data dir."""

    def __init__(self, workdir: Path, name: str = "creek", extra_args=(),
                 extra_ports: bool = True):
        self.name = name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "creek.stderr.log"
        self.extra_args = list(extra_args)
        self.port = free_port()
        # The auxiliary HTTP services get free ports too so that two brokers
        # (e.g. a module-scoped and a function-scoped one) never collide.
        self.aux_ports = {}
        if extra_ports:
            self.aux_ports = {
                "--registry-port": free_port(),
                "--connect-port": free_port(),
                "--ksql-port": free_port(),
            }
        self.proc: subprocess.Popen | None = None
        self.ready_line: str | None = None
        self.stdout_lines: list[str] = []
        self.starts = 0
        self._lines: queue.Queue = queue.Queue()
        _ALL_SERVERS.append(self)

    # ------------------------------------------------------------------ info
    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def registry_url(self) -> str:
        return f"http://{HOST}:{self.aux_ports['--registry-port']}"

    @property
    def connect_url(self) -> str:
        return f"http://{HOST}:{self.aux_ports['--connect-port']}"

    def argv(self) -> list[str]:
        args = [str(require_creek_bin()), "up", "--data-dir", str(self.data_dir),
                "--host", HOST, "--kafka-port", str(self.port)]
        for flag, port in self.aux_ports.items():
            args += [flag, str(port)]
        return args + self.extra_args

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 80) -> str:
        out = [f"$ {shlex.join(self.argv()) if self.proc else '<not started>'}",
               f"--- stdout ({len(self.stdout_lines)} lines) ---"]
        out += self.stdout_lines[-10:]
        out.append(f"--- last {lines} lines of {self.log_path} ---")
        out.append(_tail(self.log_path, lines))
        return "\n".join(out)

    # ------------------------------------------------------------- lifecycle
    def start(self) -> "CreekServer":
        assert not self.is_running(), f"{self.name} is already running"
        self.starts += 1
        self.ready_line = None
        self._lines = queue.Queue()
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== test harness: start #{self.starts} =====\n".encode())
            log.flush()
            env = dict(os.environ)
            env.setdefault("RUST_BACKTRACE", "1")
            self.proc = subprocess.Popen(
                self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=log, env=env, start_new_session=True)
        threading.Thread(target=self._pump_stdout, args=(self.proc, self._lines),
                         daemon=True, name=f"{self.name}-stdout").start()
        if self not in ACTIVE_SERVERS:
            ACTIVE_SERVERS.append(self)
        self._wait_ready()
        return self

    def _pump_stdout(self, proc, lines_q) -> None:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.stdout_lines.append(line)
            lines_q.put(line)
        lines_q.put(None)  # EOF

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._abort(f"no 'creek ready:' line within {READY_TIMEOUT:.0f}s")
            try:
                line = self._lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self._abort("creek closed its stdout before printing 'creek ready:'")
                self._abort(f"creek exited with code {self.proc.returncode} before "
                            f"printing 'creek ready:'")
            if line.startswith("creek ready:"):
                self.ready_line = line
                break
        # On an external cluster (--bootstrap-servers) clients are sent there.
        servers = self.extra_args[self.extra_args.index("--bootstrap-servers") + 1] \
            if "--bootstrap-servers" in self.extra_args else self.bootstrap
        expected = f"kafka={servers}"
        if expected not in self.ready_line:
            self._abort(f"ready line {self.ready_line!r} does not contain {expected!r}")

    def _abort(self, why: str):
        if self.proc is not None:
            _killpg(self.proc)
            self.proc.wait(10)
        pytest.fail(f"{self.name}: {why}\n{self.log_tail()}", pytrace=False)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait, and assert a clean exit (code 0)."""
        assert self.proc is not None, "server was never started"
        if self.proc.poll() is not None:
            pytest.fail(f"{self.name} had already exited with code {self.proc.returncode} "
                        f"before stop()\n{self.log_tail()}", pytrace=False)
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _killpg(self.proc)
            self.proc.wait(10)
            pytest.fail(f"{self.name} did not exit within {timeout}s of SIGTERM "
                        f"(killed)\n{self.log_tail()}", pytrace=False)
        if rc != 0:
            pytest.fail(f"{self.name} exited with code {rc} after SIGTERM (expected 0)"
                        f"\n{self.log_tail()}", pytrace=False)
        return rc

    def kill(self) -> None:
        """SIGKILL: simulate a crash (the whole process group we started)."""
        assert self.proc is not None, "server was never started"
        _killpg(self.proc)
        self.proc.wait(10)

    def restart(self) -> "CreekServer":
        """Start again on the same port and data dir (stops it first if running)."""
        if self.is_running():
            self.stop()
        return self.start()

    def dispose(self) -> None:
        """Fixture teardown: graceful stop (asserting exit 0) if still running."""
        try:
            if self.is_running():
                self.stop()
        finally:
            if self in ACTIVE_SERVERS:
                ACTIVE_SERVERS.remove(self)


# ---------------------------------------------------------------- CLI helpers
def run(argv, *, input=None, timeout=30.0, check=True, what=None):
    """Run a command (text mode), failing with full output on error/timeout."""
    argv = [str(a) for a in argv]
    try:
        cp = subprocess.run(argv, input=input, capture_output=True, text=True,
                            timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"timed out after {timeout}s: {shlex.join(argv)}\n"
                    f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}", pytrace=False)
    if check and cp.returncode != 0:
        pytest.fail(f"{what or 'command'} failed with exit code {cp.returncode}: "
                    f"{shlex.join(argv)}\nstdout:\n{cp.stdout}\nstderr:\n{cp.stderr}",
                    pytrace=False)
    return cp


def creek_topics(server: CreekServer, *args, check=True, timeout=30.0):
    return run([require_creek_bin(), "topics", "--bootstrap-server", server.bootstrap,
                *args], check=check, timeout=timeout, what="creek topics")


def create_topic(server: CreekServer, topic: str, partitions: int = 1) -> None:
    cp = creek_topics(server, "--create", "--topic", topic, "--partitions",
                      str(partitions), "--replication-factor", "1")
    assert f"Created topic {topic}." in cp.stdout, cp.stdout + cp.stderr


def list_topics_cli(server: CreekServer) -> list[str]:
    cp = creek_topics(server, "--list")
    return [line.strip() for line in cp.stdout.splitlines() if line.strip()]


def kcat(*args, input=None, timeout=30.0, check=True):
    return run([KCAT, *args], input=input, timeout=timeout, check=check, what="kcat")


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)
        time.sleep(interval)


def call_with_timeout(fn, timeout: float, what: str):
    """Run a possibly-blocking client call (e.g. Consumer.close) with a bound."""
    result = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as e:  # re-raised in the caller
            result["error"] = e

    t = threading.Thread(target=target, daemon=True, name=what)
    t.start()
    t.join(timeout)
    if t.is_alive():
        pytest.fail(f"{what} did not return within {timeout}s", pytrace=False)
    if "error" in result:
        raise result["error"]
    return result.get("value")


# ------------------------------------------------------- confluent-kafka helpers
def consume_all_confluent(bootstrap: str, topic: str, partitions: int,
                          timeout: float = 60.0, extra_conf=None):
    """Read every partition from the beginning up to its current high watermark.

    Returns a list of (partition, offset, key, value, headers, timestamp) in
    consumption order (per partition this is offset order).
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    conf = {"bootstrap.servers": bootstrap, "group.id": f"reader-{topic}",
            "enable.auto.commit": False, "enable.auto.offset.store": False}
    conf.update(extra_conf or {})
    c = Consumer(conf)
    try:
        high = {}
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10,
                                             cached=False)
            high[p] = hi
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        next_off = {p: 0 for p in range(partitions)}
        out = []
        deadline = time.monotonic() + timeout
        while any(next_off[p] < high[p] for p in range(partitions)):
            if time.monotonic() > deadline:
                pytest.fail(f"consume_all({topic}) timed out: positions {next_off}, "
                            f"high watermarks {high}, got {len(out)} records",
                            pytrace=False)
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    raise KafkaException(m.error())
                out.append((m.partition(), m.offset(), m.key(), m.value(),
                            m.headers(), m.timestamp()))
                next_off[m.partition()] = max(next_off[m.partition()], m.offset() + 1)
        return out
    finally:
        call_with_timeout(c.close, 15, "Consumer.close")


# ---------------------------------------------------------------- Apache Kafka
KAFKA_SH = REPO / "scripts" / "kafka.sh"


def kafka_libs() -> str:
    """The folder of Apache Kafka 4.4.0's jars (scripts/kafka.sh fetch: Maven Central
    once, then the cache). Missing jars fail the test; they are never a skip."""
    fetched = subprocess.run([str(KAFKA_SH), "fetch"], capture_output=True, text=True,
                             timeout=900)
    if fetched.returncode != 0:
        pytest.fail(f"scripts/kafka.sh fetch failed (exit {fetched.returncode}); Apache "
                    f"Kafka's jars are required (scripts/install-deps.sh fetches them):\n"
                    f"{fetched.stdout}\n{fetched.stderr}", pytrace=False)
    return fetched.stdout.strip().splitlines()[-1]


def kafka_tool(name, *args, input=None, check=True, timeout=90.0, env=None):
    """Runs one of Kafka's command-line tools (scripts/kafka.sh tool NAME ...)."""
    argv = [str(KAFKA_SH), "tool", name, *[str(a) for a in args]]
    try:
        cp = subprocess.run(argv, input=input, capture_output=True, text=True,
                            timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"timed out after {timeout}s: {argv}\nstdout: {e.stdout!r}\n"
                    f"stderr: {e.stderr!r}", pytrace=False)
    if check and cp.returncode != 0:
        pytest.fail(f"{name} failed with exit code {cp.returncode}: {argv}\n"
                    f"stdout:\n{cp.stdout}\nstderr:\n{cp.stderr}", pytrace=False)
    return cp


def latest_per_key(bootstrap, topic, decode):
    """`decode(key, value)` → (k, v) over partition 0 of `topic`, read to its end
    (read_committed: a transaction's marker is the last offset, never a record, so
    the high watermark is never reached: partition EOF ends the read); the newest
    v per k."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time()}",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "enable.partition.eof": True, "log_level": 2})
    c.assign([TopicPartition(topic, 0, 0)])
    latest = {}
    try:
        while True:
            m = c.poll(5)
            if m is None or (m.error() and m.error().code() == KafkaError._PARTITION_EOF):
                break
            if not m.error():
                k, v = decode(m.key(), m.value())
                latest[k] = v
    finally:
        c.close()
    return latest


def window_counts(bootstrap, registry_url, topic):
    """The newest COUNT (column N) per (key, window) of a windowed table's Avro topic."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    deser = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    return latest_per_key(bootstrap, topic, lambda key, value: (
        key, deser(value, SerializationContext(topic, MessageField.VALUE))["N"]))


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    """One Apache Kafka node for the module; its bootstrap servers."""
    work = tmp_path_factory.mktemp("kafka")
    started = subprocess.run([str(KAFKA_SH), "start", str(work / "cluster")],
                             capture_output=True, text=True, timeout=300)
    if started.returncode != 0:
        pytest.fail(f"scripts/kafka.sh start failed (exit {started.returncode}); Apache Kafka "
                    f"is required (scripts/install-deps.sh fetches it):\n{started.stdout}\n"
                    f"{started.stderr}", pytrace=False)
    try:
        yield started.stdout.split()[-1]
    finally:
        subprocess.run([str(KAFKA_SH), "stop", str(work / "cluster")], timeout=60)
