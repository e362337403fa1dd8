"""pytest fixtures for the creek integration tests.

Fixtures:
  creek          function-scoped running broker (fresh data dir, free ports)
  creek_shared   module-scoped running broker, shared by the tests of a module
  creek_factory  function-scoped factory: creek_factory(extra_args=[...]) starts
                 a broker with extra `creek up` flags; all are stopped at teardown

Every broker is stopped with SIGTERM at teardown and must exit with code 0.
When a test fails, the stderr log tail of every broker alive for it is added
to the failure report.
"""

from __future__ import annotations

import shutil

import pytest

from creekutil import ACTIVE_SERVERS, KCAT, CreekServer, creek_bin, require_creek_bin
from pgutil import postgres  # noqa: F401  (the throwaway PostgreSQL fixture)


def pytest_report_header(config):
    path = creek_bin()
    state = "ok" if path.is_file() else "MISSING"
    kcat = shutil.which(KCAT) or "MISSING"
    return [f"creek binary: {path} ({state})", f"kcat: {kcat}"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        text = rep.longreprtext
        for srv in list(ACTIVE_SERVERS):
            if str(srv.log_path) in text:  # the failure message already has it
                continue
            tail = srv.log_tail()
            rep.sections.append((f"creek server '{srv.name}' (port {srv.port}) log tail",
                                 tail))


def _new_server(tmp_dir, name, extra_args=()):
    require_creek_bin()
    return CreekServer(tmp_dir, name=name, extra_args=extra_args).start()


@pytest.fixture
def creek(tmp_path):
    srv = _new_server(tmp_path / "creek", "creek")
    try:
        yield srv
    finally:
        srv.dispose()


@pytest.fixture(scope="module")
def _creek_module_server(tmp_path_factory, request):
    name = f"shared-{request.module.__name__}"
    srv = _new_server(tmp_path_factory.mktemp(name), name)
    try:
        yield srv
    finally:
        srv.dispose()


@pytest.fixture
def creek_shared(_creek_module_server):
    """The module's shared broker. A test during which it dies fails (at teardown)
    with the log tail; the next test gets it restarted on the same port/data dir."""
    srv = _creek_module_server
    if not srv.is_running():
        srv.start()
    yield srv
    if not srv.is_running():
        pytest.fail(f"shared creek server died during this test (exit code "
                    f"{srv.proc.returncode})\n{srv.log_tail()}", pytrace=False)


@pytest.fixture
def creek_factory(tmp_path):
    servers = []

    def make(extra_args=(), name=None):
        name = name or f"creek{len(servers)}"
        srv = CreekServer(tmp_path / name, name=name, extra_args=extra_args)
        servers.append(srv)
        require_creek_bin()
        return srv.start()

    try:
        yield make
    finally:
        errors = []
        for srv in servers:
            try:
                srv.dispose()
            except BaseException as e:  # stop every server, then report
                errors.append(e)
        if errors:
            raise errors[0]
