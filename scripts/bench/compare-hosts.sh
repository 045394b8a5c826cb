#!/usr/bin/env bash
# Measures AutoGen's Python host and runtime-host in one run, with the same clients and workloads
# (runtime-bench), and prints the ratios. Loopback only; stops only what it starts.
#
#   scripts/bench/compare-hosts.sh [runtime-bench options, e.g. --quick]
set -euo pipefail
cd "$(dirname "$0")/../.."

swift build -c release --product runtime-host >&2
swift build -c release --product runtime-bench >&2
scripts/python-env.sh >&2
bin=$(swift build -c release --show-bin-path)
out=${BENCH_OUT:-$(mktemp -d)}
mkdir -p "$out"

port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkfifo "$out/autogen.fifo"
.venv/bin/python scripts/bench/autogen_host.py "127.0.0.1:$port" >"$out/autogen.fifo" 2>"$out/autogen.err" &
autogen_pid=$!
trap 'kill -TERM "$autogen_pid" 2>/dev/null || true; wait "$autogen_pid" 2>/dev/null || true' EXIT
exec {fd}<"$out/autogen.fifo"
read -r -t 60 -u "$fd" line || { echo "AutoGen's host did not start" >&2; cat "$out/autogen.err" >&2; exit 1; }
echo "AutoGen host (pid $autogen_pid): $line" >&2

echo "== AutoGen's Python host" >&2
"$bin/runtime-bench" --host "127.0.0.1:$port" --host-pid "$autogen_pid" --label "AutoGen host (Python)" --json "$out/autogen.json" "$@"
kill -TERM "$autogen_pid"
wait "$autogen_pid" || true
trap - EXIT

echo "== runtime-host (Swift)" >&2
"$bin/runtime-bench" --label "runtime-host (Swift)" --json "$out/ours.json" "$@"

echo
.venv/bin/python scripts/bench/compare.py "$out/ours.json" "$out/autogen.json"
echo "(reports: $out)"
