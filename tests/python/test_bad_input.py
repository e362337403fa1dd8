"""Malformed and unusual wire input, plus --no-auto-create-topics."""

from __future__ import annotations

import json
import socket
import struct
import time

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient

from creekutil import HOST, create_topic, kcat, list_topics_cli

CLOSE_TIMEOUT = 5.0


def _connect(server):
    s = socket.create_connection((HOST, server.port), timeout=CLOSE_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _request(api_key, api_version, correlation_id, body=b"", client_id=b"creek-test"):
    """Request header v1 (+ body), framed with its int32 size."""
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id))
    payload = header + client_id + body
    return struct.pack(">i", len(payload)) + payload


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def _recv_frame(sock):
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    assert 4 <= size < 1 << 20, f"implausible response size {size}"
    return _recv_exact(sock, size)


def _assert_closed(sock, what):
    """The server must close the connection within CLOSE_TIMEOUT seconds."""
    deadline = time.monotonic() + CLOSE_TIMEOUT
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return
        if data == b"":
            return
        # Some bytes (e.g. an error response) are tolerated; EOF must follow.
    pytest.fail(f"server did not close the connection within {CLOSE_TIMEOUT}s after {what}")


def _assert_broker_healthy(server):
    md = json.loads(kcat("-L", "-J", "-b", server.bootstrap, "-m", "10").stdout)
    assert [b["name"] for b in md["brokers"]] == [server.bootstrap], md


def _parse_api_versions_v0(body):
    error_code, n = struct.unpack_from(">hi", body, 0)
    versions = {}
    off = 6
    for _ in range(n):
        key, lo, hi = struct.unpack_from(">hhh", body, off)
        versions[key] = (lo, hi)
        off += 6
    return error_code, versions


# -------------------------------------------------------------- garbage
GARBAGE = {
    # Read as a frame size of 0x47455420 (~1.1 GB).
    "http": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    # Negative frame size.
    "ff": b"\xff" * 64,
    # Plausible size, nonsense header (api_key 0x7a7a, version 0x7a7a).
    "zz": struct.pack(">i", 32) + b"z" * 32,
    # Size smaller than any request header.
    "tiny": struct.pack(">i", 1) + b"\x00",
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_closes_connection(creek_shared, name):
    with _connect(creek_shared) as s:
        s.sendall(GARBAGE[name])
        _assert_closed(s, f"garbage {name!r}")
    _assert_broker_healthy(creek_shared)


def test_huge_frame_length_closes_connection(creek_shared):
    with _connect(creek_shared) as s:
        s.sendall(struct.pack(">i", 2**31 - 1) + b"\x00\x12\x00\x00")
        _assert_closed(s, "a frame claiming 2**31-1 bytes")
    _assert_broker_healthy(creek_shared)


def test_truncated_frame_then_close(creek_shared):
    for _ in range(3):
        with _connect(creek_shared) as s:
            full = _request(18, 0, 1)
            s.sendall(struct.pack(">i", 100) + full[4:14])  # promises 100, sends 10
    with _connect(creek_shared) as s:
        s.sendall(_request(18, 0, 2)[:3])  # not even a full size prefix
    # A connection stuck mid-frame must not stall other clients.
    with _connect(creek_shared) as stuck:
        stuck.sendall(_request(18, 0, 3)[:9])
        _assert_broker_healthy(creek_shared)
        with _connect(creek_shared) as s:
            s.sendall(_request(18, 0, 4))
            assert struct.unpack_from(">i", _recv_frame(s))[0] == 4
    _assert_broker_healthy(creek_shared)


def test_unknown_api_key_closes_connection(creek_shared):
    with _connect(creek_shared) as s:
        s.sendall(_request(9999, 0, 77))
        _assert_closed(s, "api_key 9999")
    _assert_broker_healthy(creek_shared)


# --------------------------------------------------------- valid raw requests
def test_api_versions_v0_raw(creek_shared):
    with _connect(creek_shared) as s:
        s.sendall(_request(18, 0, 123456789))
        resp = _recv_frame(s)
    (corr,) = struct.unpack_from(">i", resp, 0)
    assert corr == 123456789
    error_code, versions = _parse_api_versions_v0(resp[4:])
    assert error_code == 0
    for key in (0, 1, 2, 3, 18):  # Produce, Fetch, ListOffsets, Metadata, ApiVersions
        assert key in versions, f"api_key {key} missing from {versions}"
        lo, hi = versions[key]
        assert 0 <= lo <= hi, versions[key]
    assert versions[18][0] == 0, versions[18]


def test_api_versions_pipelined_and_fragmented(creek_shared):
    with _connect(creek_shared) as s:
        # Two requests in a single write: two responses, in order.
        s.sendall(_request(18, 0, 1) + _request(18, 0, 2))
        assert struct.unpack_from(">i", _recv_frame(s))[0] == 1
        assert struct.unpack_from(">i", _recv_frame(s))[0] == 2
        # One request dribbled out a few bytes at a time.
        req = _request(18, 0, 3)
        for i in range(0, len(req), 3):
            s.sendall(req[i:i + 3])
            time.sleep(0.01)
        assert struct.unpack_from(">i", _recv_frame(s))[0] == 3


def test_api_versions_unsupported_version(creek_shared):
    # KIP-511: an ApiVersions version the broker does not know gets a v0-format
    # response with UNSUPPORTED_VERSION (35) and the supported ranges.
    with _connect(creek_shared) as s:
        s.sendall(_request(18, 127, 4242))
        resp = _recv_frame(s)
    assert struct.unpack_from(">i", resp, 0)[0] == 4242
    error_code, versions = _parse_api_versions_v0(resp[4:])
    assert error_code == 35, error_code
    assert 18 in versions, versions


# ------------------------------------------------- --no-auto-create-topics
def test_no_auto_create_topics(creek_factory):
    srv = creek_factory(extra_args=["--no-auto-create-topics"])
    topic = "bad-input-missing"
    reports = []
    p = Producer({"bootstrap.servers": srv.bootstrap, "acks": "all",
                  "message.timeout.ms": 8000, "topic.metadata.propagation.max.ms": 1000})
    # A producer's metadata request asks for auto-creation; it must not happen.
    p.list_topics(topic, timeout=10)
    p.produce(topic, value=b"nope", on_delivery=lambda err, msg: reports.append(err))
    assert p.flush(20) == 0
    (err,) = reports
    assert err is not None, "produce to a missing topic succeeded"
    assert err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC,
                          KafkaError._MSG_TIMED_OUT), err

    # kcat -L -t asks for this very topic (also with auto-creation allowed).
    out = kcat("-L", "-J", "-b", srv.bootstrap, "-t", topic, "-m", "10", check=False).stdout
    if out.strip():
        for t in json.loads(out).get("topics", []):
            assert t["topic"] != topic or "error" in t, t

    assert topic not in AdminClient({"bootstrap.servers": srv.bootstrap}) \
        .list_topics(timeout=10).topics
    assert topic not in list_topics_cli(srv)

    # Explicitly created topics still work in this mode.
    create_topic(srv, "bad-input-explicit", partitions=1)
    kcat("-P", "-b", srv.bootstrap, "-t", "bad-input-explicit", input="ok\n")
    out = kcat("-C", "-b", srv.bootstrap, "-t", "bad-input-explicit", "-o", "beginning",
               "-e", "-q").stdout
    assert out.splitlines() == ["ok"]


