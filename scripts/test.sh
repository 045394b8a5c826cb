#!/usr/bin/env bash
# Runs the whole test suite: the interop tests against AutoGen's Python runtime (pytest), the
# gateway's OpenAPI check (schemathesis), the host fuzz test, then the Swift tests. Installs what the tests need first when it is missing:
#   - protoc and the well-known protos (Debian: protobuf-compiler, libprotobuf-dev), used to prove
#     the committed generated code matches Protos/;
#   - openssl, with which the TLS tests make their certificates;
#   - chromium and chromium-driver (Debian), for the web console's browser tests (selenium);
#   - a Python virtual environment in .venv with autogen-core and autogen-ext[grpc] 0.7.5 (PyPI);
#   - PostgreSQL (Debian: postgresql), for the state store tests: scripts/postgres.sh starts a
#     throwaway server on loopback for the run and stops it at the end.
# Usage: scripts/test.sh [extra swift test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v protoc >/dev/null || [[ ! -f /usr/include/google/protobuf/any.proto ]]; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing protobuf-compiler and libprotobuf-dev" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler libprotobuf-dev >&2
  else
    echo "warning: protoc not found; the generated-code check will be skipped" >&2
  fi
fi

if ! command -v curl >/dev/null; then  # the demos and the schemathesis check use it
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >&2
  fi
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then  # the console's browser tests
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing chromium and chromium-driver" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2
  else
    echo "chromium or chromedriver not found: the console's browser tests will be skipped (apt-get install chromium chromium-driver)" >&2
  fi
fi

if ! command -v openssl >/dev/null; then  # the TLS tests make their certificates with it
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing openssl" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >&2
  else
    echo "openssl not found: the TLS tests will fail (apt-get install openssl)" >&2
  fi
fi

scripts/python-env.sh >&2
python=$PWD/.venv/bin/python

# A PostgreSQL server of our own for the state store tests (a temporary cluster on loopback, run
# as an unprivileged user, stopped on exit), unless one is given.
if [[ -z ${AGENTS_TEST_POSTGRES_URL:-} ]]; then
  if postgres_env=$(scripts/postgres.sh start); then
    eval "$postgres_env"
    trap 'scripts/postgres.sh stop "$AGENTS_TEST_POSTGRES_DIR"' EXIT
    echo "PostgreSQL for the tests: $AGENTS_TEST_POSTGRES_URL" >&2
  else
    echo "warning: no PostgreSQL server: its tests are skipped (AGENTS_REQUIRE_POSTGRES=1 makes that a failure)" >&2
  fi
fi

swift build
bin=$(swift build --show-bin-path)

status=0
echo "== interop: AutoGen's Python runtime with our host and worker (Tests/Interop)"
(
  cd Tests/Interop
  INTEROP_RUNTIME_HOST="$bin/runtime-host" INTEROP_INTEROP_PEER="$bin/InteropPeer" INTEROP_AGENTCTL="$bin/agentctl" \
    timeout 900 "$python" -m pytest -p no:cacheprovider -q -rA
) || status=1

echo "== gateway: schemathesis against docs/openapi.json (scripts/schemathesis.sh)"
scripts/schemathesis.sh || status=1

echo "== fuzz: 100,000 random and mutated frames at the host (alone, so its load slows nothing else)"
AGENTS_FUZZ=1 swift test --filter HostFuzzTests || status=1

echo "== swift test"
swift test "$@" || status=1
exit $status
