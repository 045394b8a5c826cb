# Process helpers for the demo scripts (source this file). Every wait is bounded; cleanup stops
# only the processes started here, by pid.

work=$(mktemp -d)
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# start_host [FLAG...]: starts runtime-host on free loopback ports (gRPC and HTTP) with any extra
# flags; sets $address (gRPC), $http (HTTP, HOST:PORT) and $host_pid and prints the host's two
# address lines.
start_host() {
  mkfifo "$work/host.out"
  "$bin/runtime-host" --address 127.0.0.1:0 --http-address 127.0.0.1:0 --log-level warning "$@" >"$work/host.out" 2>"$work/host.err" &
  host_pid=$!
  pids+=("$host_pid")
  local fd line
  exec {fd}<"$work/host.out"
  read -r -t 60 -u "$fd" line || { echo "runtime-host did not start" >&2; cat "$work/host.err" >&2; exit 1; }
  echo "$line"
  address=${line##* }
  read -r -t 60 -u "$fd" line || { echo "runtime-host did not start its HTTP listener" >&2; cat "$work/host.err" >&2; exit 1; }
  echo "$line"
  http=${line#*://}
  http=${http%% *}
}

# wait_for_line FILE PATTERN COUNT: waits (at most 20 s) until FILE has COUNT lines matching PATTERN.
wait_for_line() {
  local deadline=$((SECONDS + 20))
  until [[ $(grep -c -- "$2" "$1" 2>/dev/null) -ge $3 ]]; do
    ((SECONDS < deadline)) || { echo "timed out waiting for '$2' in $1" >&2; return 1; }
    sleep 0.05
  done
}

# start NAME COMMAND...: runs COMMAND in the background and waits (bounded) for its first stderr
# line (the examples print "ready: ..."); sets $last_pid. Later stderr goes to $work/NAME.err.
start() {
  local name=$1 fd line
  shift
  mkfifo "$work/$name.fifo"
  "$@" 2>"$work/$name.fifo" &
  last_pid=$!
  pids+=("$last_pid")
  exec {fd}<"$work/$name.fifo"
  read -r -t 60 -u "$fd" line || { echo "$name did not start within 60 s" >&2; exit 1; }
  cat <&"$fd" >"$work/$name.err" &
  echo "$line" >&2
}

# wait_exit PID...: waits (bounded) for processes that end by themselves; fails on a non-zero exit.
wait_exit() {
  local pid
  for pid in "$@"; do
    timeout 60 tail --pid="$pid" -f /dev/null
    wait "$pid"
  done
}

# stop PID...: SIGTERM, then waits; fails unless each exits 0.
stop() {
  local pid
  for pid in "$@"; do
    kill -TERM "$pid"
    wait "$pid"
  done
}