# ------------------------------------------------ topic auto-creation semantics
def _metadata_v4(topic: str, allow_auto_create: bool, correlation_id: int) -> bytes:
    """Metadata v4: topics [name], allow_auto_topic_creation."""
    name = topic.encode()
    body = struct.pack(">ih", 1, len(name)) + name + struct.pack(">b", int(allow_auto_create))
    return _request(3, 4, correlation_id, body)


def _ask_metadata(server, topic, allow_auto_create):
    with _connect(server) as s:
        s.sendall(_metadata_v4(topic, allow_auto_create, 41))
        frame = _recv_frame(s)
    assert struct.unpack_from(">i", frame)[0] == 41
    return frame


def test_metadata_without_auto_creation_creates_nothing(creek_shared):
    topic = "metadata-no-auto-create"
    frame = _ask_metadata(creek_shared, topic, allow_auto_create=False)
    # The topic's entry carries UNKNOWN_TOPIC_OR_PARTITION (3) before its name.
    name = topic.encode()
    at = frame.index(struct.pack(">h", len(name)) + name)
    assert struct.unpack_from(">h", frame, at - 2)[0] == 3
    assert topic not in list_topics_cli(creek_shared)
    # auto.create.topics.enable defaults to true, as in Apache Kafka: allowed, it creates.
    _ask_metadata(creek_shared, topic, allow_auto_create=True)
    assert topic in list_topics_cli(creek_shared)


def test_topics_describe_missing_answers_like_kafka_topics(creek_shared):
    from creekutil import creek_topics
    out = creek_topics(creek_shared, "--describe", "--topic", "describe-missing", check=False)
    assert out.returncode == 1
    assert "Topic 'describe-missing' does not exist as expected" in out.stderr, out.stderr
    out = creek_topics(creek_shared, "--describe", "--topic", "describe-missing",
                       "--if-exists", check=False)
    assert out.returncode == 0 and out.stdout == "", out
    out = creek_topics(creek_shared, "--delete", "--topic", "describe-missing", check=False)
    assert "Topic 'describe-missing' does not exist as expected" in out.stderr, out.stderr
    assert "describe-missing" not in list_topics_cli(creek_shared)


def test_a_flood_of_bad_frames_leaves_a_bounded_log(creek_shared):
    """Each bad frame closes its connection and is logged, but at most a few per
    interval per kind; a client cannot grow kafka.log without bound."""
    log = creek_shared.data_dir / "logs" / "kafka.log"
    before = log.read_text() if log.exists() else ""
    started = time.monotonic()
    for i in range(300):
        with _connect(creek_shared) as s:
            s.sendall(_request(9999, 0, i))
            _assert_closed(s, "api_key 9999")
    _assert_broker_healthy(creek_shared)
    added = (log.read_text() if log.exists() else "")[len(before):]
    closing = [line for line in added.splitlines() if "closing connection" in line]
    # At most 5 per 10-second interval the flood touched (plus one summary each).
    intervals = int((time.monotonic() - started) // 10) + 2
    assert len(closing) <= intervals * 6, "\n".join(closing[:20])
