#!/usr/bin/env bash
# The standalone example package (Examples/TranslatorWorker, its own Package.swift depending on this
# one by path): builds it, runs its tests, then runs its worker against runtime-host and calls its
# agents with agentctl and from an AutoGen Python program (python/autogen_client.py, in .venv from
# scripts/python-env.sh). Loopback only; stops only what it starts.
#
#   scripts/example-package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build >/dev/null
bin=$(swift build --show-bin-path)

echo "== build and test Examples/TranslatorWorker"
(cd Examples/TranslatorWorker && swift build && swift test)
example_bin=$(cd Examples/TranslatorWorker && swift build --show-bin-path)

source scripts/lib/processes.sh
echo "== run translator-worker against runtime-host (host from RUNTIME_HOST_ADDRESS)"
start_host
RUNTIME_HOST_ADDRESS=$address "$example_bin/translator-worker" >"$work/worker.out" 2>"$work/worker.err" &
worker_pid=$!
pids+=("$worker_pid")
# Registered with the host once its log says so (stdout is block-buffered into a file).
wait_for_line "$work/worker.err" "type=auditor .*agent type registered" 1 || { cat "$work/worker.err" >&2; exit 1; }

answer=$("$bin/agentctl" call translator/default '{"text":"Hello world","to":"fr"}' --type TranslateRequest --server "$address")
echo "translator: $answer"
[[ $answer == '{"text":"bonjour monde"}' ]]
"$bin/agentctl" publish audit.events/site-1 '{"what":"login"}' --type AuditEvent --count 3 --server "$address"
total=$("$bin/agentctl" call auditor/site-1 '{}' --type AuditCount --server "$address")
echo "auditor: $total"
[[ $total == '{"count":3}' ]]
if "$bin/agentctl" call translator/default '{"text":"hi","to":"xx"}' --type TranslateRequest --server "$address" 2>"$work/refused.err"; then
  echo "a language with no dictionary was not refused" >&2
  exit 1
fi
echo "refused: $(cat "$work/refused.err")"
grep -q "no dictionary for 'xx'" "$work/refused.err"

echo "== an AutoGen Python program calls the translator and publishes to the auditor"
scripts/python-env.sh >&2
timeout 120 .venv/bin/python Examples/TranslatorWorker/python/autogen_client.py "$address"

echo "== SIGTERM: the worker shuts down gracefully and exits 0"
stop "$worker_pid"

echo "== the same worker in AutoGen Python (python/translator_worker.py) answers agentctl alike"
.venv/bin/python Examples/TranslatorWorker/python/translator_worker.py "$address" >"$work/pyworker.out" 2>&1 &
pyworker_pid=$!
pids+=("$pyworker_pid")
wait_for_line "$work/pyworker.out" "serving on" 1 || { cat "$work/pyworker.out" >&2; exit 1; }
answer=$("$bin/agentctl" call translator/default '{"text":"Hello world","to":"fr"}' --type TranslateRequest --server "$address")
echo "python translator: $answer"
[[ $answer == '{"text": "bonjour monde"}' ]]
stop "$pyworker_pid"
echo "OK: the standalone package builds, passes its tests, and serves through runtime-host (agentctl and AutoGen Python)"
