#!/usr/bin/env bash
# cluster.sh: a throwaway Redis Cluster on this machine, for trying step 4
# against a cluster and for tests that need one.
#
# usage: tools/cluster/cluster.sh start|stop|status [PORT]
#
#   start   six redis-server nodes on 127.0.0.1, ports PORT..PORT+5 (default
#           7000; their cluster bus ports, PORT+10000.., must be free too):
#           three masters with one replica each (PORT+3 of PORT, and so on),
#           cluster-node-timeout 2000 ms
#           (a dead master's replica takes over in about 4 s), no
#           persistence. Prints each node and the REDIS_URL to use.
#   stop    shuts the nodes down and removes their files.
#   status  each node's role and slots and, for each master, the shard
#           channels someone subscribes to there (PUBSUB SHARDCHANNELS).
#
# Files (configs, pid files, logs): ${TMPDIR:-/tmp}/pubsub-chat-cluster-PORT.
# Needs redis-server and redis-cli 7 or newer (sharded Pub/Sub).
set -eu

cmd=${1:-}
base=${2:-7000}
nodes=6
timeout_ms=2000
state_dir="${TMPDIR:-/tmp}"
state_dir="${state_dir%/}/pubsub-chat-cluster-$base"

fail() {
	echo "cluster.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: $0 start|stop|status [PORT]  (PORT..PORT+5, default 7000)" >&2
	exit 2
}

case "$base" in
'' | *[!0-9]*) usage ;;
esac
if [ "$base" -lt 1024 ] || [ "$base" -gt 55530 ]; then
	fail "PORT must be between 1024 and 55530 (the bus ports are PORT+10000 and up)"
fi

ports() {
	local i=0
	while [ $i -lt $nodes ]; do
		echo $((base + i))
		i=$((i + 1))
	done
}

# need checks that redis-server and redis-cli exist and are version 7 or newer.
need() {
	local tool version
	for tool in redis-server redis-cli; do
		command -v $tool >/dev/null 2>&1 || fail "$tool not found: install Redis 7 or newer"
		# "Redis server v=7.0.15 sha=..." or "redis-cli 7.0.15": the major version
		version=$($tool --version 2>/dev/null | tr ' =' '\n\n' | grep -E '^v?[0-9]+\.[0-9]+\.[0-9]+$' | head -n 1 | sed 's/^v//; s/\..*//')
		[ -n "$version" ] || fail "cannot tell the version of $tool"
		[ "$version" -ge 7 ] || fail "$tool is version $version; sharded Pub/Sub needs Redis 7 or newer"
	done
}

# taken reports whether something accepts connections on 127.0.0.1:$1.
taken() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cli() {
	local port=$1
	shift
	redis-cli -h 127.0.0.1 -p "$port" "$@" 2>/dev/null | tr -d '\r'
}

# describe prints one node as it sees itself: port, role, slots or master.
# Its own CLUSTER NODES line is "id ip:port@bus myself,master|slave master-id
# ... slot ranges"; a replica's master is found by id in the same output.
describe() {
	local port=$1 out
	out=$(cli "$port" cluster nodes) || true
	case "$out" in
	'')
		echo "$port  down (not answering)"
		return
		;;
	*myself*) ;;
	*)
		echo "$port  not a cluster node: $(echo "$out" | head -n 1)"
		return
		;;
	esac
	echo "$out" | awk -v port="$port" '
		{ split($2, a, "@"); n = split(a[1], hp, ":"); portof[$1] = hp[n] }
		$3 ~ /myself/ { me = $0 }
		END {
			n = split(me, f, " ")
			if (f[3] ~ /master/) {
				slots = ""
				for (i = 9; i <= n; i++) if (f[i] !~ /^\[/) slots = slots (slots == "" ? "" : ",") f[i]
				if (slots == "") slots = "none"
				printf "%s  master   slots %s\n", port, slots
			} else {
				printf "%s  replica  of %s\n", port, ((f[4] in portof) ? portof[f[4]] : f[4])
			}
		}'
}

