#!/usr/bin/env bash
# Host CPU per message and per call, AutoGen's Python host and runtime-host side by side in one run,
# with AutoGen's own Python stub clients (one message per write, as Python workers send) and with
# runtime-bench's clients (batched writes). Then runtime-host again with tracing on, exporting
# (OTLP/HTTP protobuf, swift-otel's defaults) to a sink on loopback, with full sampling and with
# 1% (parentbased_traceidratio): the host spans every RPC and publish, and runtime-bench's workers
# trace too. Loopback only; stops only what it starts.
#
#   scripts/bench/cpu-per-message.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product runtime-host >&2
swift build -c release --product runtime-bench >&2
scripts/python-env.sh >&2
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d)
host_pid=
sink_pid=
stop_host() {
  if [[ -n $host_pid ]]; then kill -TERM "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true; host_pid=; fi
}
stop_sink() {
  if [[ -n $sink_pid ]]; then kill -TERM "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; sink_pid=; fi
}
trap 'stop_host; stop_sink; rm -rf "$work"' EXIT

# measure LABEL COMMAND...: starts a host whose first stdout line ends with its address, runs both
# clients against it, stops it.
measure() {
  local label=$1 fd line
  shift
  mkfifo "$work/$label.fifo"
  "$@" >"$work/$label.fifo" 2>"$work/$label.err" &
  host_pid=$!
  exec {fd}<"$work/$label.fifo"
  read -r -t 60 -u "$fd" line || { echo "$label did not start" >&2; cat "$work/$label.err" >&2; exit 1; }
  local address=${line##* }
  timeout 600 .venv/bin/python scripts/bench/python_clients.py "$address" "$host_pid" --label "$label"
  timeout 600 "$bin/runtime-bench" --host "$address" --host-pid "$host_pid" --label "$label" --idle-workers 0 \
    | grep -E "^(host CPU|publish: messages|rpc, )" | sed "s/^/$label | runtime-bench clients | /"
  stop_host
}

port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
measure autogen .venv/bin/python scripts/bench/autogen_host.py "127.0.0.1:$port"
measure runtime-host "$bin/runtime-host" --address 127.0.0.1:0 --log-level warning

# Tracing on, full sampling: the host and runtime-bench's workers export to the sink.
mkfifo "$work/sink.fifo"
.venv/bin/python scripts/bench/otlp_sink.py >"$work/sink.fifo" 2>"$work/sink.err" &
sink_pid=$!
exec {sink_fd}<"$work/sink.fifo"
read -r -t 30 -u "$sink_fd" sink_port || { echo "the OTLP sink did not start" >&2; exit 1; }
export OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_TRACES_SAMPLER=always_on
measure runtime-host+tracing "$bin/runtime-host" --address 127.0.0.1:0 --log-level warning
export OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.01
measure runtime-host+tracing-1% "$bin/runtime-host" --address 127.0.0.1:0 --log-level warning
unset OTEL_TRACES_EXPORTER OTEL_EXPORTER_OTLP_ENDPOINT OTEL_TRACES_SAMPLER OTEL_TRACES_SAMPLER_ARG
stop_sink
cat "$work/sink.err"
