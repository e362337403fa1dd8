#!/usr/bin/env bash
# Apache Kafka 4.4.0 as plain JVM processes (no Docker): fetch its jars, run a KRaft
# cluster on free loopback ports, and run Kafka's own command-line tools.
#
#   scripts/kafka.sh fetch                 jars into the cache (once); prints the folder
#   scripts/kafka.sh start DIR [NODES]     formats and starts NODES (default 1) combined
#                                          broker+controller nodes with their data in DIR;
#                                          prints the bootstrap servers (also in DIR/bootstrap)
#   scripts/kafka.sh stop DIR              stops the cluster started in DIR (SIGTERM, then KILL)
#   scripts/kafka.sh kill DIR NODE         SIGKILLs one node (1-based), for fail-over tests
#   scripts/kafka.sh tool NAME ARGS...     runs a Kafka tool by its script name, e.g.
#                                          `tool kafka-topics --bootstrap-server H:P --list`
#                                          (extra JVM options: $CREEK_KAFKA_TOOL_OPTS)
#
# $CREEK_KAFKA_REBALANCE_DELAY_MS sets group.initial.rebalance.delay.ms (default 0, so
# tests' groups form at once; Kafka's own default is 3000, which benchmarks of several
# workers use so that they join a new group in one round).
#
# The jars come from Maven Central with `mvn dependency:copy-dependencies`
# (scripts/kafka/pom.xml) into $CREEK_KAFKA_LIBS (default ~/.cache/creek/kafka-4.4.0),
# outside the clone, so CI downloads them once. Needs java (17+) and mvn;
# scripts/install-deps.sh installs both.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
VERSION="4.4.0"
LIBS="${CREEK_KAFKA_LIBS:-$HOME/.cache/creek/kafka-$VERSION}"
MARKER="$LIBS/.complete"
LOG_CONFIG="$HERE/kafka/log4j2.properties"

die() {
  echo "kafka.sh: $*" >&2
  exit 1
}

fetch() {
  if [ -f "$MARKER" ]; then
    echo "$LIBS"
    return
  fi
  command -v mvn >/dev/null || die "mvn not found: scripts/install-deps.sh installs Maven"
  command -v java >/dev/null || die "java not found: scripts/install-deps.sh installs a JDK"
  echo "fetching Apache Kafka $VERSION jars from Maven Central into $LIBS" >&2
  rm -rf "$LIBS.partial"
  if ! mvn -q -B -Dstyle.color=never -f "$HERE/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS.partial" >&2; then
    die "Maven could not fetch org.apache.kafka:kafka_2.13:$VERSION and its dependencies (is Maven Central reachable?)"
  fi
  rm -rf "$LIBS"
  mv "$LIBS.partial" "$LIBS"
  touch "$MARKER"
  echo "$LIBS"
}

# The main class behind each of Kafka's bin/*.sh scripts used here.
tool_class() {
  case "$1" in
    kafka-topics) echo org.apache.kafka.tools.TopicCommand ;;
    kafka-console-producer) echo org.apache.kafka.tools.ConsoleProducer ;;
    kafka-console-consumer) echo org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    kafka-consumer-groups) echo org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    kafka-configs) echo org.apache.kafka.tools.ConfigCommand ;;
    kafka-producer-perf-test) echo org.apache.kafka.tools.ProducerPerformance ;;
    kafka-consumer-perf-test) echo org.apache.kafka.tools.ConsumerPerformance ;;
    kafka-get-offsets) echo org.apache.kafka.tools.GetOffsetShell ;;
    kafka-e2e-latency) echo org.apache.kafka.tools.EndToEndLatency ;;
    kafka-broker-api-versions) echo org.apache.kafka.tools.BrokerApiVersionsCommand ;;
    kafka-storage) echo kafka.tools.StorageTool ;;
    kafka-server-start) echo kafka.Kafka ;;
    *) die "unknown tool '$1' (known: kafka-topics, kafka-console-producer, kafka-console-consumer, kafka-consumer-groups, kafka-configs, kafka-producer-perf-test, kafka-consumer-perf-test, kafka-get-offsets, kafka-e2e-latency, kafka-broker-api-versions, kafka-storage, kafka-server-start)" ;;
  esac
}

run_java() {
  local heap="$1"
  shift
  local libs
  libs="$(fetch)"
  # shellcheck disable=SC2086  # CREEK_KAFKA_TOOL_OPTS: extra JVM options, word-split
  exec java "-Xmx$heap" -XX:+UseG1GC -Djava.awt.headless=true ${CREEK_KAFKA_TOOL_OPTS:-} \
    "-Dlog4j2.configurationFile=$LOG_CONFIG" -cp "$libs/*" "$@"
}

free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

