#!/usr/bin/env bash
# The main job: starts runtime-host and example workers as separate processes on loopback.
#
#  1. Two workers each host a Greeter subscribed to the default topic; one publish of "Hello!"
#     makes each republish "<worker>: Hello x N" until each has published exactly 5 (ten lines).
#  2. An oracle worker answers questions; an asking worker prints the typed answer, and what a
#     caller sees for an unknown agent type and for a remote handler error.
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
stop "$oracle_pid" "$host_pid"
echo "== done: host and workers stopped cleanly"
