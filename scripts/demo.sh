#!/usr/bin/env bash
# The main job: starts runtime-host and example workers as separate processes on loopback.
#
#  1. Two workers each host a Greeter subscribed to the default topic; one publish of "Hello!"
#     makes each republish "<worker>: Hello x N" until each has published exactly 5 (ten lines).
#  2. An oracle worker answers questions; an asking worker prints the typed answer, and what a
#     caller sees for an unknown agent type and for a remote handler error.
#  3. The gateway: curl calls the oracle over HTTP (plain and streamed as SSE), tails a topic with
#     SSE; agentctl lists agent types, calls (plain and streamed), publishes and subscribes.
#
# Usage: scripts/demo.sh   (builds first; every wait is bounded; stops only what it started)
set -euo pipefail
cd "$(dirname "$0")/.."

swift build >&2
bin=$(swift build --show-bin-path)
source scripts/lib/processes.sh

start_host

echo "== publish: two workers greet each other"
start worker1 "$bin/example-worker" hello --host "$address" --name worker1
worker1_pid=$last_pid
start worker2 "$bin/example-worker" hello --host "$address" --name worker2 --say-hello
wait_exit "$worker1_pid" "$last_pid"

echo "== rpc: a worker asks an agent on another worker"
start oracle "$bin/example-worker" oracle --host "$address"
oracle_pid=$last_pid
timeout 60 "$bin/example-worker" ask --host "$address"

echo "== gateway: curl over HTTP/JSON and SSE"
echo "\$ curl http://\$HTTP/v1/agents/oracle/default?type=Question -d '{\"text\":\"What is six times seven?\"}'"
curl -sS --max-time 10 "http://$http/v1/agents/oracle/default?type=Question" -d '{"text":"What is six times seven?"}'
echo
echo "\$ curl -N -H 'Accept: text/event-stream' http://\$HTTP/v1/agents/oracle/default?type=Question -d '{\"text\":\"Stream it\"}'"
curl -sS -N --max-time 10 -H 'Accept: text/event-stream' "http://$http/v1/agents/oracle/default?type=Question" \
  -d '{"text":"Stream it"}' | grep -E '^(event|data):'
echo "\$ curl -N http://\$HTTP/v1/topics/news/events   (in the background, while three headlines are published)"
curl -sS -N --max-time 20 "http://$http/v1/topics/news/events" >"$work/tail.out" &
tail_pid=$!
pids+=("$tail_pid")
wait_for_line "$work/tail.out" "tap open" 1
for n in 1 2 3; do
  curl -sS --max-time 10 -o /dev/null "http://$http/v1/topics/news/demo?type=Greeting" -d "{\"text\":\"headline $n\"}"
done
wait_for_line "$work/tail.out" "^event: news" 3
kill "$tail_pid"
wait "$tail_pid" 2>/dev/null || true
grep -E '^data:' "$work/tail.out" | sed -E 's/.*"data":(\{[^}]*\}).*/tail: \1/'

echo "== gateway: agentctl over gRPC"
echo "\$ agentctl agents"
"$bin/agentctl" agents --server "$address"
echo "\$ agentctl call oracle/default '{\"text\":\"What is six times seven?\"}' --type Question"
"$bin/agentctl" call oracle/default '{"text":"What is six times seven?"}' --type Question --server "$address"
echo "\$ agentctl call oracle/default '{\"text\":\"Stream it\"}' --type Question --stream"
"$bin/agentctl" call oracle/default '{"text":"Stream it"}' --type Question --stream --server "$address"
echo "\$ agentctl publish news/demo '{\"text\":\"headline 4\"}' --type Greeting"
"$bin/agentctl" publish news/demo '{"text":"headline 4"}' --type Greeting --server "$address" >/dev/null
echo "\$ agentctl subscribe news --after 0 --count 4   (replays what the host still holds)"
timeout 20 "$bin/agentctl" subscribe news --after 0 --count 4 --server "$address" | sed -E 's/"id":"[^"]*",//'
echo "\$ agentctl call nobody/x '{}' --type Question"
"$bin/agentctl" call nobody/x '{}' --type Question --server "$address" 2>&1 || echo "(exit status $?)"
stop "$oracle_pid" "$host_pid"
echo "== done: host and workers stopped cleanly"