start() {
  local dir="$1" nodes="${2:-1}"
  [ "$nodes" -ge 1 ] 2>/dev/null || die "NODES must be a number of nodes (1 or more), got '$nodes'"
  [ ! -f "$dir/bootstrap" ] || die "$dir already holds a cluster (scripts/kafka.sh stop $dir first)"
  local libs
  libs="$(fetch)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local ports
  read -r -a ports <<<"$(free_ports $((nodes * 2)))"
  local voters="" bootstrap="" i
  for ((i = 1; i <= nodes; i++)); do
    voters+="${voters:+,}$i@127.0.0.1:${ports[$((nodes + i - 1))]}"
    bootstrap+="${bootstrap:+,}127.0.0.1:${ports[$((i - 1))]}"
  done
  local replication=$((nodes < 3 ? nodes : 3))
  local cluster_id
  cluster_id="$(java -cp "$libs/*" "-Dlog4j2.configurationFile=$LOG_CONFIG" kafka.tools.StorageTool random-uuid)"
  for ((i = 1; i <= nodes; i++)); do
    local node="$dir/node-$i"
    mkdir -p "$node"
    cat >"$node/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${ports[$((i - 1))]},CONTROLLER://127.0.0.1:${ports[$((nodes + i - 1))]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[$((i - 1))]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$node/data
num.partitions=1
default.replication.factor=$replication
min.insync.replicas=$((replication > 1 ? 2 : 1))
offsets.topic.replication.factor=$replication
transaction.state.log.replication.factor=$replication
transaction.state.log.min.isr=$((replication > 1 ? 2 : 1))
group.initial.rebalance.delay.ms=${CREEK_KAFKA_REBALANCE_DELAY_MS:-0}
auto.create.topics.enable=true
EOF
    java -cp "$libs/*" "-Dlog4j2.configurationFile=$LOG_CONFIG" kafka.tools.StorageTool \
      format --cluster-id "$cluster_id" --config "$node/server.properties" --ignore-formatted >"$node/format.log" 2>&1 ||
      { cat "$node/format.log" >&2; die "formatting $node failed"; }
    # A broker's heap: enough for tests, small beside creek on a 2-core machine.
    KAFKA_HEAP="${CREEK_KAFKA_HEAP:-768m}"
    nohup java "-Xmx$KAFKA_HEAP" "-Xms$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
      "-Dlog4j2.configurationFile=$LOG_CONFIG" -cp "$libs/*" kafka.Kafka "$node/server.properties" \
      >"$node/server.log" 2>&1 &
    echo $! >"$node/pid"
  done
  # Ready when every node accepts connections and the cluster answers metadata.
  local deadline=$((SECONDS + 120))
  for ((i = 1; i <= nodes; i++)); do
    until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1).close()" \
      "${ports[$((i - 1))]}" 2>/dev/null; do
      kill -0 "$(cat "$dir/node-$i/pid")" 2>/dev/null || { tail -n 40 "$dir/node-$i/server.log" >&2; die "node $i exited while starting"; }
      [ $SECONDS -lt $deadline ] || die "node $i did not listen within 120 s (log: $dir/node-$i/server.log)"
      sleep 0.2
    done
  done
  until java -Xmx128m -cp "$libs/*" "-Dlog4j2.configurationFile=$LOG_CONFIG" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$bootstrap" --list >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "the cluster did not answer within 120 s (logs: $dir/node-*/server.log)"
    sleep 0.5
  done
  echo "$bootstrap" >"$dir/bootstrap"
  echo "$bootstrap"
}

stop() {
  local dir="$1" pid_file pid
  for pid_file in "$dir"/node-*/pid; do
    [ -f "$pid_file" ] || continue
    pid="$(cat "$pid_file")"
    kill "$pid" 2>/dev/null || true
  done
  for pid_file in "$dir"/node-*/pid; do
    [ -f "$pid_file" ] || continue
    pid="$(cat "$pid_file")"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pid_file"
  done
  rm -f "$dir/bootstrap"
}

case "${1:-}" in
  fetch) fetch ;;
  start)
    [ $# -ge 2 ] || die "usage: scripts/kafka.sh start DIR [NODES]"
    start "$2" "${3:-1}"
    ;;
  stop)
    [ $# -ge 2 ] || die "usage: scripts/kafka.sh stop DIR"
    stop "$2"
    ;;
  kill)
    [ $# -ge 3 ] || die "usage: scripts/kafka.sh kill DIR NODE"
    kill -9 "$(cat "$2/node-$3/pid")"
    ;;
  tool)
    [ $# -ge 2 ] || die "usage: scripts/kafka.sh tool NAME ARGS..."
    class="$(tool_class "$2")"
    shift 2
    run_java "${CREEK_KAFKA_TOOL_HEAP:-512m}" "$class" "$@"
    ;;
  *)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
