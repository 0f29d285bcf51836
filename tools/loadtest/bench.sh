#!/usr/bin/env bash
# bench.sh: compares chat servers on this machine. For each server kind it
# finds the highest message rate the servers carry with zero loss and p99
# latency under 100 ms, the servers' and Redis' CPU time at that rate (for
# Redis, node by node), and the servers' memory per idle connection.
#
# usage: tools/loadtest/bench.sh [KIND[:PROTOCOL][@cluster][,NAME=VALUE...] ...]
#        (default: go node)
#
#   go               step3-redis (the Go server with Redis Pub/Sub)
#   node             the guides' Node.js server (/work/shared/node-baseline)
#   step2-websocket  any step directory works; step2 has no Redis, so it runs
#                    as one instance (its instances do not share messages)
#   step4-rooms      measured with -protocol rooms (step4-*); or say
#                    KIND:rooms / KIND:text to choose
#   KIND@cluster     against a Redis Cluster instead of one redis-server: six
#                    nodes started with tools/cluster/cluster.sh (three
#                    masters, a replica each); instance 1 gets the REDIS_URL
#                    of the first master, instance 2 of the second, and so on
#   KIND,NAME=VALUE  puts NAME=VALUE in the environment of that kind's server
#                    instances (several allowed: KIND,A=1,B=2), for a server's
#                    own switches, such as classic or sharded Pub/Sub on a
#                    cluster; the label in the table says them too
#
# Many rooms, on one Redis and on a cluster, in one table (see ROOMS):
#   ROOMS=50 SENDERS=100 IDLE=no tools/loadtest/bench.sh step4-rooms step4-rooms@cluster
#
# Setup, all on loopback: a redis-server of our own on a spare port (or a
# cluster, on spare ports), and two instances of the server (ports from 3459
# up, whichever are free), pinned to CPU 0; the load generator pinned to
# CPU 1. With two CPUs, every Redis node of a cluster shares CPU 0 with the
# servers: a cluster cannot spread Redis' work over CPUs here, so it shows
# what each node does, not how far more CPUs would carry. 1000 clients, 20 of
# them sending, in one room (ROOMS). The rate (messages/s, all senders
# together; every message is delivered to every client of its room) doubles
# from START_RATE until a run fails, then is bisected; each run lasts
# RUN_SECONDS, and the search stops after BUDGET_SECONDS per kind. The best
# rate must then pass a second run (else 10% less is tried). Each run gets a
# fresh Redis (or cluster) and fresh servers, so that a failed run cannot
# leave backlogs behind for the next. With the defaults, a kind takes 15 to
# 22 minutes: the budget, the confirmation (at most three runs of about 20 s
# past the budget; 26 s with a cluster, whose start and stop take about 6 s),
# and the idle measurement (about 7 minutes; IDLE=no skips it).
#
# CPU time is user + system time from /proc/PID/stat, from when the clients
# are connected (just before sending starts) to the end of the run: the
# servers' per delivery; Redis' per delivery for all nodes together, and per
# message for each node (a cluster's pids come from its pid files).
#
# Settings come from the environment (defaults in brackets): CLIENTS [1000],
# SENDERS [20], ROOMS [1; the rooms protocol's -rooms: client i joins room
# i mod ROOMS, the first ROOMS clients one per room, so with SENDERS at
# least ROOMS every room has a sender; the text protocol has one chat],
# RUN_SECONDS [10], START_RATE [50], MIN_RATE [5],
# PRECISION [10, percent], P99_LIMIT_MS [100], BUDGET_SECONDS [600],
# IDLE_CLIENTS [8000], SETTLE_SECONDS [5], IDLE_SECONDS [180] (see
# measure_idle), RATE_SEARCH [yes; no measures memory only, in about seven
# minutes a kind], IDLE [yes; no skips the memory measurement],
# INSTANCES [2; 1 for step2-*],
# QUIET_BUSY [25] and QUIET_WAIT [20] (before each run, wait up to QUIET_WAIT
# seconds for other processes to use less than QUIET_BUSY % of the CPUs),
# DISTURBED [10] and RETRIES [2] (a run that fails while other processes
# use DISTURBED % or more of the CPUs is run again, up to RETRIES times),
# BASE_PORT [3459], REDIS_PORT [6391], CLUSTER_PORT [7100; the first node's
# port, moved up by 10 until six ports and their bus ports, +10000, are
# free], SERVER_CPU [0], LOADGEN_CPU [1], NODE_DIR [/work/shared/node-baseline].
#
# Results: a markdown table on stdout; in tools/loadtest/results/<date>-<time>/,
# the table (summary.md, and summary.json with each node's figures), every
# run's JSON summary (with a "bench" object: Redis nodes, CPU), runs.tsv (a
# line per run), the servers' and Redis' logs.
set -euo pipefail

LOADTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$LOADTEST_DIR/../.." && pwd)
NODE_DIR=${NODE_DIR:-/work/shared/node-baseline}
CLUSTER_SH=$ROOT/tools/cluster/cluster.sh

CLIENTS=${CLIENTS:-1000}
SENDERS=${SENDERS:-20}
ROOMS=${ROOMS:-1}
RUN_SECONDS=${RUN_SECONDS:-10}
START_RATE=${START_RATE:-50}
MIN_RATE=${MIN_RATE:-5}
PRECISION=${PRECISION:-10}
P99_LIMIT_MS=${P99_LIMIT_MS:-100}
BUDGET_SECONDS=${BUDGET_SECONDS:-600}
IDLE_CLIENTS=${IDLE_CLIENTS:-8000}
SETTLE_SECONDS=${SETTLE_SECONDS:-5}
IDLE_SECONDS=${IDLE_SECONDS:-180}
RATE_SEARCH=${RATE_SEARCH:-yes}
IDLE=${IDLE:-yes}
BASE_PORT=${BASE_PORT:-3459}
REDIS_PORT=${REDIS_PORT:-6391}
CLUSTER_PORT=${CLUSTER_PORT:-7100}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
QUIET_BUSY=${QUIET_BUSY:-25}
QUIET_WAIT=${QUIET_WAIT:-20}
DISTURBED=${DISTURBED:-10}
RETRIES=${RETRIES:-2}
INSTANCES_ASKED=${INSTANCES:-}

