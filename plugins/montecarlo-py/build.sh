#!/usr/bin/env bash
# Builds montecarlo.wasm from app.py with componentize-py (pip install componentize-py==0.25.1).
# Usage: plugins/montecarlo-py/build.sh [OUT.wasm]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
out="${1:-$here/montecarlo.wasm}"
command -v componentize-py >/dev/null || {
  echo "componentize-py is not installed: pip install componentize-py==0.25.1" >&2
  exit 127
}
componentize-py -d "$root/wit" -w scenario componentize app \
  -p "$here" -p "$root/sdk/python" -o "$out"
