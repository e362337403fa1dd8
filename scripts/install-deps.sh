#!/usr/bin/env bash
# Installs what creek needs on Debian/Ubuntu, only what is missing.
#
#   scripts/install-deps.sh demo   what `scripts/demo.sh` and the README's commands use:
#                                  a C toolchain and OpenSSL's headers for librdkafka, PostgreSQL's server
#                                  binaries (the demo's throwaway database), curl, less,
#                                  kcat, and the DuckDB command line (pip package duckdb-cli)
#   scripts/install-deps.sh test   the above, and what only the test suite uses: a JDK
#                                  with the Apache Kafka Java client jars
#                                  (scripts/fetch-java-clients.sh), Maven and Apache
#                                  Kafka 4.4.0's jars (scripts/kafka.sh fetch: its
#                                  broker and command-line tools), and the Python test
#                                  clients (tests/python/requirements.txt: pytest,
#                                  confluent-kafka, kafka-python, psycopg, pyarrow, moto…)
#
# pip installs into the active Python; on a system Python that refuses it (PEP 668,
# "externally managed") it retries with --break-system-packages.
set -euo pipefail
cd "$(dirname "$0")/.."

WHAT="${1:-test}"
case "$WHAT" in
  demo|test) ;;
  *) echo "usage: scripts/install-deps.sh demo|test" >&2; exit 2 ;;
esac

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
command -v cc >/dev/null || missing+=(build-essential)
command -v make >/dev/null || missing+=(make)
command -v perl >/dev/null || missing+=(perl)
command -v pkg-config >/dev/null || missing+=(pkg-config)
# librdkafka is built with TLS (SASL_SSL clusters such as Confluent Cloud): OpenSSL's headers.
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
command -v kcat >/dev/null || missing+=(kcat)
command -v python3 >/dev/null || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
command -v curl >/dev/null || missing+=(curl)
command -v less >/dev/null || missing+=(less)
# PostgreSQL server binaries for the throwaway databases of the demo and the tests.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ "$WHAT" = test ]; then
  # A JDK for the Java client test (tests/java, compiled by the test with javac).
  command -v javac >/dev/null || missing+=(default-jdk-headless)
  # Maven fetches Apache Kafka's jars from Maven Central (scripts/kafka.sh).
  command -v mvn >/dev/null || missing+=(maven)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing with apt-get: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

pip_install() {
  python3 -m pip install -q "$@" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages "$@"
}

# The README's DuckDB examples use the duckdb command line.
if ! command -v duckdb >/dev/null; then
  echo "installing the DuckDB command line with pip (duckdb-cli)"
  pip_install duckdb-cli
  if ! command -v duckdb >/dev/null; then
    # pip put it where this shell does not look (e.g. ~/.local/bin as a non-root user).
    for bin in "$(python3 -m site --user-base)/bin" "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"; do
      if [ -x "$bin/duckdb" ]; then
        echo "duckdb was installed in $bin, which is not on PATH: add it (export PATH=\"$bin:\$PATH\")" >&2
        exit 1
      fi
    done
    echo "pip installed duckdb-cli but no duckdb command was found" >&2
    exit 1
  fi
fi

if [ "$WHAT" = test ]; then
  if ! python3 -c "import pytest, confluent_kafka, kafka, requests, psycopg, fastavro, httpx, authlib, cachetools, attrs, pyarrow, duckdb, moto, boto3" >/dev/null 2>&1 || ! command -v moto_server >/dev/null; then
    echo "installing Python test clients with pip"
    pip_install -r tests/python/requirements.txt
  fi
  # The Java client's jars (kafka-clients and its dependencies); silent when present.
  scripts/fetch-java-clients.sh >/dev/null
  # Apache Kafka 4.4.0 (broker, controller, tools); silent when present.
  scripts/kafka.sh fetch >/dev/null
fi
