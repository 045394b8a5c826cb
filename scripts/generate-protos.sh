#!/usr/bin/env bash
# Regenerates the Swift code in Sources/AgentWire/Generated from Protos/.
#
#   scripts/generate-protos.sh          regenerate and record the protos' checksums
#   scripts/generate-protos.sh --check  regenerate into a temporary folder and fail if the
#                                       committed code differs
#
# Needs protoc (Debian: apt-get install protobuf-compiler libprotobuf-dev). The two plugins are
# built from this package's own dependencies (swift-protobuf, grpc-swift-protobuf) in release mode;
# that takes a few minutes the first time, which is why CI does not run this script and checks the
# recorded checksums instead (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-generate}
out=Sources/AgentWire/Generated
protos=(agent_worker.proto cloudevent.proto health.proto gateway.proto state.proto)
services=(agent_worker.proto health.proto gateway.proto state.proto)
include=${PROTOC_INCLUDE:-/usr/include}

command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler libprotobuf-dev" >&2; exit 1; }
[[ -f $include/google/protobuf/any.proto ]] || { echo "well-known protos not found under $include (apt-get install libprotobuf-dev, or set PROTOC_INCLUDE)" >&2; exit 1; }

swift build -c release --product protoc-gen-swift >&2
swift build -c release --product protoc-gen-grpc-swift-2 >&2
bin=$(swift build -c release --show-bin-path)

target=$out
if [[ $mode == --check ]]; then
  target=$(mktemp -d)
  trap 'rm -rf "$target"' EXIT
fi

protoc \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" \
  --proto_path=Protos --proto_path="$include" \
  --swift_out="$target" --swift_opt=Visibility=Package,UseAccessLevelOnImports=true \
  "${protos[@]}"
# Services live in agent_worker.proto, health.proto and gateway.proto; running the gRPC plugin on
# cloudevent.proto would produce an empty file.
protoc \
  --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" \
  --proto_path=Protos --proto_path="$include" \
  --grpc-swift-2_out="$target" --grpc-swift-2_opt=Visibility=Package,UseAccessLevelOnImports=true,Server=true,Client=true \
  "${services[@]}"
(cd Protos && sha256sum "${protos[@]}") > "$target/PROTOS.sha256"

if [[ $mode == --check ]]; then
  if diff -r "$out" "$target"; then
    echo "generated code is current"
  else
    echo "generated code is stale: run scripts/generate-protos.sh and commit the result" >&2
    exit 1
  fi
else
  echo "generated into $out"
fi
