"""A throwaway PostgreSQL for the integration tests: the machine's own binaries, never
a mock. Mirrors creek-pg's Rust `TempPostgres`.

    with TempPostgres() as pg:          # initdb in a temp dir, postgres on a free port
        pg.connection_string            # postgresql://postgres@127.0.0.1:PORT/postgres
        pg.jdbc_url                     # jdbc:postgresql://127.0.0.1:PORT/postgres
        pg.stop_server(); pg.start_server()   # an outage: same port, same data
    # stopped (fast shutdown) and deleted

The `postgres` pytest fixture below gives each test its own server. Settings:
127.0.0.1 only, unix socket in the temp dir, trust auth, wal_level=logical,
max_connections=100, and fsync=off / full_page_writes=off (a test cluster is never
reused after an OS crash; commits are still written to the WAL before they are
acknowledged, so kill_server() loses nothing committed). As root, initdb and
postgres run as the `postgres` user (they refuse root). `$CREEK_PG_BIN` overrides the
binaries directory (default: the highest /usr/lib/postgresql/*/bin).
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

HOST = "127.0.0.1"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
PORT_ATTEMPTS = 5

_ALIVE: list["TempPostgres"] = []


@atexit.register
def _stop_leftovers() -> None:  # e.g. after Ctrl-C in the middle of a test
    for pg in list(_ALIVE):
        pg.close()


def find_bin_dir() -> Path:
    env = os.environ.get("CREEK_PG_BIN")
    if env:
        path = Path(env)
        if not (path / "postgres").is_file() or not (path / "initdb").is_file():
            raise RuntimeError(f"CREEK_PG_BIN={env} has no postgres and initdb binaries")
        return path
    best = None
    root = Path("/usr/lib/postgresql")
    for entry in root.iterdir() if root.is_dir() else []:
        parts = re.findall(r"\d+", entry.name)
        bin_dir = entry / "bin"
        if not parts or not (bin_dir / "postgres").is_file() or not (bin_dir / "initdb").is_file():
            continue
        version = tuple(int(p) for p in parts)
        if best is None or version > best[0]:
            best = (version, bin_dir)
    if best is None:
        raise RuntimeError(f"no PostgreSQL server binaries under {root}/*/bin (install "
                           f"Debian's `postgresql` package, or set CREEK_PG_BIN)")
    return best[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class TempPostgres:
    """One throwaway cluster. `start()` (or `with`) runs initdb and the server;
    `close()` stops it and deletes the directory."""

    def __init__(self, password: str | None = None):
        """`password`: require it (scram-sha-256) on TCP connections instead of trust."""
        self.password = password
        self.bin_dir = find_bin_dir()
        self.dir: Path | None = None
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._user = None
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")  # KeyError: no such account
            self._user = (entry.pw_uid, entry.pw_gid)

    # ------------------------------------------------------------------ info
    @property
    def connection_string(self) -> str:
        auth = f":{self.password}" if self.password else ""
        return f"postgresql://postgres{auth}@{HOST}:{self.port}/postgres"

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{HOST}:{self.port}/postgres"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def log_path(self) -> Path:
        return self.dir / "postgres.log"

    def connect(self, **kwargs):
        """A psycopg (3) connection as user postgres."""
        import psycopg

        return psycopg.connect(self.connection_string, **kwargs)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------- lifecycle
    def _popen_kwargs(self) -> dict:
        kwargs = {"cwd": self.dir}  # not /root, which the postgres user cannot enter
        if self._user:
            kwargs.update(user=self._user[0], group=self._user[1], extra_groups=[])
        return kwargs

    def start(self) -> "TempPostgres":
        self.dir = Path(tempfile.mkdtemp(prefix="creek-pg-"))
        _ALIVE.append(self)
        try:
            if self._user:
                os.chown(self.dir, *self._user)
            self._initdb()
            for _ in range(PORT_ATTEMPTS):
                self.port = _free_port()
                try:
                    self.start_server()
                    return self
                except RuntimeError:
                    if "could not bind" not in self.log_tail(200):
                        raise
            raise RuntimeError(f"no free port for PostgreSQL after {PORT_ATTEMPTS} attempts")
        except BaseException:
            self.close()
            raise

    def _initdb(self) -> None:
        auth = ["--auth=trust"]
        if self.password:
            pwfile = self.dir / "pwfile"
            pwfile.write_text(self.password + "\n")
            if self._user:
                os.chown(pwfile, *self._user)
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        cp = subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
             *auth, "-E", "UTF8", "--no-locale", "--no-sync"],
            capture_output=True, text=True, timeout=120, **self._popen_kwargs())
        if cp.returncode != 0:
            raise RuntimeError(f"initdb failed ({cp.returncode}):\n{cp.stdout}{cp.stderr}")
        socket_dir = str(self.dir).replace("'", "''")
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# creek pgutil TempPostgres\n"
                f"listen_addresses = '{HOST}'\n"
                f"unix_socket_directories = '{socket_dir}'\n"
                "max_connections = 100\n"
                "wal_level = logical\n"
                "max_wal_senders = 10\n"
                "max_replication_slots = 10\n"
                "fsync = off\n"
                "full_page_writes = off\n")

    def start_server(self) -> None:
        """(Re)start on the same port and data dir; returns once it accepts connections."""
        if self.is_running():
            return
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, **self._popen_kwargs())
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited during startup on port {self.port} "
                                   f"(code {self.proc.returncode}):\n{self.log_tail()}")
            if self._accepts_connections():
                return
            if time.monotonic() > deadline:
                self._signal_and_wait(signal.SIGQUIT)
                raise RuntimeError(f"PostgreSQL on port {self.port} not ready within "
                                   f"{READY_TIMEOUT}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def _accepts_connections(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.connection_string, connect_timeout=5):
                return True
        except psycopg.OperationalError:
            return False

    def stop_server(self) -> None:
        """Fast shutdown (clients disconnected, checkpoint); data dir and port kept."""
        self._signal_and_wait(signal.SIGINT)

    def kill_server(self) -> None:
        """Immediate shutdown, like a crash: the next start runs crash recovery."""
        self._signal_and_wait(signal.SIGQUIT)

    def _signal_and_wait(self, sig) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def close(self) -> None:
        """Stop the server and delete the cluster (idempotent)."""
        self._signal_and_wait(signal.SIGINT)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        if self in _ALIVE:
            _ALIVE.remove(self)

    def __enter__(self) -> "TempPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


@pytest.fixture
def postgres():
    """A fresh throwaway PostgreSQL per test (initdb + start take about a second);
    conftest.py imports it for every test module."""
    pg = TempPostgres().start()
    try:
        yield pg
    finally:
        pg.close()
