#!/usr/bin/env bash
# Creates .venv with AutoGen's Python runtime (the interop peer), pytest, selenium (the console's browser
# tests) and schemathesis (the
# gateway's OpenAPI check), pinned. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=(autogen-core==0.7.5 "autogen-ext[grpc]==0.7.5" pytest==9.2.0 schemathesis==4.32.5 selenium==4.50.0 opentelemetry-sdk==1.45.2)
if [[ -x .venv/bin/python ]] && .venv/bin/python -c "import autogen_ext.runtimes.grpc, pytest, schemathesis, selenium, opentelemetry.sdk" 2>/dev/null; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check "${requirements[@]}"
echo "created .venv with ${requirements[*]}"