start() {
	need
	local port dir waited=0 ok
	for port in $(ports); do
		if taken "$port" || taken $((port + 10000)); then
			if [ -d "$state_dir" ]; then
				fail "port $port (or its bus port $((port + 10000))) is taken: is this cluster already running? ($0 stop $base)"
			fi
			fail "port $port (or its bus port $((port + 10000))) is taken: choose another PORT"
		fi
	done
	rm -rf "$state_dir" # a cluster that did not stop cleanly
	mkdir -p "$state_dir"
	for port in $(ports); do
		dir="$state_dir/$port"
		mkdir -p "$dir"
		redis-server --port "$port" --bind 127.0.0.1 \
			--cluster-enabled yes --cluster-config-file "nodes-$port.conf" \
			--cluster-node-timeout "$timeout_ms" --save '' --appendonly no \
			--shutdown-on-sigterm 'nosave now' --repl-diskless-sync-delay 0 \
			--dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" ||
			fail "redis-server on port $port did not start"
	done
	for port in $(ports); do
		waited=0
		until [ "$(cli "$port" ping)" = PONG ]; do
			if [ $waited -ge 50 ]; then
				tail -n 5 "$state_dir/$port/redis.log" >&2 || true
				stop_nodes
				fail "redis-server on port $port did not answer within 5 s (its log is above)"
			fi
			sleep 0.1
			waited=$((waited + 1))
		done
	done
	# The first half are masters; then each master gets its replica, PORT+3
	# of PORT, and so on: always the same (--cluster-replicas 1 would pick
	# the pairs itself, differently from one start to the next).
	local masters=$((nodes / 2)) i id
	# shellcheck disable=SC2046 # one argument per node
	if ! redis-cli --cluster create $(ports | head -n $masters | sed 's/^/127.0.0.1:/') \
		--cluster-yes >"$state_dir/create.log" 2>&1; then
		tail -n 5 "$state_dir/create.log" >&2
		stop_nodes
		fail "redis-cli --cluster create failed (its output is above)"
	fi
	i=0
	while [ $i -lt $masters ]; do
		id=$(cli $((base + i)) cluster myid)
		if ! redis-cli --cluster add-node 127.0.0.1:$((base + masters + i)) 127.0.0.1:$((base + i)) \
			--cluster-slave --cluster-master-id "$id" >>"$state_dir/create.log" 2>&1; then
			tail -n 5 "$state_dir/create.log" >&2
			stop_nodes
			fail "redis-cli --cluster add-node failed (its output is above)"
		fi
		i=$((i + 1))
	done
	waited=0
	while :; do
		ok=yes
		for port in $(ports); do
			cli "$port" cluster info | grep -q '^cluster_state:ok' || ok=no
			# A replica that has not synced yet would not take over.
			case "$(cli "$port" info replication)" in
			*role:slave*master_link_status:up*) ;;
			*role:slave*) ok=no ;;
			esac
		done
		[ $ok = yes ] && break
		if [ $waited -ge 300 ]; then
			stop_nodes
			fail "the cluster did not reach cluster_state:ok with every replica in sync within 30 s"
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	for port in $(ports); do
		describe "$port"
	done
	echo "REDIS_URL=redis://127.0.0.1:$base"
}

# stop_nodes ends every node this script started for $base (its pid file says
# which process), then removes the files.
stop_nodes() {
	local port pidfile pid pids="" waited=0
	for port in $(ports); do
		pidfile="$state_dir/$port/redis.pid"
		[ -f "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		# Only a redis-server: a stale pid file may name somebody else's
		# process. SIGTERM shuts it down at once (shutdown-on-sigterm).
		case "$(ps -p "$pid" -o comm= 2>/dev/null)" in
		*redis-server*)
			kill "$pid" 2>/dev/null || true
			pids="$pids $pid"
			;;
		esac
	done
	for pid in $pids; do
		while kill -0 "$pid" 2>/dev/null; do
			if [ $waited -ge 100 ]; then
				kill -9 "$pid" 2>/dev/null || true
				break
			fi
			sleep 0.1
			waited=$((waited + 1))
		done
	done
	rm -rf "$state_dir"
}

stop() {
	[ -d "$state_dir" ] || fail "no cluster started on port $base ($state_dir does not exist)"
	stop_nodes
	echo "stopped the cluster on ports $base-$((base + nodes - 1)) and removed $state_dir"
}

status() {
	command -v redis-cli >/dev/null 2>&1 || fail "redis-cli not found: install Redis 7 or newer"
	local port line channels state=""
	for port in $(ports); do
		[ -n "$state" ] || state=$(cli "$port" cluster info | grep '^cluster_state:') || true
		line=$(describe "$port")
		case "$line" in
		*master*)
			channels=$(cli "$port" pubsub shardchannels | tr '\n' ' ' | sed 's/ *$//')
			echo "$line  shard channels: ${channels:-none}"
			;;
		*) echo "$line" ;;
		esac
	done
	echo "${state:-cluster_state: unknown (no node answers)}"
	echo "REDIS_URL=redis://127.0.0.1:$base"
}

case "$cmd" in
start) start ;;
stop) stop ;;
status) status ;;
*) usage ;;
esac
