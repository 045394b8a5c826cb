#!/usr/bin/env bash
# Embeds docs/openapi.json (the gateway's OpenAPI document) in the host, which serves it at
# /openapi.json. Run after editing docs/openapi.json; GatewayHTTPTests checks the two match.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import json; json.load(open('docs/openapi.json'))"
{
  printf '// Generated from docs/openapi.json by scripts/generate-openapi.sh; a test checks they match.\nenum GatewayOpenAPI {\n  static let document = #"""\n'
  cat docs/openapi.json
  printf '\n"""#\n}\n'
} > Sources/GrpcHost/Gateway/GatewayOpenAPI.swift
