#!/usr/bin/env bash
# What permission checks cost on the hot path: runtime-bench (raw clients) against runtime-host
# without credentials and with --auth-file holding 1,000 identities, where the bench's identity has
# prefix patterns (so every RPC, publish and delivery is checked, not waved through as all-access).
# The two hosts alternate, `rounds` times each. Loopback only; stops only what it starts.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-2}
swift build -c release --product runtime-host >&2
swift build -c release --product runtime-bench >&2
bin=$(swift build -c release --show-bin-path)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

python3 - "$dir/auth.json" <<'PY'
import hashlib, json, sys
def sha(t): return hashlib.sha256(t.encode()).hexdigest()
ids = [{"name": f"worker-{n}", "token_sha256": sha(f"token-{n}"), "serve": [f"type{n}"], "publish": [f"topic{n}.*"],
        "watch": [f"topic{n}.*"], "call": [f"type{n}", "llm*"]} for n in range(999)]
ids.append({"name": "bench", "token_sha256": sha("bench-token"), "serve": ["bench_*"], "publish": ["bench.*"],
            "watch": ["bench.*"], "call": ["bench_*", "no.such*"]})
json.dump({"identities": ids}, open(sys.argv[1], "w"))
PY

measure() {  # label, then runtime-host arguments
  local label=$1; shift
  local out="$dir/host.out"
  "$bin/runtime-host" --address 127.0.0.1:0 --log-level error "$@" > "$out" &
  local pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$out" 2>/dev/null && break; sleep 0.1; done
  local address; address=$(head -1 "$out" | awk '{print $NF}')
  timeout 600 "$bin/runtime-bench" --host "$address" --host-pid "$pid" --label "$label" --idle-workers 0 \
    | grep -E "^(publish: messages|rpc, |host CPU)" | sed "s/^/$label | /"
  kill "$pid"; wait "$pid" || true
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for round in $(seq "$rounds"); do
  measure "no credentials      " 
  RUNTIME_BENCH_TOKEN=bench-token measure "auth file, 1,000 ids" --auth-file "$dir/auth.json"
done
