#!/usr/bin/env bash
# Three runtime-host nodes on one machine, one bus over PostgreSQL, with workers on different nodes.
#
#  1. A throwaway PostgreSQL server (scripts/postgres.sh), unless AGENTS_TEST_POSTGRES_URL names one.
#  2. node1, node2 and node3 (runtime-host --cluster) on free loopback ports, each with its gateway.
#  3. The oracle worker connects to node2 (with node3 as its fallback); a worker on node3 asks it
#     across nodes; curl asks it through node1's gateway; agentctl on node1 lists which node serves
#     which type.
#  4. node2 stops: the oracle worker fails over to node3, and node1's gateway reaches it there.
#
# Usage: scripts/cluster-demo.sh   (builds first; every wait is bounded; stops only what it started)
set -euo pipefail
cd "$(dirname "$0")/.."

swift build >&2
bin=$(swift build --show-bin-path)
source scripts/lib/processes.sh

if [[ -z ${AGENTS_TEST_POSTGRES_URL:-} ]]; then
  eval "$(scripts/postgres.sh start)"
  trap 'cleanup; scripts/postgres.sh stop "$AGENTS_TEST_POSTGRES_DIR"' EXIT
fi
schema=demo_$$_$RANDOM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_node N: node N on a free gRPC port (its advertised address) and a free HTTP port; sets
# grpc[N], http[N] and node_pid[N].
declare -A grpc http node_pid
start_node() {
  local n=$1 fd line
  grpc[$n]=127.0.0.1:$(free_port)
  mkfifo "$work/node$n.out"
  "$bin/runtime-host" --cluster "$AGENTS_TEST_POSTGRES_URL" --cluster-schema "$schema" --node-name "node$n" \
    --address "${grpc[$n]}" --http-address 127.0.0.1:0 --log-level warning >"$work/node$n.out" 2>"$work/node$n.err" &
  node_pid[$n]=$!
  pids+=("${node_pid[$n]}")
  exec {fd}<"$work/node$n.out"
  read -r -t 60 -u "$fd" line || { echo "node$n did not start" >&2; cat "$work/node$n.err" >&2; exit 1; }
  read -r -t 60 -u "$fd" line || { echo "node$n did not start its HTTP listener" >&2; exit 1; }
  http[$n]=${line#*://}
  http[$n]=${http[$n]%% *}
  echo "node$n: gRPC ${grpc[$n]}, HTTP ${http[$n]}"
}

# wait_until WHAT COMMAND...: runs COMMAND until it succeeds (at most 20 s).
wait_until() {
  local what=$1 deadline=$((SECONDS + 20))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { echo "timed out: $what" >&2; return 1; }
    sleep 0.05
  done
}
cluster() { curl -sS --max-time 5 "http://${http[$1]}/v1/cluster"; }
linked() { [[ $(cluster "$1" | grep -o '"linked":true' | wc -l) -eq $2 ]]; }
# serves N TYPE NODE: node N's gateway says that (only) NODE serves TYPE.
serves() {
  curl -sS --max-time 5 "http://${http[$1]}/v1/agent-types" | python3 -c \
    "import json, sys; types = {t['type']: t.get('nodes') for t in json.load(sys.stdin)['agentTypes']}; sys.exit(types.get('$2') != ['$3'])"
}

echo "== three nodes, one directory (PostgreSQL schema $schema)"
for n in 1 2 3; do start_node "$n"; done
for n in 1 2 3; do wait_until "node$n linked to the other two" linked "$n" 2; done
echo "each node is linked to the other two"

echo "== a worker on node3 asks the oracle, whose worker is on node2"
start oracle "$bin/example-worker" oracle --host "${grpc[2]},${grpc[3]}"
oracle_pid=$last_pid
wait_until "node3 knows node2 serves the oracle" serves 3 oracle node2
timeout 60 "$bin/example-worker" ask --host "${grpc[3]}" 2>&1 | grep -E "^(asked|typed answer)"

echo "== node1's gateway: curl and agentctl"
echo "\$ curl http://\$NODE1/v1/agents/oracle/default?type=Question -d '{\"text\":\"Who answers?\"}'"
curl -sS --max-time 10 "http://${http[1]}/v1/agents/oracle/default?type=Question" -d '{"text":"Who answers?"}'
echo
echo "\$ agentctl agents --server \$NODE1"
"$bin/agentctl" agents --server "${grpc[1]}" | grep -E "^oracle"

echo "== node2 stops: its oracle worker fails over to node3"
stop "${node_pid[2]}"
wait_until "node1 knows node3 serves the oracle" serves 1 oracle node3
curl -sS --max-time 10 "http://${http[1]}/v1/agents/oracle/default?type=Question" -d '{"text":"Still there?"}'
echo
"$bin/agentctl" agents --server "${grpc[1]}" | grep -E "^oracle"
stop "$oracle_pid" "${node_pid[1]}" "${node_pid[3]}"
echo "== done: nodes and workers stopped cleanly"
