"""The README's commands, run as written.

Every command in a ```bash block of README.md and README.pt-BR.md must be listed in
COMMANDS below with the test that runs it; a command the READMEs gain without a test
here fails `test_every_readme_command_is_run_here`. The usage blocks (```text after
`<!-- usage: creek … -->`) must equal `creek … -h` (scripts/readme-usage.py --check).

The quick start's `scripts/demo.sh` runs as written from the repository root, on the
README's default ports, with two environment settings of the script: the debug build
the suite already made (CREEK_PROFILE=debug) and a temporary install directory on PATH
(CREEK_INSTALL_DIR), so `creek …` below resolves to what the quick start installed.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from creekutil import creek_bin, require_creek_bin, wait_until

ROOT = Path(__file__).resolve().parents[2]
READMES = [ROOT / "README.md", ROOT / "README.pt-BR.md"]
DEMO_PORTS = {9092: "--kafka-port", 8081: "--registry-port", 8083: "--connect-port",
              8088: "--ksql-port"}
LAKE = ROOT / "creek-demo" / "lake" / "datalake" / "topics"

# Each README command, and the test below that runs it.
COMMANDS = {
    "scripts/demo.sh": "test_quick_start_demo_and_the_commands_beside_it",
    "scripts/test.sh": "test_ci_runs_the_readme_test_command",
    "creek ksql http://127.0.0.1:8088": "test_quick_start_demo_and_the_commands_beside_it",
    "duckdb -c \"SELECT faixa_etaria, count(*) FROM read_parquet('creek-demo/lake/datalake/"
    "topics/CUSTOMERS_CLASSIFIED/*/*.parquet') GROUP BY 1\"":
        "test_quick_start_demo_and_the_commands_beside_it",
    "kcat -b 127.0.0.1:9092 -L": "test_quick_start_demo_and_the_commands_beside_it",
    "duckdb -c \"SELECT janela_inicio, faixa, max(total) AS total FROM read_parquet("
    "'creek-demo/lake/datalake/topics/CUSTOMERS_PER_AGE_GROUP/*/*.parquet') GROUP BY ALL "
    "ORDER BY 1, 2\"": "test_quick_start_demo_and_the_commands_beside_it",
    "curl -s -X POST localhost:8088/ksql -d '{\"ksql\": \"SHOW STREAMS;\"}'":
        "test_quick_start_demo_and_the_commands_beside_it",
}


# The creek column of "The seed, step by step": each inline command and how the
# tests run it. A synopsis (with [options]) is checked against the command's help.
SEED_TABLE = {
    "scripts/demo.sh": "test_quick_start_demo_and_the_commands_beside_it",
    "creek demo": "test_quick_start_demo_and_the_commands_beside_it",
    "creek fake [--interval S] [-n N] [-cs URL] [--silent]": "test_seed_table_synopses_match_the_help",
    "creek up": "test_the_seed_table_as_written",
    "creek topics --create --bootstrap-server localhost:9092 --partitions 1 "
    "--replication-factor 1 --topic psg-customers": "test_the_seed_table_as_written",
    "less creek-data/logs/connect.log": "test_the_seed_table_as_written",
    "curl localhost:8083/connectors/postg-connector/status": "test_the_seed_table_as_written",
    "kcat -b localhost:9092 -L": "test_the_seed_table_as_written",
    "creek ksql": "test_the_seed_table_as_written",
}
# Row 7's creek cell says "the same command": the seed's own curl.
SEED_CURL = ('curl -X POST -H "Content-Type: application/json" --data @connect_postgres.config '
             'http://localhost:8083/connectors')
COMMAND_WORDS = ("creek", "curl", "kcat", "less", "duckdb")


def table_commands(readme: Path) -> list[str]:
    """Inline commands in the last column of the README's table rows."""
    out = []
    for line in readme.read_text().splitlines():
        if not line.startswith("| ") or set(line) <= set("|- "):
            continue
        last = line.strip().strip("|").split(" | ")[-1]
        for span in re.findall(r"`([^`]+)`", last):
            words = span.split()
            # A lone program name (`creek` on PATH) is a mention, not a command.
            if (words[0] in COMMAND_WORDS and len(words) > 1) or words[0].startswith("scripts/"):
                out.append(span)
    return out


