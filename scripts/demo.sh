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

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# start NAME COMMAND...: runs COMMAND in the background with stderr on a FIFO; waits (bounded) for
# its first stderr line and prints it; later stderr lines go to $work/NAME.err.
start() {
  local name=$1; shift
  mkfifo "$work/$name.fifo"
  "$@" 2>"$work/$name.fifo" &
  pids+=($!)
  exec {fd}<"$work/$name.fifo"
  local line
  if ! read -r -t 60 -u "$fd" line; then
    echo "$name did not start within 60 s" >&2
    exit 1
  fi
  cat <&"$fd" >"$work/$name.err" &
  echo "$line" >&2
}

# The host prints its address on stdout; read it through a FIFO too.
mkfifo "$work/host.out"
"$bin/runtime-host" --address 127.0.0.1:0 --log-level warning >"$work/host.out" 2>"$work/host.err" &
host_pid=$!
pids+=("$host_pid")
exec {hostfd}<"$work/host.out"
read -r -t 60 -u "$hostfd" line || { echo "runtime-host did not start" >&2; cat "$work/host.err" >&2; exit 1; }
echo "$line"
address=${line##* }

echo "== publish: two workers greet each other"
start worker1 "$bin/example-worker" hello --host "$address" --name worker1
worker1_pid=${pids[-1]}
start worker2 "$bin/example-worker" hello --host "$address" --name worker2 --say-hello
worker2_pid=${pids[-1]}
timeout 60 tail --pid="$worker1_pid" -f /dev/null
timeout 60 tail --pid="$worker2_pid" -f /dev/null
wait "$worker1_pid" "$worker2_pid"

echo "== rpc: a worker asks an agent on another worker"
start oracle "$bin/example-worker" oracle --host "$address"
oracle_pid=${pids[-1]}
timeout 60 "$bin/example-worker" ask --host "$address"
kill -TERM "$oracle_pid"
wait "$oracle_pid"

kill -TERM "$host_pid"
wait "$host_pid"
echo "== done: host and workers stopped cleanly"
