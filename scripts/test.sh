#!/usr/bin/env bash
# Runs the whole test suite. Installs what the tests need first when it is missing:
#   - protoc and the well-known protos (Debian: protobuf-compiler, libprotobuf-dev), used to prove
#     the committed generated code matches Protos/.
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

swift test "$@"
