#!/usr/bin/env bash
# Starts runtime-host on a free loopback port and runs the AutoGen Python smoke test against it.
#   Tests/Interop/run-smoke.sh PYTHON RUNTIME_HOST_BINARY
set -euo pipefail
python=$1
host_bin=$2
work=$(mktemp -d)
fifo=$work/host.out
mkfifo "$fifo"

"$host_bin" --address 127.0.0.1:0 --log-level notice >"$fifo" 2>"$work/host.err" &
host_pid=$!
cleanup() {
  kill -TERM "$host_pid" 2>/dev/null || true
  wait "$host_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
exec 3<"$fifo"

# The host's first line names the address it listens on.
if ! read -r -t 30 -u 3 line; then
  echo "runtime-host did not report its address within 30 s" >&2
  cat "$work/host.err" >&2
  exit 1
fi
address=${line##* }
echo "runtime-host listening on $address (pid $host_pid)"

status=0
timeout 120 "$python" "$(dirname "$0")/smoke_python_workers.py" "$address" || status=$?

# Graceful stop: SIGTERM, and the host must exit 0.
kill -TERM "$host_pid"
host_status=0
wait "$host_pid" || host_status=$?
trap 'rm -rf "$work"' EXIT
if [[ $host_status -ne 0 ]]; then
  echo "runtime-host exited with $host_status after SIGTERM" >&2
  cat "$work/host.err" >&2
  status=1
fi
[[ $status -eq 0 ]] || { echo "host log:" >&2; cat "$work/host.err" >&2; }
exit $status
