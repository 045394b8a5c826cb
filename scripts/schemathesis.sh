#!/usr/bin/env bash
# Checks the host's HTTP gateway against its OpenAPI document (docs/openapi.json, served at
# /openapi.json) with schemathesis: a runtime-host with a token and an example oracle worker, then
# generated requests (valid and invalid, with and without the token) against every route, checking
# statuses, headers, bodies and SSE events against the document (settings in
# scripts/schemathesis.toml). Afterwards the host must still be healthy and exit 0.
# Usage: scripts/schemathesis.sh   (after swift build; needs .venv from scripts/python-env.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)
source scripts/lib/processes.sh

start_host --rpc-timeout 2 --auth-token schema-token
start oracle "$bin/example-worker" oracle --host "$address" --auth-token schema-token

status=0
timeout 600 .venv/bin/schemathesis --config-file scripts/schemathesis.toml run "http://$http/openapi.json" \
  -H "Authorization: Bearer schema-token" --max-examples 20 --request-timeout 1 --seed 20261121 || status=1

if ! curl -sf --max-time 10 "http://$http/healthz" >/dev/null; then
  echo "runtime-host is not healthy after schemathesis" >&2
  cat "$work/host.err" >&2
  status=1
fi
stop "$host_pid" || { echo "runtime-host did not exit 0" >&2; cat "$work/host.err" >&2; status=1; }
[[ $status == 0 ]] && echo "schemathesis: the gateway conforms to docs/openapi.json"
exit $status
