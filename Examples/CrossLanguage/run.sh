#!/usr/bin/env bash
# A Python AutoGen worker and Swift workers talking through runtime-host.
#
#   Examples/CrossLanguage/run.sh
#
# Builds, sets up .venv with autogen-ext[grpc]==0.7.5 (scripts/python-env.sh), starts runtime-host,
# a Swift oracle worker and a Swift greeter worker, then the Python worker (python_worker.py): it asks
# the Swift oracle a question over RPC and exchanges five greetings each with the Swift greeter.
# Then a Python agent that streams (python_streamer.py) answers an HTTP caller (curl, SSE) and
# agentctl word by word.
set -euo pipefail
cd "$(dirname "$0")/../.."

swift build >&2
scripts/python-env.sh >&2
bin=$(swift build --show-bin-path)
source scripts/lib/processes.sh

start_host
start oracle "$bin/example-worker" oracle --host "$address"
oracle_pid=$last_pid
start swift_greeter "$bin/example-worker" hello --host "$address" --name swift_greeter
greeter_pid=$last_pid
timeout 120 .venv/bin/python Examples/CrossLanguage/python_worker.py "$address"
wait_exit "$greeter_pid"

echo "== a Python agent streams its answer to an HTTP caller (SSE) and to agentctl"
start py_writer .venv/bin/python Examples/CrossLanguage/python_streamer.py "$address"
writer_pid=$last_pid
curl -sS -N --max-time 20 -H 'Accept: text/event-stream' "http://$http/v1/agents/py_writer/w1?type=Question" \
  -d '{"text":"Why stream?"}' | grep -E '^event:' | uniq -c | sed -E 's/^ *([0-9]+) event: (.*)/sse: \1 x \2/'
timeout 30 "$bin/agentctl" call py_writer/w1 '{"text":"Why stream?"}' --type Question --stream --server "$address" \
  | tail -n 1 | sed 's/^/agentctl result: /'
stop "$writer_pid" "$oracle_pid" "$host_pid"
echo "== done: Python and Swift workers talked through runtime-host"
