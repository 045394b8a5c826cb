#!/usr/bin/env bash
# Checks the host's HTTP gateway against its OpenAPI document (docs/openapi.json, served at
# /openapi.json) with schemathesis: a runtime-host with a token and an example oracle worker, then
# generated requests (valid and invalid, with and without the token) against every route, checking
# statuses, headers, bodies and SSE events against the document. Afterwards the host must still be
# healthy and exit 0. 5xx answers are expected (502 when an agent fails, 504 on a deadline), so the
# "not a server error" check is off; a crash would show as a connection error and a failed health check.
# Usage: scripts/schemathesis.sh   (after swift build; needs .venv from scripts/python-env.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/host.out"
"$bin/runtime-host" --address 127.0.0.1:0 --http-address 127.0.0.1:0 --rpc-timeout 2 --auth-token schema-token \
  --log-level error >"$work/host.out" 2>"$work/host.err" &
host_pid=$!
pids+=("$host_pid")
exec {fd}<"$work/host.out"
read -r -t 60 -u "$fd" line || { echo "runtime-host did not start" >&2; exit 1; }
grpc=${line##* }
read -r -t 60 -u "$fd" line || { echo "runtime-host did not start HTTP" >&2; exit 1; }
http=${line#*://}
http=${http%% *}
"$bin/example-worker" oracle --host "$grpc" --auth-token schema-token 2>"$work/oracle.err" &
pids+=("$!")
deadline=$((SECONDS + 30))
until curl -sf -H "Authorization: Bearer schema-token" "http://$http/v1/agent-types" | grep -q '"oracle"'; do
  ((SECONDS < deadline)) || { echo "the oracle worker did not register" >&2; exit 1; }
  sleep 0.1
done

status=0
timeout 600 .venv/bin/schemathesis --config-file scripts/schemathesis.toml run "http://$http/openapi.json" -H "Authorization: Bearer schema-token" \
  --max-examples 20 --request-timeout 1 --seed 20261121 || status=1

if ! curl -sf "http://$http/healthz" >/dev/null; then
  echo "runtime-host is not healthy after schemathesis" >&2
  cat "$work/host.err" >&2
  status=1
fi
kill -TERM "$host_pid"
wait "$host_pid" || { echo "runtime-host exited with $?" >&2; cat "$work/host.err" >&2; status=1; }
[[ $status == 0 ]] && echo "schemathesis: the gateway conforms to docs/openapi.json"
exit $status
