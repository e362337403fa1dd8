#!/usr/bin/env bash
# The SQL engine's aggregations: a tumbling-window COUNT(*) grouped by a low-cardinality
# column (customers per sexo in 30-second windows, EMIT CHANGES) over N Avro seed records
# already in an embedded log, in input records/s, with its peer measured in the same run
# (creek bench sql's filter + projection query in the same engine, a raw read of the same
# records, and the same read with every record decoded and re-encoded by apache-avro).
# Usage: scripts/bench-aggregate.sh [RECORDS] [RUNS]   (defaults 1,000,000 and 3)
# CREEK_PERF=FILE records a `perf` profile of the timed aggregation (last run).
set -euo pipefail
CREEK_BENCH=aggregate exec "$(dirname "$0")/bench-sql.sh" "$@"
