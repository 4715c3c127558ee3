#!/usr/bin/env bash
# k6/html's cost on Volley and on k6, side by side (docs/design/013-k6-html.md):
#  - CPU per parse: parse.js, 1 VU, ITER iterations of COUNT parses of the test page (2.8 KB)
#    and of a 43 KB page (its product list x110), minus the same run with 1 parse; user+sys
#    CPU seconds of the process.
#  - RSS per VU: vus.js, VUS VUs for 15 s (GET + sleep 1 s), without and with res.html() each
#    iteration, minus the same with 1 VU; peak RSS of the process.
# VOLLEY_BIN=... measures another build (main's, for "before"). Load goes only to a python
# http.server started here on 127.0.0.1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
volley=${VOLLEY_BIN:-$root/target/release/volley}
export VOLLEY_JS_TOOLCHAIN=${VOLLEY_JS_TOOLCHAIN:-$root/plugins/montecarlo-js}
export K6_NO_USAGE_REPORT=true
ITER=${ITER:-20} COUNT=${COUNT:-50} VUS=${VUS:-200}
www=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$www"' EXIT
cp "$root/tests/e2e/fixtures/k6-html/page.html" "$www/page.html"
python3 - "$www" <<'PY'
import sys, re
page = open(sys.argv[1] + '/page.html').read()
items = re.search(r'(<li class="product".*?)</ul>', page, re.S).group(1)
big = page.replace(items, items * 110)
open(sys.argv[1] + '/big.html', 'w').write(big)
PY
port=$((20000 + RANDOM % 20000))
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$www" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do curl -fs "127.0.0.1:$port/page.html" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$port"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); page $(wc -c <"$www/page.html") B, big $(wc -c <"$www/big.html") B"

# cpu TOOL ITERATIONS COUNT PAGE -> user+sys CPU seconds of one run (children included)
cpu() {
  local tool=$1 args=(-q --no-summary -e BASE_URL="$base" -e ITERATIONS="$2" -e COUNT="$3" -e PAGE="$4")
  if [ "$tool" = volley ]; then
    /usr/bin/time -f '%U %S' -o "$www/time" "$volley" run "$here/parse.js" "${args[@]}" >/dev/null 2>&1
  else
    /usr/bin/time -f '%U %S' -o "$www/time" k6 run "${args[@]}" "$here/parse.js" >/dev/null 2>&1
  fi
  awk '{printf "%.3f", $1 + $2}' "$www/time"
}

# Warm Volley's build and compile caches, so that no run below pays for them.
"$volley" run "$here/parse.js" -q --no-summary -e BASE_URL="$base" >/dev/null 2>&1
"$volley" run "$here/vus.js" -q --no-summary -d 1s -e BASE_URL="$base" >/dev/null 2>&1
for page in page.html big.html; do
  for tool in volley k6; do
    one=$(cpu $tool 1 1 $page)
    many=$(cpu $tool "$ITER" "$COUNT" $page)
    awk -v t=$tool -v p=$page -v a="$one" -v b="$many" -v n=$((ITER * COUNT - 1)) \
      'BEGIN { printf "%-6s %-9s CPU per parse: %.3f ms (%.2f s for %d parses, %.2f s for 1)\n", t, p, (b - a) * 1000 / n, b, n + 1, a }'
  done
done

# rss TOOL VUS HTML -> peak RSS in KB
rss() {
  local tool=$1 args=(-q --no-summary -u "$2" -d 15s -e BASE_URL="$base" -e HTML="$3")
  if [ "$tool" = volley ]; then
    /usr/bin/time -f '%M' -o "$www/time" "$volley" run "$here/vus.js" "${args[@]}" >/dev/null 2>&1
  else
    /usr/bin/time -f '%M' -o "$www/time" k6 run "${args[@]}" "$here/vus.js" >/dev/null 2>&1
  fi
  cat "$www/time"
}
for tool in volley k6; do
  for html in 0 1; do
    one=$(rss $tool 1 $html)
    many=$(rss $tool "$VUS" $html)
    awk -v t=$tool -v h=$html -v a="$one" -v b="$many" -v v="$VUS" \
      'BEGIN { printf "%-6s res.html()=%s RSS per VU: %.0f KB (peak %.0f MB at %d VUs, %.0f MB at 1)\n", t, h, (b - a) / (v - 1), b / 1024, v, a / 1024 }'
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
