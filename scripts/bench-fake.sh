#!/usr/bin/env bash
# Benchmarks `creek fake` against the seed's generator (scripts/seed/make_fake_data.py,
# reconstructed: Faker + pandas + df.to_sql through SQLAlchemy/psycopg2) on the same
# throwaway PostgreSQL (tests/python/pgutil.py: the machine's binaries, fsync=off).
# Usage:
#   scripts/bench-fake.sh [SEED_SECONDS] [CREEK_TOTAL]
# The seed runs `-n 1000 --interval 0 --silent` for SEED_SECONDS (default 20) after a
# 3 s warm-up and is measured by counting rows in the table; creek runs
# `-n 10000 --interval 0 --silent --total CREEK_TOTAL` (default 500000), timed
# from start to exit (connect and table creation included, fresh table each run),
# 3 times, and 3 times with the seed's `-n 1000`; the median run counts.
set -euo pipefail
cd "$(dirname "$0")/.."
SEED_SECONDS="${1:-20}"
TOTAL="${2:-500000}"

if ! python3 -c "import faker, pandas, sqlalchemy, psycopg2, psycopg" >/dev/null 2>&1; then
  echo "installing the seed's Python dependencies with pip" >&2
  python3 -m pip install -q faker pandas sqlalchemy psycopg2-binary 'psycopg[binary]'
fi
cargo build -q --release -p creek
CREEK="${CARGO_TARGET_DIR:-$PWD/target}/release/creek"

CREEK="$CREEK" SEED_SECONDS="$SEED_SECONDS" TOTAL="$TOTAL" PYTHONPATH=tests/python python3 - <<'EOF'
import os
import subprocess
import sys
import time

from pgutil import TempPostgres

creek, seed_seconds, total = os.environ["CREEK"], float(os.environ["SEED_SECONDS"]), int(os.environ["TOTAL"])


def count(pg):
    with pg.connect() as conn:
        return conn.execute("SELECT count(*) FROM customers").fetchone()[0]


def run_creek(pg, n):
    with pg.connect(autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS customers")
    start = time.monotonic()
    subprocess.run([creek, "fake", "-cs", pg.connection_string, "-n", str(n), "--interval", "0",
                    "--silent", "--total", str(total)], check=True, stderr=subprocess.DEVNULL)
    elapsed = time.monotonic() - start
    assert count(pg) == total, count(pg)
    return total / elapsed, elapsed


with TempPostgres() as pg:
    seed = subprocess.Popen([sys.executable, "scripts/seed/make_fake_data.py", "-cs",
                             pg.connection_string, "-n", "1000", "--interval", "0", "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)  # imports, engine, first batches
        c0, t0 = count(pg), time.monotonic()
        time.sleep(seed_seconds)
        c1, t1 = count(pg), time.monotonic()
    finally:
        seed.terminate()
        seed.wait(30)
    seed_rate = (c1 - c0) / (t1 - t0)
    with pg.connect() as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
    runs = sorted(run_creek(pg, 10000) for _ in range(3))
    creek_rate, creek_secs = runs[1]
    runs_1k = sorted(run_creek(pg, 1000) for _ in range(3))
    creek_rate_1k = runs_1k[1][0]

print(f"# {time.strftime('%Y-%m-%d', time.gmtime())} (UTC), PostgreSQL {pg_version} via "
      f"tests/python/pgutil.py, {os.cpu_count()} CPUs")
print(f"seed make_fake_data.py -n 1000 --interval 0 --silent : {seed_rate:12,.0f} rows/s "
      f"({c1 - c0:,} rows in {t1 - t0:.1f} s)")
print(f"creek fake -n 10000 --interval 0 --silent --total {total}: {creek_rate:12,.0f} rows/s "
      f"(median of 3: {total:,} rows in {creek_secs:.2f} s; "
      f"range {runs[0][0]:,.0f}-{runs[-1][0]:,.0f})")
print(f"creek fake -n 1000  --interval 0 --silent --total {total}: {creek_rate_1k:12,.0f} rows/s "
      f"(median of 3; range {runs_1k[0][0]:,.0f}-{runs_1k[-1][0]:,.0f})")
print(f"ratio creek (-n 10000) / seed: {creek_rate / seed_rate:,.0f}x")
print(f"ratio creek (-n 1000)  / seed: {creek_rate_1k / seed_rate:,.0f}x")
EOF
