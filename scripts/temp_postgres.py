#!/usr/bin/env python3
"""Starts a throwaway PostgreSQL (tests/python/pgutil.py), prints its connection
string and JDBC URL on one line, and keeps it until SIGTERM/SIGINT, then removes it.
Used by scripts/demo.sh."""

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
from pgutil import TempPostgres  # noqa: E402

stop = False


def _stop(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, _stop)
signal.signal(signal.SIGINT, _stop)
with TempPostgres() as pg:
    print(pg.connection_string, pg.jdbc_url, flush=True)
    while not stop:
        signal.pause()