# A run takes RUN_SECONDS plus about this much: starting Redis and the
# servers, connecting the clients, the drain, stopping everything. The
# budget check uses it so that the last run does not overrun the budget.
# A cluster takes about 6 s more to start and stop (see start_redis).
RUN_OVERHEAD_ONE=8
RUN_OVERHEAD_CLUSTER=14

# The load generator must send at least this share of the asked-for rate:
# servers that stop reading hold the senders back, which is a failure too.
MIN_SEND_SHARE=0.95

CLK_TCK=$(getconf CLK_TCK)

say() { printf '%s\n' "$*" >&2; }
die() { say "bench.sh: $*"; exit 1; }

for tool in redis-server taskset jq go ss awk pgrep /usr/bin/time; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
case $ROOMS in '' | *[!0-9]* | 0*) die "ROOMS must be a whole number from 1 up" ;; esac
[ "$ROOMS" -le "$CLIENTS" ] || die "ROOMS ($ROOMS) must be at most CLIENTS ($CLIENTS)"
[ "$IDLE" != no ] || [ "$RATE_SEARCH" != no ] || die "RATE_SEARCH=no and IDLE=no leave nothing to measure"

WORK=$(mktemp -d /tmp/bench.XXXXXX)
OUT=$LOADTEST_DIR/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