def bash_commands(readme: Path) -> list[str]:
    """The commands of the ```bash blocks: continuation lines joined, comments cut."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", readme.read_text(), re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def test_every_readme_command_is_run_here():
    unknown = [f"{readme.name}: {cmd}" for readme in READMES
               for cmd in bash_commands(readme) if cmd not in COMMANDS]
    assert not unknown, ("README commands that no test runs (add them to COMMANDS in "
                         "tests/python/test_readme.py, with a test):\n" + "\n".join(unknown))
    # Both READMEs show the same commands.
    assert sorted(set(bash_commands(READMES[0]))) == sorted(set(bash_commands(READMES[1])))
    unknown = [f"{readme.name}: {cmd}" for readme in READMES
               for cmd in table_commands(readme) if cmd not in SEED_TABLE]
    assert not unknown, ("commands in the seed table that no test runs (add them to "
                         "SEED_TABLE in tests/python/test_readme.py):\n" + "\n".join(unknown))
    assert set(table_commands(READMES[0])) == set(table_commands(READMES[1]))
    assert SEED_CURL in READMES[0].read_text() and SEED_CURL in READMES[1].read_text()


def test_seed_table_synopses_match_the_help():
    for cmd in SEED_TABLE:
        if "[" not in cmd:
            continue
        words = cmd.split()
        help_text = subprocess.run([str(require_creek_bin()), *words[1:2], "-h"],
                                   capture_output=True, text=True, check=True).stdout
        for flag in re.findall(r"\[(-[-\w]+)", cmd):
            # -cs is the seed's spelling of --connection-string (creek fake's help says so).
            assert flag in help_text or (flag == "-cs" and "(also -cs)" in help_text), \
                (cmd, flag)


def test_the_seed_table_as_written(tmp_path, postgres):
    """The table's creek commands, as written, on the default ports: `creek up`, the
    topic, the seed's curl and JSON (only the database's address is this machine's),
    the connector's log and status, kcat, and a `creek ksql` session."""
    busy = [f"{port} ({flag})" for port, flag in DEMO_PORTS.items() if _port_taken(port)]
    if busy:
        pytest.fail("the README's commands use the default ports, and these are taken: "
                    + ", ".join(busy), pytrace=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "creek").symlink_to(require_creek_bin())
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    cwd = tmp_path / "seed"
    cwd.mkdir()
    seed_json = (ROOT / "crates/creek/src/demo/connect_postgres.config").read_text()
    (cwd / "connect_postgres.config").write_text(
        seed_json.replace("jdbc:postgresql://127.0.0.1:5432/postgres", postgres.jdbc_url))

    def run(command, stdin=None):
        out = subprocess.run(command, shell=True, cwd=cwd, env=env, input=stdin,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"$ {command}\n{out.stdout}\n{out.stderr}"
        return out.stdout

    run(f"creek fake -cs {postgres.connection_string} -n 10 --total 10 --silent")
    up_out = tmp_path / "up.out"
    with open(up_out, "wb") as out:
        up = subprocess.Popen(["creek", "up"], cwd=cwd, env=env, stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "creek ready" in up_out.read_text() or up.poll() is not None,
                   timeout=30, what="creek up")
        assert up.poll() is None, up_out.read_text()
        run("creek topics --create --bootstrap-server localhost:9092 --partitions 1 "
            "--replication-factor 1 --topic psg-customers")
        created = run(SEED_CURL)
        assert '"name":"postg-connector"' in created.replace(" ", ""), created
        wait_until(lambda: '"state":"RUNNING"' in run(
            "curl localhost:8083/connectors/postg-connector/status").replace(" ", ""),
            timeout=30, what="the seed's connector RUNNING")
        assert "postg-connector" in run("less creek-data/logs/connect.log")
        wait_until(lambda: "psg-customers" in run("kcat -b localhost:9092 -L"),
                   timeout=30, what="psg-customers in kcat's listing")
        session = run("creek ksql", stdin=(
            "show topics;\nshow connectors;\n"
            "create stream custstream WITH (kafka_topic='psg-customers', value_format='AVRO');\n"
            "show streams;\n"))
        for seen in ("psg-customers", "postg-connector", "Stream created", "CUSTSTREAM"):
            assert seen in session, (seen, session)
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    assert up.returncode == 0, up_out.read_text()[-2000:]


def test_usage_blocks_match_the_help():
    out = subprocess.run(["python3", str(ROOT / "scripts" / "readme-usage.py"), "--check"],
                         capture_output=True, text=True,
                         env={**os.environ, "CREEK_BIN": str(require_creek_bin())})
    assert out.returncode == 0, out.stdout + out.stderr


def test_ci_runs_the_readme_test_command():
    """`scripts/test.sh` is what CI runs (this suite is inside it)."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec scripts/test\.sh\s*$", ci, re.M), ci


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _run(command: str, env, stdin: str | None = None, timeout: float = 60) -> str:
    out = subprocess.run(command, shell=True, cwd=ROOT, env=env, input=stdin,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"$ {command}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def test_quick_start_demo_and_the_commands_beside_it(tmp_path):
    busy = [f"{port} ({flag})" for port, flag in DEMO_PORTS.items() if _port_taken(port)]
    if busy:
        pytest.fail("the README's commands use the default ports, and these are taken: "
                    + ", ".join(busy), pytrace=False)
    bin_dir = tmp_path / "bin"
    env = {**os.environ, "CREEK_PROFILE": "debug", "CREEK_INSTALL_DIR": str(bin_dir),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    # The suite's binary is the debug build demo.sh would make: make sure it is current.
    if "CARGO_TARGET_DIR" not in env and creek_bin().parent.name == "debug":
        env["CARGO_TARGET_DIR"] = str(creek_bin().parent.parent)
    log = tmp_path / "demo.out"
    with open(log, "wb") as out:
        demo = subprocess.Popen(["scripts/demo.sh"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        wait_until(lambda: "pipeline running" in log.read_text() or demo.poll() is not None,
                   timeout=600, interval=0.5, what="creek demo's pipeline")
        assert demo.poll() is None, log.read_text()
        assert (bin_dir / "creek").is_file(), "demo.sh did not put creek on PATH"

        def lake_files(topic):
            return list((LAKE / topic).glob("*/*.parquet"))
        wait_until(lambda: lake_files("CUSTOMERS_CLASSIFIED")
                   and lake_files("CUSTOMERS_PER_AGE_GROUP"),
                   timeout=90, interval=0.5, what="the demo's lake files")

        ksql = _run("creek ksql http://127.0.0.1:8088", env,
                    stdin="SELECT * FROM customers_per_age_group;\n")
        assert "TOTAL" in ksql and re.search(r"menor|adulto|idoso", ksql), ksql
        classified = _run(_readme_command("CUSTOMERS_CLASSIFIED"), env)
        assert re.search(r"menor|adulto|idoso", classified), classified
        counts = _run(_readme_command("CUSTOMERS_PER_AGE_GROUP"), env)
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", counts), counts
        assert "psg-customers" in _run("kcat -b 127.0.0.1:9092 -L", env)
        streams = _run("curl -s -X POST localhost:8088/ksql -d '{\"ksql\": \"SHOW STREAMS;\"}'",
                       env)
        assert "CUSTSTREAM" in streams, streams
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)  # Ctrl-C, as the README says
        try:
            demo.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    text = log.read_text()
    assert demo.returncode == 0, text[-3000:]
    assert "\x1b" not in text, "escape codes in output that is not a terminal"
    # The demo's data folder does not show up in a newcomer's `git status`.
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    assert "creek-demo" not in status, status


def _readme_command(topic: str) -> str:
    """The README's duckdb command over one of the demo's lake topics."""
    (cmd,) = [c for c in COMMANDS if c.startswith("duckdb") and f"/{topic}/" in c]
    return cmd


def test_busy_port_is_named_before_anything_starts(tmp_path):
    """`creek demo` checks its ports before PostgreSQL or its data dir: the message
    names the port and the flag, and nothing was created."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        data_dir = tmp_path / "demo"
        out = subprocess.run([str(require_creek_bin()), "demo", "--data-dir", str(data_dir),
                              "--kafka-port", "0", "--registry-port", "0",
                              "--connect-port", str(port), "--ksql-port", "0"],
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert f"port {port} for Kafka Connect" in out.stderr, out.stderr
    assert "--connect-port" in out.stderr, out.stderr
    assert "PostgreSQL" not in out.stdout, out.stdout
    assert not data_dir.exists(), "the data dir was made before the port check"
    # `creek up` checks the same way.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        out = subprocess.run([str(require_creek_bin()), "up", "--data-dir", str(data_dir),
                              "--kafka-port", str(port), "--registry-port", "0",
                              "--connect-port", "0", "--ksql-port", "0"],
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and f"port {port} for Kafka" in out.stderr, out.stderr
    assert not data_dir.exists()
