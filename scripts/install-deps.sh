#!/usr/bin/env bash
# Installs what creek's build, demo and tests need on Debian/Ubuntu, only if missing:
# a C toolchain for librdkafka, kcat (a real Kafka client for tests), and the Python
# clients (confluent-kafka with its registry/Avro parts, kafka-python, psycopg, pytest),
# PostgreSQL's server binaries, curl (the seed's connector step), and a JDK with the
# Apache Kafka Java client jars (scripts/fetch-java-clients.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
command -v cc >/dev/null || missing+=(build-essential)
command -v make >/dev/null || missing+=(make)
command -v perl >/dev/null || missing+=(perl)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v kcat >/dev/null || missing+=(kcat)
command -v python3 >/dev/null || missing+=(python3 python3-pip)
command -v curl >/dev/null || missing+=(curl)
# PostgreSQL server binaries for the throwaway databases of tests and the demo.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
# A JDK for the Java client test (tests/java, compiled by the test with javac).
command -v javac >/dev/null || missing+=(default-jdk-headless)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing with apt-get: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if ! python3 -c "import pytest, confluent_kafka, kafka, requests, psycopg, fastavro, httpx, authlib, cachetools, attrs, pyarrow, duckdb, moto, boto3" >/dev/null 2>&1 || ! command -v moto_server >/dev/null; then
  echo "installing Python test clients with pip"
  python3 -m pip install -q -r tests/python/requirements.txt
fi

# The Java client's jars (kafka-clients and its dependencies); silent when present.
scripts/fetch-java-clients.sh >/dev/null
