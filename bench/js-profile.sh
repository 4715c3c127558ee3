#!/usr/bin/env bash
# Where a JS iteration's CPU goes: perf samples of `volley run SCRIPT` (default bench/js-loop.js,
# 50 VUs, no sleep) against a static nginx, bucketed into the guest's compiled code (named through
# wasmtime's perf map: VOLLEY_PERFMAP=1), the host's component-model glue (lifting and lowering),
# the rest of wasmtime, Volley's host side (HTTP client, metrics, WIT imports), tokio, libc and the
# kernel. Prints the buckets and the top symbols; asserts nothing.
#
# Usage: bench/js-profile.sh [SCRIPT]   env: DUR (s, default 10), VUS (default 50),
#        VOLLEY_JS_ENGINE (spidermonkey|quickjs), VOLLEY_BIN (default: this tree's release build)
# Needs: perf (apt-get install linux-perf), nginx, the JS toolchain of plugins/montecarlo-js.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
SCRIPT="${1:-bench/js-loop.js}"
DUR="${DUR:-10}"
VUS="${VUS:-50}"
PORT="${PORT:-18380}"
WORK="$(mktemp -d /tmp/volley-js-profile.XXXXXX)"
export VOLLEY_CACHE_DIR="${VOLLEY_CACHE_DIR:-$WORK/cache}"
export VOLLEY_JS_TOOLCHAIN="$PWD/plugins/montecarlo-js"
command -v perf >/dev/null || { echo "perf is required: apt-get install linux-perf" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is required: apt-get install nginx" >&2; exit 1; }
VOLLEY="${VOLLEY_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/volley}"
cp "$VOLLEY" "$WORK/volley"

nginx_static "$WORK/nginx" "$PORT"
trap 'nginx_stop "$WORK/nginx"' EXIT

# Build and compile once, outside the profile.
"$WORK/volley" run "$SCRIPT" -q --no-summary -e "BASE_URL=http://127.0.0.1:$PORT" --vus 1 --iterations 1 \
  >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
VOLLEY_PERFMAP=1 taskset -c 0 perf record -q -e cpu-clock -F 2000 -g -o "$WORK/perf.data" -- \
  "$WORK/volley" run "$SCRIPT" -q --no-summary -e "BASE_URL=http://127.0.0.1:$PORT" --vus "$VUS" \
  --duration "${DUR}s" --summary-export "$WORK/summary.json" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
reqs=$(python3 -c "import json,sys;print(int(json.load(open(sys.argv[1]))['metrics']['http_reqs']['values']['count']))" "$WORK/summary.json")
perf report -i "$WORK/perf.data" --no-children --sort dso,sym -g none --stdio 2>/dev/null > "$WORK/report.txt"
echo "== js-profile: $SCRIPT, engine ${VOLLEY_JS_ENGINE:-default}, $VUS VUs, ${DUR}s, $reqs requests; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/js_profile_buckets.py "$WORK/report.txt" "$reqs"
echo "(perf data and report: $WORK)"
