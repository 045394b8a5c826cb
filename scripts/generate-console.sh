#!/usr/bin/env bash
# Embeds the web console's files (Sources/GrpcHost/Console/Assets/) in the host, which serves them
# at /, /console.js and /console.css. Run after editing them; GatewayConsoleTests checks the two match.
set -euo pipefail
cd "$(dirname "$0")/.."
assets=Sources/GrpcHost/Console/Assets
out=Sources/GrpcHost/Console/ConsoleAssets+Files.swift
for file in index.html console.js console.css; do
  if grep -q '"""#' "$assets/$file"; then echo "$assets/$file contains \"\"\"#, which ends the Swift string" >&2; exit 1; fi
done
{
  printf '// Generated from Sources/GrpcHost/Console/Assets by scripts/generate-console.sh; a test checks they match.\n'
  printf 'extension ConsoleAssets {\n'
  for pair in "indexHTML index.html" "consoleJS console.js" "consoleCSS console.css"; do
    set -- $pair
    printf '  static let %s = #"""\n' "$1"
    cat "$assets/$2"
    printf '\n"""#\n'
  done
  printf '}\n'
} > "$out"
