#!/usr/bin/env bash
# A Python AutoGen worker and Swift workers talking through runtime-host.
#
#   Examples/CrossLanguage/run.sh
#
# Builds, sets up .venv with autogen-ext[grpc]==0.7.5 (scripts/python-env.sh), starts runtime-host,
# a Swift oracle worker and a Swift greeter worker, then the Python worker (python_worker.py): it asks
# the Swift oracle a question over RPC and exchanges five greetings each with the Swift greeter.
# Then a Python agent that streams (python_streamer.py) answers an HTTP caller (curl, SSE) and
# agentctl word by word. Every process has its own token and identity (--auth-file): each may do
# only what its work needs, and the Python workers send their tokens with agents_auth.py.
set -euo pipefail
cd "$(dirname "$0")/../.."

swift build >&2
scripts/python-env.sh >&2
bin=$(swift build --show-bin-path)
source scripts/lib/processes.sh

# One token per process; the host keeps only their SHA-256 (README, Security).
for name in oracle greeter python writer cli; do declare "${name}_token=$(openssl rand -hex 16)"; done
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
cat >"$work/auth.json" <<EOF
{"identities": [
  {"name": "oracle", "token_sha256": "$(hash "$oracle_token")", "serve": ["oracle"]},
  {"name": "swift-greeter", "token_sha256": "$(hash "$greeter_token")",
   "serve": ["swift_greeter"], "publish": ["default"], "watch": ["default"]},
  {"name": "python-worker", "token_sha256": "$(hash "$python_token")",
   "serve": ["python_greeter"], "publish": ["default"], "watch": ["default"], "call": ["oracle"]},
  {"name": "python-writer", "token_sha256": "$(hash "$writer_token")", "serve": ["py_writer"], "publish": ["agstream.*"]},
  {"name": "cli", "token_sha256": "$(hash "$cli_token")", "call": ["py_writer"]}
]}
EOF

start_host --auth-file "$work/auth.json"
start oracle env RUNTIME_HOST_AUTH_TOKEN="$oracle_token" "$bin/example-worker" oracle --host "$address"
oracle_pid=$last_pid
start swift_greeter env RUNTIME_HOST_AUTH_TOKEN="$greeter_token" "$bin/example-worker" hello --host "$address" --name swift_greeter
greeter_pid=$last_pid
AGENTS_TOKEN=$python_token timeout 120 .venv/bin/python Examples/CrossLanguage/python_worker.py "$address"
wait_exit "$greeter_pid"

echo "== a Python agent streams its answer to an HTTP caller (SSE) and to agentctl"
start py_writer env AGENTS_TOKEN="$writer_token" .venv/bin/python Examples/CrossLanguage/python_streamer.py "$address"
writer_pid=$last_pid
curl -sS -N --max-time 20 -H 'Accept: text/event-stream' -H "Authorization: Bearer $cli_token" \
  "http://$http/v1/agents/py_writer/w1?type=Question" \
  -d '{"text":"Why stream?"}' | grep -E '^event:' | uniq -c | sed -E 's/^ *([0-9]+) event: (.*)/sse: \1 x \2/'
timeout 30 "$bin/agentctl" call py_writer/w1 '{"text":"Why stream?"}' --type Question --stream --server "$address" \
  --token "$cli_token" | tail -n 1 | sed 's/^/agentctl result: /'
echo "== the cli identity may call py_writer, and nothing else"
curl -sS --max-time 20 -H "Authorization: Bearer $cli_token" "http://$http/v1/agents/oracle/default?type=Question" \
  -d '{"text":"May I?"}' -w ' (HTTP %{http_code})\n'
stop "$writer_pid" "$oracle_pid" "$host_pid"
echo "== done: Python and Swift workers talked through runtime-host"
