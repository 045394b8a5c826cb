#!/usr/bin/env bash
# Measures AutoGen's Python host and runtime-host in one run, with the same clients and workloads
# (runtime-bench), and prints the ratios. Loopback only; stops only what it starts.
#
#   scripts/bench/compare-hosts.sh [--pin] [runtime-bench options, e.g. --quick]
#
# --pin runs each host on CPU 0 and the benchmark clients on CPU 1 (taskset), so each host gets
# exactly one core and the clients never compete with it.
set -euo pipefail
cd "$(dirname "$0")/../.."

host_cpu=()
bench_cpu=()
if [[ ${1:-} == --pin ]]; then
  shift
  host_cpu=(taskset -c 0)
  bench_cpu=(taskset -c 1)
fi

swift build -c release --product runtime-host >&2
swift build -c release --product runtime-bench >&2
scripts/python-env.sh >&2
bin=$(swift build -c release --show-bin-path)
out=${BENCH_OUT:-$(mktemp -d)}
mkdir -p "$out"
host_pid=

stop_host() {
  if [[ -n $host_pid ]]; then
    kill -TERM "$host_pid" 2>/dev/null || true
    wait "$host_pid" 2>/dev/null || true
    host_pid=
  fi
}
trap stop_host EXIT

# run_host NAME COMMAND...: starts a host whose first stdout line ends with its address.
run_host() {
  local name=$1 fd line
  shift
  rm -f "$out/$name.fifo"
  mkfifo "$out/$name.fifo"
  "${host_cpu[@]}" "$@" >"$out/$name.fifo" 2>"$out/$name.err" &
  host_pid=$!
  exec {fd}<"$out/$name.fifo"
  read -r -t 60 -u "$fd" line || { echo "$name did not start" >&2; cat "$out/$name.err" >&2; exit 1; }
  address=${line##* }
  echo "$name (pid $host_pid) at $address" >&2
}

port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_host autogen .venv/bin/python scripts/bench/autogen_host.py "127.0.0.1:$port"
"${bench_cpu[@]}" "$bin/runtime-bench" --host "$address" --host-pid "$host_pid" --label "AutoGen host (Python)" --json "$out/autogen.json" "$@"
stop_host

run_host ours "$bin/runtime-host" --address 127.0.0.1:0 --log-level warning
"${bench_cpu[@]}" "$bin/runtime-bench" --host "$address" --host-pid "$host_pid" --label "runtime-host (Swift)" --json "$out/ours.json" "$@"
stop_host

echo
.venv/bin/python scripts/bench/compare.py "$out/ours.json" "$out/autogen.json"
echo "(reports: $out${host_cpu:+; hosts pinned to CPU 0, clients to CPU 1})"
