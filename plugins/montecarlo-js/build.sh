#!/usr/bin/env bash
# Builds montecarlo.wasm from the k6 script montecarlo.js without the volley binary: the same two
# steps `volley build montecarlo.js` takes. Needs node and `npm ci` in this folder.
#   1. esbuild bundles the script into a function run once per VU, then Volley's k6 shim (sdk/js:
#      k6, k6/http, k6/metrics) with it and the glue that exports the world's
#      options/setup/iteration/teardown;
#   2. componentize-js embeds the bundle in a JS engine (SpiderMonkey), as a component of wit/'s
#      world. (`volley build` uses QuickJS through componentize-qjs unless VOLLEY_JS_ENGINE says
#      spidermonkey; see docs/design/008-javascript-engine.md.)
# Usage: plugins/montecarlo-js/build.sh [OUT.wasm] [SCRIPT.js]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
out="${1:-$here/montecarlo.wasm}"
script="$(realpath "${2:-$here/montecarlo.js}")"
command -v node >/dev/null || { echo "node is not installed (apt-get install nodejs npm)" >&2; exit 127; }
bin="$here/node_modules/.bin"
[ -x "$bin/componentize-js" ] && [ -x "$bin/esbuild" ] || {
  echo "componentize-js/esbuild missing: run \`npm ci\` in $here" >&2
  exit 127
}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The shim imports volley:scenario/...@0.1.1: import the version of wit/ instead.
version="$(sed -n 's/^package volley:scenario@\(.*\);/\1/p' "$root/wit/world.wit")"
cp -r "$root/sdk/js" "$work/js"
sed -i "s/@0\.1\.1'/@$version'/g" "$work"/js/*.js "$work"/js/k6/*.js
# The script and its own modules become a function run once per VU (k6's init context), with
# the k6 modules left to the shim (host/src/script_build/init_module.rs does the same).
"$bin/esbuild" "$script" --bundle --format=cjs --platform=neutral --main-fields=module,main \
  --external:k6 "--external:k6/*" --log-level=warning --metafile="$work/meta.json" \
  --outfile="$work/user-cjs.js"
{ echo 'export default function (require, module, exports) {'; cat "$work/user-cjs.js"; echo '}'; } \
  >"$work/js/user.js"
node -e '
  const meta = require(process.argv[1]);
  const names = [...new Set(Object.values(meta.outputs).flatMap((o) => o.imports)
    .filter((i) => i.external).map((i) => i.path))].sort();
  const file = (n) => (n === "k6" ? "k6/index.js" : `${n}.js`);
  console.log(names.map((n, i) => `import * as m${i} from "./${file(n)}";`).join("\n"));
  console.log(`export default {${names.map((n, i) => `${JSON.stringify(n)}: m${i}`).join(", ")}};`);
' "$work/meta.json" >"$work/js/modules.js"
"$bin/esbuild" "$work/js/entry.js" --bundle --format=esm --platform=neutral \
  --main-fields=module,main "--external:volley:*" --log-level=warning \
  "--alias:k6=$work/js/k6" \
  "--alias:volley-engine=$work/js/engine/spidermonkey.js" \
  "--alias:volley-html=$work/js/k6/html-absent.js" --outfile="$work/bundle.js"
# -d http -d fetch-event: no wasi:http import; HTTP goes through volley:scenario/http.
"$bin/componentize-js" "$work/bundle.js" --wit "$root/wit" --world-name scenario \
  -d http -d fetch-event -o "$out"
