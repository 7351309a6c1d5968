#!/usr/bin/env bash
# The Kafka broker that Telltale's tests and CI talk to: a single-node Apache Kafka (KRaft, combined
# broker + controller) run from jars fetched off Maven Central, so nothing but Java 17 and Maven has
# to be installed.
#
#   bash scripts/kafka.sh start    fetch the jars (once), format a fresh log directory, start the
#                                  broker in the background, wait until it answers a metadata request
#   bash scripts/kafka.sh stop     stop it and wait until it is gone
#   bash scripts/kafka.sh status   exit 0 when it is running
#   bash scripts/kafka.sh restart  stop, then start (a fresh, empty broker)
#   bash scripts/kafka.sh fetch    only fetch the jars
#
# Everything lives under .cache/kafka/ (gitignored): lib/ (the jars, kept between runs), data/ (the
# log directory, new at every start), server.properties, kafka.log, kafka.pid, kafka.lock.
# Settings (environment): KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP_OPTS
# ("-Xmx512m -Xms128m"), KAFKA_START_TIMEOUT seconds (90), KAFKA_CACHE_DIR (.cache/kafka),
# KAFKA_MAVEN_REPO (Maven's local repository; Maven's default when unset).
# Topics are auto-created; tests should still create theirs with the partition count they need.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pom="$root/scripts/kafka/pom.xml"
probe_src="$root/scripts/kafka/Probe.java"
cache="${KAFKA_CACHE_DIR:-$root/.cache/kafka}"
lib="$cache/lib"
data="$cache/data"
conf="$cache/server.properties"
logfile="$cache/kafka.log"
pidfile="$cache/kafka.pid"
host=127.0.0.1
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-9093}"
heap="${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m}"
timeout="${KAFKA_START_TIMEOUT:-90}"

say() { printf 'kafka: %s\n' "$*"; }
die() { printf 'kafka: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed; $2"
}

log_tail() {
  if [[ -f "$logfile" ]]; then
    printf -- '--- last lines of %s ---\n' "$logfile" >&2
    tail -n "${1:-40}" "$logfile" >&2
    printf -- '---\n' >&2
  fi
}

pid_of_broker() {
  [[ -f "$pidfile" ]] || return 1
  local pid
  pid="$(cat "$pidfile" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # A recycled pid is not our broker.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  echo "$pid"
}

port_answers() {
  (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null
}

fetch() {
  need java "Kafka needs Java 17 or later (Debian: apt-get install openjdk-17-jre-headless)"
  # The stamp names the pom's content: editing the pom (another Kafka version) fetches again, and a
  # fetch that died halfway is not mistaken for a complete one.
  local stamp
  stamp="$lib/.fetched-$(sha256sum "$pom" | cut -c1-16)"
  [[ -f "$stamp" ]] && return 0
  need mvn "it fetches Kafka's jars from Maven Central (Debian: apt-get install maven)"
  local version
  version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
  say "fetching Apache Kafka $version jars from Maven Central into $lib"
  local started=$SECONDS
  mkdir -p "$cache"
  rm -rf "$lib.partial"
  local repo_opt=()
  [[ -n "${KAFKA_MAVEN_REPO:-}" ]] && repo_opt=("-Dmaven.repo.local=$KAFKA_MAVEN_REPO")
  if ! mvn -q -B -Dstyle.color=never -f "$pom" "${repo_opt[@]}" \
      dependency:copy-dependencies -DoutputDirectory="$lib.partial" >"$cache/fetch.log" 2>&1; then
    cat "$cache/fetch.log" >&2
    die "fetching the jars failed (the output of mvn is above and in $cache/fetch.log)"
  fi
  rm -rf "$lib"
  mv "$lib.partial" "$lib"
  touch "$stamp"
  say "fetched $(ls "$lib"/*.jar | wc -l) jars in $((SECONDS - started))s"
}

write_config() {
  cat >"$conf" <<EOF
# Written by scripts/kafka.sh at every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$host:$controller_port
listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$controller_port
advertised.listeners=PLAINTEXT://$host:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data
# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
num.partitions=1
auto.create.topics.enable=true
delete.topic.enable=true
# Tests start consumer groups often; do not wait for more members before the first rebalance.
group.initial.rebalance.delay.ms=0
# A shared 2-core machine.
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
EOF
}

# Kafka's cluster id is 16 random bytes in URL-safe base64 without padding; Kafka never hands out
# one that starts with '-' (it would read as a command-line flag), nor do we.
cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" == -* ]] || break
  done
  echo "$id"
}

