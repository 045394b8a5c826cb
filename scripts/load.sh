#!/usr/bin/env bash
# Load, soak and reconnect checks: runtime-host (a process on loopback, started and stopped here by
# pid) and N workers of the product's own GrpcWorkerRuntime. Every check counts deliveries exactly
# (nothing lost, nothing duplicated) and is bounded in time; a failed check exits non-zero.
#
#   scripts/load.sh                       load: 8 workers x 2,000 publishes each + 200 RPCs each
#   scripts/load.sh soak [SECONDS]        back-to-back load rounds for SECONDS (default 600), host
#                                         RSS every 10 s, written to .build/soak.csv
#   scripts/load.sh reconnect             SIGKILL and restart the host 3 times under 8 workers:
#                                         reconnect time; publishes buffered meanwhile arrive once
#   DEBUG=1 scripts/load.sh ...           use the debug build (what CI does, with smaller numbers)
#
# Further arguments go to runtime-bench (see: runtime-bench load --help).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-load}
[[ $# -gt 0 ]] && shift
config=release
[[ ${DEBUG:-0} == 1 ]] && config=debug
swift build -c "$config" --product runtime-bench >&2
swift build -c "$config" --product runtime-host >&2
bin=$(swift build -c "$config" --show-bin-path)

case $mode in
  load)
    exec timeout 900 "$bin/runtime-bench" load --workers 8 --messages 2000 --rpcs 200 "$@" ;;
  soak)
    seconds=600
    if [[ $# -gt 0 && $1 != -* ]]; then seconds=$1; shift; fi
    exec timeout $((seconds + 300)) "$bin/runtime-bench" soak --workers 8 --messages 1000 --rpcs 100 \
      --duration "$seconds" --interval 10 --csv .build/soak.csv "$@" ;;
  reconnect)
    exec timeout 600 "$bin/runtime-bench" reconnect --workers 8 --buffered 500 --cycles 3 "$@" ;;
  *)
    echo "usage: scripts/load.sh [load|soak [SECONDS]|reconnect] [runtime-bench options]" >&2
    exit 2 ;;
esac