# Every process we start, so that the exit trap stops them (and only them);
# a cluster is stopped with cluster.sh (CLUSTER_BASE: its first port).
STACK_PIDS=()
CLUSTER_BASE=
LOADGEN_PID=
cleanup() {
  [ -n "$LOADGEN_PID" ] && kill "$LOADGEN_PID" 2>/dev/null || true
  stop_stack
  rm -rf "$WORK"
  rmdir "$OUT" 2>/dev/null || true # nothing measured: no empty results folder
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- processes

# port_busy PORT: something accepts connections on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_ports N FROM: prints N ports, from FROM up, that nothing listens on.
# Other people's servers may use the guides' ports on this machine.
free_ports() {
  local n=$1 p=$2 found=()
  while [ ${#found[@]} -lt "$n" ]; do
    [ "$p" -gt $(($2 + 200)) ] && die "no $n free ports from $2"
    port_busy "$p" || found+=("$p")
    p=$((p + 1))
  done
  echo "${found[@]}"
}

# wait_listening PID PORT LOG: waits until process PID listens on PORT. It
# checks the owner, so that a server that failed to bind (someone else took
# the port) is not mistaken for ready.
wait_listening() {
  local pid=$1 port=$2 log=$3
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || { tail -5 "$log" >&2; die "process $pid (port $port) exited"; }
    ss -Hltnp "sport = :$port" 2>/dev/null | grep -q "pid=$pid," && return 0
    sleep 0.05
  done
  tail -5 "$log" >&2
  die "process $pid is not listening on port $port after 10s"
}

# start_redis: a fresh redis-server, or (REDIS_MODE cluster) a fresh
# cluster. Sets REDIS_PIDS and REDIS_NODES (each node as PORT:ROLE, in port
# order) and REDIS_URLS (what the instances get, in turn: the masters).
start_redis() {
  REDIS_PIDS=() REDIS_NODES=() REDIS_URLS=()
  if [ "$REDIS_MODE" = cluster ]; then
    start_cluster
    return
  fi
  local rport pid
  rport=$(free_ports 1 "$REDIS_PORT") || exit 1
  taskset -c "$SERVER_CPU" redis-server --port "$rport" --bind 127.0.0.1 \
    --save '' --appendonly no --daemonize no --loglevel warning >>"$OUT/redis.log" 2>&1 &
  pid=$!
  STACK_PIDS+=("$pid")
  wait_listening "$pid" "$rport" "$OUT/redis.log"
  REDIS_PIDS=("$pid") REDIS_NODES=("$rport:master") REDIS_URLS=("redis://127.0.0.1:$rport")
}

# free_cluster_port: the first of CLUSTER_PORT, +10, +20, ... from which
# six ports and their cluster bus ports (+10000) are free.
free_cluster_port() {
  local base=$CLUSTER_PORT i busy
  while [ "$base" -le $((CLUSTER_PORT + 500)) ]; do
    busy=no
    for i in 0 1 2 3 4 5; do
      if port_busy $((base + i)) || port_busy $((base + i + 10000)); then busy=yes; break; fi
    done
    [ "$busy" = yes ] || { echo "$base"; return 0; }
    base=$((base + 10))
  done
  die "no six free ports (with their bus ports) from $CLUSTER_PORT to $((CLUSTER_PORT + 505))"
}

# start_cluster: tools/cluster/cluster.sh start, pinned to SERVER_CPU (the
# nodes it starts inherit the pinning), its files in WORK. It prints a line
# per node, "PORT  master   slots ..." or "PORT  replica  of PORT", which
# says the roles; each node's pid is in its pid file.
start_cluster() {
  local base out port role
  base=$(free_cluster_port) || exit 1
  CLUSTER_BASE=$base
  out=$(TMPDIR=$WORK taskset -c "$SERVER_CPU" "$CLUSTER_SH" start "$base" 2>&1) || {
    printf '%s\n' "$out" >>"$OUT/cluster.log"
    printf '%s\n' "$out" | tail -5 >&2
    die "the cluster on ports $base-$((base + 5)) did not start (its output is above)"
  }
  printf '%s\n' "$out" >>"$OUT/cluster.log"
  while read -r port role _; do
    case $role in master | replica) ;; *) continue ;; esac
    REDIS_PIDS+=("$(cat "$WORK/pubsub-chat-cluster-$base/$port/redis.pid")")
    REDIS_NODES+=("$port:$role")
    [ "$role" = replica ] || REDIS_URLS+=("redis://127.0.0.1:$port")
  done <<<"$out"
  [ ${#REDIS_NODES[@]} -eq 6 ] && [ ${#REDIS_URLS[@]} -eq 3 ] ||
    die "cluster.sh start did not list three masters and three replicas (see $OUT/cluster.log)"
}

# start_stack: a fresh Redis (or cluster) and INSTANCES servers of the
# current kind; instance i gets REDIS_URLS[i mod their number]. Sets
# SERVER_PIDS and URLS (and what start_redis sets).
start_stack() {
  start_redis
  local ports log pid i redis_url
  read -r -a ports <<<"$(free_ports "$INSTANCES" "$BASE_PORT")"
  [ ${#ports[@]} -eq "$INSTANCES" ] || exit 1
  SERVER_PIDS=()
  URLS=
  for i in "${!ports[@]}"; do
    port=${ports[$i]}
    redis_url=${REDIS_URLS[$((i % ${#REDIS_URLS[@]}))]}
    log=$OUT/$TAG-server-$port.log
    echo "bench.sh: instance on port $port, REDIS_URL=$redis_url${SERVER_ENV[*]:+ ${SERVER_ENV[*]}}" >>"$log"
    if [ "$KIND" = node ]; then
      # Node does not raise its open-file limit itself; 8000 idle clients need it.
      (ulimit -n "$(ulimit -Hn)"
       cd "$NODE_DIR"
       exec env "${SERVER_ENV[@]}" REDIS_URL="$redis_url" taskset -c "$SERVER_CPU" \
         node -r "$LOADTEST_DIR/node-loopback.js" seed000.js "$port") >>"$log" 2>&1 &
    else
      # Go raises its open-file limit itself (since Go 1.19).
      env "${SERVER_ENV[@]}" REDIS_URL="$redis_url" taskset -c "$SERVER_CPU" "$SERVER_BIN" "$port" >>"$log" 2>&1 &
    fi
    pid=$!
    STACK_PIDS+=("$pid")
    SERVER_PIDS+=("$pid")
    URLS+=${URLS:+,}ws://127.0.0.1:$port/ws
  done
  for i in "${!ports[@]}"; do
    wait_listening "${SERVER_PIDS[$i]}" "${ports[$i]}" "$OUT/$TAG-server-${ports[$i]}.log"
  done
}

# stop_stack: SIGTERM, then SIGKILL for whatever is still there after 5s;
# then the cluster, if there is one (cluster.sh stop waits for its nodes).
stop_stack() {
  local pid
  for pid in "${STACK_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${STACK_PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  STACK_PIDS=()
  if [ -n "$CLUSTER_BASE" ]; then
    TMPDIR=$WORK "$CLUSTER_SH" stop "$CLUSTER_BASE" >>"$OUT/cluster.log" 2>&1 || true
    CLUSTER_BASE=
  fi
}

# cpu_ticks PID...: user + system CPU time of the processes, in clock ticks.
cpu_ticks() {
  local total=0 pid stat
  for pid in "$@"; do
    read -r stat <"/proc/$pid/stat"
    # Fields after the command name, which is in parentheses: utime is
    # field 14 of the line, stime 15.
    set -- ${stat##*) }
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

# node_ticks: each Redis node's CPU ticks, in REDIS_NODES order, on a line.
node_ticks() {
  local pid out=()
  for pid in "${REDIS_PIDS[@]}"; do out+=("$(cpu_ticks "$pid")"); done
  echo "${out[*]}"
}

# sum NUMBER...: their sum.
sum() {
  local total=0 n
  for n in "$@"; do total=$((total + n)); done
  echo "$total"
}

# redis_nodes_cpu TICKS0 TICKS1: each node's CPU over the run (node_ticks
# before and after) into R_NODES_JSON (port, role, CPU seconds, µs per
# message and per delivery), R_NODES_CELL (µs per message, for the table:
# "M 4.1, M 3.9, ..., R 0.8" in port order with a cluster) and R_NODES_CPU
# (PORT=seconds,..., for runs.tsv). Uses R_SENT and R_RECEIVED.
redis_nodes_cpu() {
  local t0 t1 i lines=
  read -r -a t0 <<<"$1"
  read -r -a t1 <<<"$2"
  for i in "${!REDIS_NODES[@]}"; do
    lines+="${REDIS_NODES[$i]%%:*} ${REDIS_NODES[$i]#*:} $((t1[i] - t0[i]))"$'\n'
  done
  R_NODES_JSON=$(jq -R -s -c --argjson hz "$CLK_TCK" --argjson sent "$R_SENT" --argjson received "$R_RECEIVED" '
    [split("\n")[] | select(. != "") | split(" ") | (.[2] | tonumber / $hz) as $cpu
     | {port: (.[0] | tonumber), role: .[1], cpu_s: $cpu,
        us_per_message: (if $sent > 0 then $cpu * 1e6 / $sent else null end),
        us_per_delivery: (if $received > 0 then $cpu * 1e6 / $received else null end)}]' <<<"$lines")
  R_NODES_CELL=$(awk -v hz="$CLK_TCK" -v n="$R_SENT" -v nodes="${#REDIS_NODES[@]}" '
    NF == 3 {
      role = nodes > 1 ? ($2 == "master" ? "M " : "R ") : ""
      cell = cell (cell == "" ? "" : ", ") role sprintf("%.1f", n > 0 ? $3 * 1e6 / hz / n : 0)
    }
    END { print cell }' <<<"$lines")
  R_NODES_CPU=$(awk -v hz="$CLK_TCK" '
    NF == 3 { c = c (c == "" ? "" : ",") $1 "=" sprintf("%.2f", $3 / hz) }
    END { print c }' <<<"$lines")
}

# rss_kb PID...: resident memory of the processes, in kB.
rss_kb() {
  local total=0 pid kb
  for pid in "$@"; do
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    total=$((total + kb))
  done
  echo "$total"
}

# cpu_busy: percent of the machine's CPU time that was busy over one second.
cpu_busy() {
  local a b
  read -r -a a < <(grep '^cpu ' /proc/stat)
  sleep 1
  read -r -a b < <(grep '^cpu ' /proc/stat)
  # Fields: user nice system idle iowait irq softirq steal ...
  local total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  local idle=$((b[4] - a[4] + b[5] - a[5]))
  echo $((total > 0 ? 100 * (total - idle) / total : 0))
}

# machine_ticks: busy and total CPU ticks of the whole machine (all CPUs).
machine_ticks() {
  local a total=0 i
  read -r -a a < <(grep '^cpu ' /proc/stat)
  for i in 1 2 3 4 5 6 7 8; do total=$((total + a[i])); done
  echo "$((total - a[4] - a[5])) $total"
}

# wait_quiet: this machine may be shared; before a run, wait up to
# QUIET_WAIT seconds for the other processes' CPU use to drop below
# QUIET_BUSY percent, so that they disturb the measurement less. Sets BUSY
# to the last reading (it goes in runs.tsv).
wait_quiet() {
  local deadline=$((SECONDS + QUIET_WAIT))
  BUSY=$(cpu_busy)
  while [ "$BUSY" -ge "$QUIET_BUSY" ] && [ "$SECONDS" -lt "$deadline" ]; do
    BUSY=$(cpu_busy)
  done
  [ "$BUSY" -lt "$QUIET_BUSY" ] || say "  (the machine is busy: ${BUSY}% CPU used by others; measuring anyway)"
}

# wait_for_line FILE TEXT PID SECONDS: waits until FILE contains TEXT; fails
# if process PID ends first or the time runs out.
wait_for_line() {
  local file=$1 text=$2 pid=$3 limit=$(($4 * 20))
  for _ in $(seq "$limit"); do
    grep -q "$text" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# ---------------------------------------------------------------- measuring

RUN_NO=0

# run_rate RATE: one run of RUN_SECONDS at RATE messages/s on a fresh stack.
# Returns 0 if it passed (no loss, no duplicate, nobody disconnected, p99
# under the limit, the senders kept the rate) and sets R_* to its numbers.
run_rate() {
  local rate=$1
  RUN_NO=$((RUN_NO + 1))
  local tag
  tag=$(printf '%s-%02d-rate%d' "$TAG" "$RUN_NO" "$rate")
  local json=$OUT/$tag.json err=$OUT/$tag.log
  wait_quiet
  start_stack
  /usr/bin/time -f '%e %U %S' -o "$WORK/time" \
    taskset -c "$LOADGEN_CPU" "$LOADTEST" -servers "$URLS" -protocol "$PROTOCOL" -rooms "$KIND_ROOMS" \
    -clients "$CLIENTS" -senders "$SENDERS" -rate "$rate" -duration "${RUN_SECONDS}s" \
    -json >"$json" 2>"$err" &
  LOADGEN_PID=$!
  # The servers' and Redis' CPU is counted from when the clients are
  # connected (the load generator says so just before it starts sending)
  # to the end.
  local c0=0 r0=0 n0= l0=0 t0 setup_ok=1 lg m_busy0=0 m_total0=0 m_busy1 m_total1
  R_OTHERS=0
  if wait_for_line "$err" "loadtest: connected" "$LOADGEN_PID" 120; then
    c0=$(cpu_ticks "${SERVER_PIDS[@]}")
    n0=$(node_ticks)
    # shellcheck disable=SC2086 # one number per node
    r0=$(sum $n0)
    # The load generator itself (the child of time): its CPU during the
    # same window shows whether it, not the server, was the bottleneck.
    lg=$(pgrep -P "$LOADGEN_PID" | head -1)
    [ -z "$lg" ] || l0=$(cpu_ticks "$lg" 2>/dev/null || echo 0)
    t0=$(date +%s.%N)
    read -r m_busy0 m_total0 < <(machine_ticks)
  else
    setup_ok=0
  fi
  local rc=0
  wait "$LOADGEN_PID" || rc=$?
  LOADGEN_PID=
  local c1 r1 n1 t1
  t1=$(date +%s.%N)
  read -r m_busy1 m_total1 < <(machine_ticks)
  c1=$(cpu_ticks "${SERVER_PIDS[@]}")
  n1=$(node_ticks)
  # shellcheck disable=SC2086 # one number per node
  r1=$(sum $n1)
  stop_stack

  if [ "$rc" -ne 0 ] || [ "$setup_ok" -eq 0 ]; then
    say "  rate $rate: the load generator failed: $(tail -1 "$err")"
    return 1
  fi
  read -r R_SENT R_RECEIVED R_LOST R_DUPS R_DISC R_DPS R_P50 R_P99 R_SEND_RATE R_MPF R_WRONG < <(
    jq -r '[.sent, .received, .lost, .duplicates, .disconnected, .deliveries_per_s,
            .latency_p50_ms, .latency_p99_ms, .send_rate, .messages_per_frame, .wrong_room] | @tsv' "$json")
  local wall user sys
  read -r wall user sys < <(tail -1 "$WORK/time")
  R_RATE=$rate
  R_SERVER_US=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$R_RECEIVED" \
    'BEGIN { printf "%.2f", (n > 0 ? t * 1e6 / hz / n : 0) }')
  R_REDIS_US=$(awk -v t=$((r1 - r0)) -v hz="$CLK_TCK" -v n="$R_RECEIVED" \
    'BEGIN { printf "%.2f", (n > 0 ? t * 1e6 / hz / n : 0) }')
  redis_nodes_cpu "$n0" "$n1"
  # What the other processes on this machine used during the run, in % of
  # all CPUs: the machine's busy time minus ours (servers, Redis, load
  # generator).
  R_OTHERS=$(awk -v b=$((m_busy1 - m_busy0)) -v t=$((m_total1 - m_total0)) -v ours=$((c1 - c0 + r1 - r0)) \
    -v u="$user" -v s="$sys" -v l0="$l0" -v hz="$CLK_TCK" \
    'BEGIN { o = b - ours - ((u + s) * hz - l0); printf "%.0f", (t > 0 && o > 0 ? 100 * o / t : 0) }')
  R_LOADGEN_PCT=$(awk -v w="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" -v u="$user" -v s="$sys" \
    -v l0="$l0" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", (w > 0 ? 100 * (u + s - l0 / hz) / w : 0) }')

  local verdict=pass why=()
  [ "$R_LOST" -eq 0 ] || why+=("lost $R_LOST")
  [ "$R_DUPS" -eq 0 ] || why+=("$R_DUPS duplicates")
  [ "$R_DISC" -eq 0 ] || why+=("$R_DISC disconnected")
  [ "$R_WRONG" -eq 0 ] || why+=("$R_WRONG in the wrong room")
  awk -v p="$R_P99" -v l="$P99_LIMIT_MS" 'BEGIN { exit !(p < l) }' || why+=("p99 ≥ ${P99_LIMIT_MS} ms")
  awk -v s="$R_SEND_RATE" -v r="$rate" -v m="$MIN_SEND_SHARE" 'BEGIN { exit !(s >= m * r) }' ||
    why+=("sent only $(printf '%.0f' "$R_SEND_RATE")/s")
  [ ${#why[@]} -eq 0 ] || verdict="FAIL ($(IFS=,; echo "${why[*]}" | sed 's/,/, /g'))"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$LABEL" "$KIND_ROOMS" "$rate" "$R_SENT" \
    "$R_RECEIVED" "$R_LOST" "$R_DISC" "$(printf '%.0f' "$R_DPS")" "$R_P50" "$R_P99" "$R_MPF" \
    "$R_SERVER_US" "$R_REDIS_US" "$R_NODES_CELL" "$R_NODES_CPU" "$R_LOADGEN_PCT" "$BUSY" "$R_OTHERS" "$verdict" >>"$OUT/runs.tsv"
  # The run's JSON gets what bench.sh measured around it.
  jq -c --arg lbl "$LABEL" --arg redis "$REDIS_MODE" --argjson env "$SERVER_ENV_JSON" \
    --arg urls "${REDIS_URLS[*]}" --argjson server_s "$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN { print t / hz }')" \
    --argjson server_us "$R_SERVER_US" --argjson redis_us "$R_REDIS_US" --argjson nodes "$R_NODES_JSON" \
    --argjson loadgen "$R_LOADGEN_PCT" --argjson others "$R_OTHERS" --arg verdict "$verdict" \
    '. + {bench: {"label": $lbl, redis: $redis, server_env: $env, redis_urls: ($urls | split(" ")),
                  server_cpu_s: $server_s, server_us_per_delivery: $server_us,
                  redis_us_per_delivery: $redis_us, redis_nodes: $nodes,
                  loadgen_cpu_pct: $loadgen, others_cpu_pct: $others, verdict: $verdict}}' \
    "$json" >"$json.tmp" && mv "$json.tmp" "$json"
  say "$(printf '  rate %5d msg/s: %7.0f deliveries/s, p50 %6.1f ms, p99 %6.1f ms, %5.2f msg/frame, server %6.2f µs/delivery, Redis µs/message %s, load generator CPU %3s%%, others %2s%%: %s' \
    "$rate" "$R_DPS" "$R_P50" "$R_P99" "$R_MPF" "$R_SERVER_US" "$R_NODES_CELL" "$R_LOADGEN_PCT" "$R_OTHERS" "$verdict")"
  [ "$verdict" = pass ]
}

# measure_rate RATE DEADLINE: run_rate, but a run that failed while other
# processes used DISTURBED % or more of the machine's CPUs says more about
# them than about the server: run it again, up to RETRIES times (while the
# time lasts).
measure_rate() {
  local rate=$1 deadline=$2 tries=0
  while ! run_rate "$rate"; do
    tries=$((tries + 1))
    if [ "$R_OTHERS" -lt "$DISTURBED" ] || [ "$tries" -gt "$RETRIES" ] ||
       [ $((SECONDS + RUN_SECONDS + RUN_OVERHEAD)) -gt "$deadline" ]; then
      return 1
    fi
    say "  (other processes used ${R_OTHERS}% of the CPUs during that run: running it again)"
  done
}

# search_rate: the highest passing rate, within BUDGET_SECONDS (plus up to
# two confirmation runs). Sets BEST_* from the best passing run (BEST_RATE 0
# if none passed) and BEST_CONFIRMED.
search_rate() {
  local deadline=$((SECONDS + BUDGET_SECONDS)) lo=0 hi=0 rate=$START_RATE next
  BEST_RATE=0 BEST_CONFIRMED=no
  while [ $((SECONDS + RUN_SECONDS + RUN_OVERHEAD)) -le "$deadline" ]; do
    if measure_rate "$rate" "$deadline"; then
      lo=$rate
      keep_best
    else
      hi=$rate
    fi
    if [ "$hi" -eq 0 ]; then
      next=$((rate * 2))
    elif [ "$lo" -eq 0 ]; then
      next=$((rate / 2))
      [ "$next" -ge "$MIN_RATE" ] || break
    else
      # Close enough: the gap is within PRECISION percent.
      [ $(((hi - lo) * 100)) -gt $((lo * PRECISION)) ] || break
      next=$(((lo + hi) / 2))
      [ "$next" -gt "$lo" ] || break # rates are whole numbers
    fi
    rate=$next
  done
  # This machine is shared and noisy: a rate counts only if it passes a
  # second time. If it does not, 10% less gets one try; if that fails too,
  # the best rate stays, marked as not confirmed.
  [ "$BEST_RATE" -gt 0 ] || return 0
  deadline=$((SECONDS + 3 * (RUN_SECONDS + RUN_OVERHEAD)))
  say "  confirming $BEST_RATE msg/s"
  if measure_rate "$BEST_RATE" "$deadline"; then
    keep_best
    BEST_CONFIRMED=yes
    return 0
  fi
  local lower=$((BEST_RATE * 9 / 10))
  [ "$lower" -ge "$MIN_RATE" ] || return 0
  say "  confirming $lower msg/s instead"
  if measure_rate "$lower" "$deadline"; then
    keep_best
    BEST_CONFIRMED=yes
  fi
}

keep_best() {
  BEST_RATE=$R_RATE BEST_DPS=$R_DPS BEST_P50=$R_P50 BEST_P99=$R_P99
  BEST_SERVER_US=$R_SERVER_US BEST_REDIS_US=$R_REDIS_US BEST_LOADGEN_PCT=$R_LOADGEN_PCT
  BEST_NODES_CELL=$R_NODES_CELL BEST_NODES_JSON=$R_NODES_JSON
  BEST_CONFIRMED=no
}

# measure_idle: RSS of the servers with IDLE_CLIENTS idle connections,
# minus RSS before they connected, per connection: SETTLE_SECONDS after the
# last client has connected (IDLE_SOON_KB), and IDLE_SECONDS after (IDLE_KB,
# the figure the table leads with). Both servers give back memory when
# left alone: Node's garbage collector shrinks its heap once the process
# is idle, and Go collects the garbage that the handshakes left behind at
# the collection its runtime forces at least every two minutes. So the
# servers first idle IDLE_SECONDS without clients too, and "before" is
# measured then: otherwise a server's own start-up garbage, given back
# later, would count against its connections.
measure_idle() {
  local err=$OUT/$TAG-idle.log json=$OUT/$TAG-idle.json
  IDLE_KB=n/a IDLE_SOON_KB=n/a IDLE_AFTER_KB= IDLE_SOON_AFTER_KB=
  wait_quiet
  start_stack
  say "  idle: letting the servers settle for ${IDLE_SECONDS}s before connecting"
  sleep "$IDLE_SECONDS"
  IDLE_BEFORE_KB=$(rss_kb "${SERVER_PIDS[@]}")
  taskset -c "$LOADGEN_CPU" "$LOADTEST" -servers "$URLS" -protocol "$PROTOCOL" -rooms "$KIND_ROOMS" \
    -clients "$IDLE_CLIENTS" -senders 0 -duration "$((IDLE_SECONDS + 5))s" \
    -connect-timeout 120s -json >"$json" 2>"$err" &
  LOADGEN_PID=$!
  if wait_for_line "$err" "loadtest: connected" "$LOADGEN_PID" 150; then
    sleep "$SETTLE_SECONDS"
    IDLE_SOON_AFTER_KB=$(rss_kb "${SERVER_PIDS[@]}")
    say "  idle: $IDLE_CLIENTS connections; letting the servers settle for ${IDLE_SECONDS}s again"
    sleep "$((IDLE_SECONDS - SETTLE_SECONDS))"
    IDLE_AFTER_KB=$(rss_kb "${SERVER_PIDS[@]}")
  fi
  local rc=0
  wait "$LOADGEN_PID" || rc=$?
  LOADGEN_PID=
  stop_stack
  if [ "$rc" -ne 0 ] || [ -z "$IDLE_AFTER_KB" ]; then
    say "  idle: the load generator failed: $(tail -1 "$err")"
    return
  fi
  per_conn() { awk -v a="$1" -v b="$IDLE_BEFORE_KB" -v n="$IDLE_CLIENTS" 'BEGIN { printf "%.1f", (a - b) / n }'; }
  IDLE_SOON_KB=$(per_conn "$IDLE_SOON_AFTER_KB")
  IDLE_KB=$(per_conn "$IDLE_AFTER_KB")
  say "  idle: $IDLE_CLIENTS connections: RSS $IDLE_BEFORE_KB kB before; $IDLE_SOON_AFTER_KB kB after ${SETTLE_SECONDS}s ($IDLE_SOON_KB kB per connection); $IDLE_AFTER_KB kB after ${IDLE_SECONDS}s ($IDLE_KB kB per connection)"
}

# ---------------------------------------------------------------- main

# parse_spec SPEC: reads KIND[:PROTOCOL][@cluster][,NAME=VALUE...] into
# KIND, PROTOCOL, DIR (the step, empty for node), REDIS_MODE (one or
# cluster), SERVER_ENV (the NAME=VALUE pairs; SERVER_ENV_JSON), INSTANCES,
# KIND_ROOMS, LABEL (for people), TAG (LABEL for file names) and
# RUN_OVERHEAD; dies on a kind it cannot measure.
parse_spec() {
  local spec=$1 head pair parts
  IFS=, read -r -a parts <<<"$spec"
  head=${parts[0]-}
  SERVER_ENV=("${parts[@]:1}")
  for pair in "${SERVER_ENV[@]}"; do
    [[ $pair =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "$spec: \"$pair\" is not NAME=VALUE"
    [[ $pair != REDIS_URL=* ]] || die "$spec: bench.sh sets REDIS_URL itself"
  done
  REDIS_MODE=one
  case $head in
    *@cluster) REDIS_MODE=cluster head=${head%@cluster} ;;
    *@*) die "$spec: after @, bench.sh knows only cluster" ;;
  esac
  KIND=${head%%:*}
  PROTOCOL=
  [ "$head" = "$KIND" ] || PROTOCOL=${head#*:}
  [ -n "$KIND" ] || die "\"$spec\": no kind"
  case $KIND in
    go) DIR=step3-redis ;;
    node) DIR= ;;
    *) DIR=$KIND ;;
  esac
  if [ -z "$PROTOCOL" ]; then
    case $DIR in step4-*) PROTOCOL=rooms ;; *) PROTOCOL=text ;; esac
  fi
  case $PROTOCOL in text | rooms) ;; *) die "$spec: the protocol is text or rooms" ;; esac
  # Step 2's instances do not share messages (no Redis): one instance.
  case $DIR in
    step2-*)
      INSTANCES=${INSTANCES_ASKED:-1}
      [ "$REDIS_MODE" = one ] || die "$spec: step 2 has no Redis"
      ;;
    *) INSTANCES=${INSTANCES_ASKED:-2} ;;
  esac
  # The text protocol has one chat; ROOMS is for step 4's rooms.
  KIND_ROOMS=1
  [ "$PROTOCOL" != rooms ] || KIND_ROOMS=$ROOMS
  LABEL=${DIR:-node}
  [ "$REDIS_MODE" = one ] || LABEL+=@cluster
  for pair in "${SERVER_ENV[@]}"; do LABEL+=",$pair"; done
  TAG=${LABEL//[^A-Za-z0-9_.=-]/_}
  SERVER_ENV_JSON=$(printf '%s\n' "${SERVER_ENV[@]}" | jq -R -s -c 'split("\n") | map(select(. != ""))')
  RUN_OVERHEAD=$RUN_OVERHEAD_ONE
  [ "$REDIS_MODE" = one ] || RUN_OVERHEAD=$RUN_OVERHEAD_CLUSTER
  if [ "$KIND" = node ]; then
    [ "$PROTOCOL" = text ] || die "the Node.js baseline only speaks the text protocol"
    [ -f "$NODE_DIR/seed000.js" ] || die "no $NODE_DIR/seed000.js"
  else
    [ -f "$ROOT/$DIR/main.go" ] || die "no $ROOT/$DIR/main.go"
  fi
  [ "$REDIS_MODE" = one ] || [ -x "$CLUSTER_SH" ] || die "no $CLUSTER_SH"
}

[ $# -gt 0 ] || set -- go node
# Every kind is checked before anything is measured: a typo in the last
# one would otherwise show only after an hour.
CLUSTER_KINDS=no
for spec in "$@"; do
  parse_spec "$spec"
  [ "$REDIS_MODE" = one ] || CLUSTER_KINDS=yes
  if [ "$IDLE" != no ] && [ "$KIND_ROOMS" -gt "$IDLE_CLIENTS" ]; then
    die "ROOMS ($ROOMS) must be at most IDLE_CLIENTS ($IDLE_CLIENTS), or IDLE=no"
  fi
  if [ "$RATE_SEARCH" != no ] && [ "$BUDGET_SECONDS" -lt $((RUN_SECONDS + RUN_OVERHEAD)) ]; then
    die "$LABEL: BUDGET_SECONDS ($BUDGET_SECONDS) leaves no time for one run of about $((RUN_SECONDS + RUN_OVERHEAD)) s"
  fi
done

say "bench.sh: building the load generator"
LOADTEST=$WORK/loadtest
(cd "$ROOT" && go build -o "$LOADTEST" ./tools/loadtest)

{
  echo "date: $(date -Iseconds)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "machine: $(nproc) CPUs, $(uname -sr), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "go: $(go version)"
  echo "node: $(node --version 2>/dev/null || echo none)"
  echo "redis: $(redis-server --version)"
  echo "kinds: $*"
  echo "clients $CLIENTS, senders $SENDERS, rooms $ROOMS (rooms protocol), $RUN_SECONDS s per run, p99 limit $P99_LIMIT_MS ms, idle clients $IDLE_CLIENTS"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/meta.txt"
printf 'kind\trooms\trate\tsent\treceived\tlost\tdisconnected\tdeliveries_per_s\tp50_ms\tp99_ms\tmessages_per_frame\tserver_us_per_delivery\tredis_us_per_delivery\tredis_us_per_message_per_node\tredis_cpu_s_per_node\tloadgen_cpu_pct\tothers_cpu_pct_before\tothers_cpu_pct_during\tverdict\n' >"$OUT/runs.tsv"

ROWS=() ROW_JSONS=()
for spec in "$@"; do
  parse_spec "$spec"
  if [ "$KIND" = node ]; then
    if [ ! -d "$NODE_DIR/node_modules" ]; then
      say "bench.sh: npm install in $NODE_DIR"
      (cd "$NODE_DIR" && npm install --no-audit --no-fund >&2)
    fi
  else
    SERVER_BIN=$WORK/$DIR
    say "bench.sh: building $DIR"
    (cd "$ROOT" && go build -o "$SERVER_BIN" "./$DIR")
  fi
  REDIS_CELL="one node"
  [ "$REDIS_MODE" = one ] || REDIS_CELL="cluster, 3 M + 3 R"

  if [ "$RATE_SEARCH" = no ]; then
    BEST_RATE=0
  else
    say "bench.sh: $LABEL ($PROTOCOL protocol, $INSTANCES instance(s), $KIND_ROOMS room(s), Redis: $REDIS_CELL): searching the highest rate with zero loss and p99 < $P99_LIMIT_MS ms"
    search_rate
  fi
  IDLE_KB=n/a IDLE_SOON_KB=n/a
  if [ "$IDLE" = no ]; then
    IDLE_CELL="not measured"
  else
    say "bench.sh: $LABEL: memory per idle connection"
    measure_idle
    IDLE_CELL="$IDLE_KB (${IDLE_SOON_KB} at ${SETTLE_SECONDS}s)"
  fi

  if [ "$RATE_SEARCH" = no ]; then
    ROWS+=("| $LABEL | $REDIS_CELL | $INSTANCES | $KIND_ROOMS | – | not measured | – | – | – | – | $IDLE_CELL | – |")
  elif [ "$BEST_RATE" -gt 0 ]; then
    note=
    [ "$BEST_CONFIRMED" = yes ] || note=" (not confirmed by a second run)"
    ROWS+=("$(printf '| %s | %s | %s | %s | %d | %.0f%s | %.1f / %.1f | %s | %s | %s | %s | %s%% |' \
      "$LABEL" "$REDIS_CELL" "$INSTANCES" "$KIND_ROOMS" "$BEST_RATE" "$BEST_DPS" "$note" "$BEST_P50" "$BEST_P99" \
      "$BEST_SERVER_US" "$BEST_REDIS_US" "$BEST_NODES_CELL" "$IDLE_CELL" "$BEST_LOADGEN_PCT")")
  else
    ROWS+=("| $LABEL | $REDIS_CELL | $INSTANCES | $KIND_ROOMS | – | no rate passed | – | – | – | – | $IDLE_CELL | – |")
  fi
  # The same for scripts; the figures of the best run, each node's too.
  if [ "$RATE_SEARCH" != no ] && [ "$BEST_RATE" -gt 0 ]; then
    best=$(jq -n -c --argjson rate "$BEST_RATE" --argjson confirmed "$([ "$BEST_CONFIRMED" = yes ] && echo true || echo false)" \
      --argjson dps "$BEST_DPS" --argjson p50 "$BEST_P50" --argjson p99 "$BEST_P99" \
      --argjson server_us "$BEST_SERVER_US" --argjson redis_us "$BEST_REDIS_US" \
      --argjson nodes "$BEST_NODES_JSON" --argjson loadgen "$BEST_LOADGEN_PCT" \
      '{rate: $rate, confirmed: $confirmed, deliveries_per_s: $dps, latency_p50_ms: $p50, latency_p99_ms: $p99,
        server_us_per_delivery: $server_us, redis_us_per_delivery: $redis_us, redis_nodes: $nodes,
        loadgen_cpu_pct: $loadgen}')
  else
    best=null
  fi
  ROW_JSONS+=("$(jq -n -c --arg lbl "$LABEL" --arg kind "$KIND" --arg protocol "$PROTOCOL" --arg redis "$REDIS_MODE" \
    --argjson env "$SERVER_ENV_JSON" --argjson instances "$INSTANCES" --argjson rooms "$KIND_ROOMS" \
    --argjson clients "$CLIENTS" --argjson senders "$SENDERS" --argjson best "$best" \
    --arg idle "$IDLE_KB" --arg idle_soon "$IDLE_SOON_KB" \
    '{"label": $lbl, kind: $kind, protocol: $protocol, redis: $redis, server_env: $env, instances: $instances,
      rooms: $rooms, clients: $clients, senders: $senders, best: $best,
      idle_kb_per_connection: ($idle | tonumber? // null), idle_kb_per_connection_soon: ($idle_soon | tonumber? // null)}')")
done

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
printf '%s\n' "${ROW_JSONS[@]}" | jq -s '.' >"$OUT/summary.json"
{
  if [ "$RATE_SEARCH" = no ]; then
    echo "Memory per idle connection only (RATE_SEARCH=no): $IDLE_CLIENTS idle clients;"
  else
    echo "Highest rate with zero loss and p99 < $P99_LIMIT_MS ms; $CLIENTS clients, $SENDERS senders, ${RUN_SECONDS}s runs;"
  fi
  echo "servers and Redis on CPU $SERVER_CPU, load generator on CPU $LOADGEN_CPU. Raw numbers: $OUT"
  if [ "$CLUSTER_KINDS" = yes ]; then
    echo "A cluster is six redis-server nodes (tools/cluster/cluster.sh: 3 masters, M, and 3 replicas, R);"
    echo "instance 1 talks to the first master, instance 2 to the second. All six nodes share CPU $SERVER_CPU with"
    echo "the servers (on this $(nproc)-CPU machine): the cluster rows compare the work Redis does, not how it scales."
  fi
  echo "Redis CPU per node: µs of CPU per message sent, each node in port order."
  echo
  echo "| server | Redis | instances | rooms | messages/s | deliveries/s | p50 / p99 ms | server CPU µs/delivery | Redis CPU µs/delivery, all nodes | Redis CPU µs/message, per node | KB per idle connection, after ${IDLE_SECONDS}s (after ${SETTLE_SECONDS}s) | load generator CPU |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/summary.md"