# The probe is compiled once (per version of Probe.java) rather than run as a source file: that
# saves about a second of every start.
probe_classes() {
  local dir
  dir="$cache/probe-$(sha256sum "$probe_src" | cut -c1-16)"
  if [[ ! -f "$dir/Probe.class" ]]; then
    rm -rf "$cache"/probe-*
    if command -v javac >/dev/null 2>&1 && javac -nowarn -cp "$lib/*" -d "$dir.partial" "$probe_src" 2>>"$logfile"; then
      mv "$dir.partial" "$dir"
    else
      # A JRE without javac: run the source file directly (Java 11+ can).
      echo "$probe_src"
      return
    fi
  fi
  echo "$dir"
}

wait_ready() {
  local pid="$1" deadline=$((SECONDS + timeout))
  until port_answers "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log_tail
      rm -f "$pidfile"
      die "the broker exited during startup (log: $logfile)"
    fi
    if ((SECONDS >= deadline)); then
      log_tail
      die "the broker did not open $host:$port within ${timeout}s (pid $pid is still running; log: $logfile)"
    fi
    sleep 0.2
  done
  local left=$((deadline - SECONDS))
  ((left < 5)) && left=5
  local probe probe_cmd
  probe="$(probe_classes)"
  if [[ "$probe" == *.java ]]; then probe_cmd=(-cp "$lib/*" "$probe"); else probe_cmd=(-cp "$probe:$lib/*" Probe); fi
  if ! java -Xmx64m -XX:TieredStopAtLevel=1 -Dorg.slf4j.simpleLogger.defaultLogLevel=error \
      "${probe_cmd[@]}" "$host:$port" "$left" 2>>"$logfile"; then
    log_tail
    die "the broker at $host:$port did not answer a metadata request within ${timeout}s (pid $pid; log: $logfile)"
  fi
}

start() {
  local pid
  if pid="$(pid_of_broker)"; then
    wait_ready "$pid" >/dev/null
    say "already running (pid $pid) on $host:$port"
    return 0
  fi
  rm -f "$pidfile"
  if port_answers "$port"; then
    die "$host:$port is already taken by another process; stop it, or set KAFKA_PORT for this broker (a Kafka cluster of your own needs no start: point KAFKA_BROKERS at it)"
  fi
  if port_answers "$controller_port"; then
    die "$host:$controller_port (the controller port) is already taken; set KAFKA_CONTROLLER_PORT"
  fi
  fetch
  local started=$SECONDS
  rm -rf "$data"
  mkdir -p "$data"
  write_config
  : >"$logfile"
  local id
  id="$(cluster_id)"
  if ! java -Xmx256m -XX:TieredStopAtLevel=1 -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
      -cp "$lib/*" kafka.tools.StorageTool format -t "$id" -c "$conf" >>"$logfile" 2>&1; then
    log_tail
    die "formatting the log directory $data failed"
  fi
  # setsid: the broker must outlive this shell and not take the caller's Ctrl-C.
  # shellcheck disable=SC2086
  setsid java $heap \
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.showDateTime=true \
    -Dorg.slf4j.simpleLogger.dateTimeFormat="yyyy-MM-dd'T'HH:mm:ss.SSS" \
    -Dorg.slf4j.simpleLogger.log.kafka.request.logger=warn \
    -Dorg.slf4j.simpleLogger.log.state.change.logger=warn \
    -Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients=warn \
    -cp "$lib/*" kafka.Kafka "$conf" >>"$logfile" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$pidfile"
  wait_ready "$pid"
  say "started (pid $pid) on $host:$port in $((SECONDS - started))s; log: $logfile"
}

stop() {
  local pid
  if ! pid="$(pid_of_broker)"; then
    rm -f "$pidfile"
    say "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    say "no clean shutdown within 30s; killing pid $pid"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$pidfile"
  say "stopped (pid $pid)"
}

status() {
  local pid
  if pid="$(pid_of_broker)"; then
    if port_answers "$port"; then
      say "running (pid $pid) on $host:$port"
    else
      say "running (pid $pid), not yet answering on $host:$port"
    fi
    return 0
  fi
  say "not running"
  return 1
}

# Two starts at once (two test runs) must not both format and launch: they take turns.
lock() {
  mkdir -p "$cache"
  exec 9>"$cache/kafka.lock"
  command -v flock >/dev/null 2>&1 && flock 9
  return 0
}

case "${1:-}" in
  start) lock; start ;;
  stop) lock; stop ;;
  status) status ;;
  fetch) fetch ;;
  restart) lock; stop && start ;;
  *) echo "usage: bash scripts/kafka.sh start|stop|status|restart|fetch" >&2; exit 2 ;;
esac
