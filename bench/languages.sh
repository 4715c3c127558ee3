#!/usr/bin/env bash
# The Monte Carlo scenario in Rust, JavaScript, Python and C: what each language costs.
# Prints figures; asserts nothing.
#
#   size_KB        the component file
#   build_s        building it from source (wall; JS/Python/C tools cold-cached differently, see docs)
#   compile_ms     Cranelift compile by the host: `volley inspect` with an empty code cache minus with
#                  a warm one (the cached run deserializes the compiled code in a few ms)
#   inst_us        instantiation (Store + instance from the pool) median and p99, and
#   idle_KB        RSS per idle VU (instantiated, no iteration run): host/examples/instantiate.rs
#                  creating N VUs one after another
#   start_cpu_ms   CPU per extra VU started in a real run: (CPU of N VUs x 1 iteration - CPU of 1 VU
#                  x 1 iteration) / (N-1); its instantiation plus one iteration (one request)
#   run_KB         RSS per running VU: (peak RSS with N VUs - with 1 VU) / (N-1) over DUR seconds,
#                  VUs sleeping 0.5 s between requests
#   req_per_cpu_s  requests / CPU-seconds of the volley process in the N-VU run
#
# Usage: bench/languages.sh   env: N (VUs, default 200), DUR (s, default 10)
# The generator runs on CPU 0 and nginx (static "ok") on CPU 1. Needs the toolchains of
# plugins/montecarlo-{js,py,c} (see .ci/run), nginx and GNU time.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
N="${N:-200}"
DUR="${DUR:-10}"
PORT="${PORT:-18097}"
WORK="$(mktemp -d /tmp/volley-lang-bench.XXXXXX)"
export VOLLEY_CACHE_DIR="$WORK/cache"
[ -x /usr/bin/time ] || { echo "GNU time is required: apt-get install time" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is required: apt-get install nginx" >&2; exit 1; }

cargo build --release --quiet
cargo build --release --quiet --example instantiate
INSTANTIATE="${CARGO_TARGET_DIR:-$PWD/target}/release/examples/instantiate"
VOLLEY="${CARGO_TARGET_DIR:-$PWD/target}/release/volley"

now() { date +%s.%N; }
declare -A WASM BUILD
t0=$(now)
cargo build --quiet -p montecarlo --target wasm32-wasip2 --profile guest --target-dir target/guest
BUILD[rust]=$(echo "$(now) - $t0" | bc)
WASM[rust]="$PWD/target/guest/wasm32-wasip2/guest/montecarlo.wasm"
t0=$(now)
VOLLEY_CACHE_DIR="$WORK/jscache" "$VOLLEY" build plugins/montecarlo-js/montecarlo.js -o "$WORK/js.wasm" 2>/dev/null
BUILD[js]=$(echo "$(now) - $t0" | bc)
WASM[js]="$WORK/js.wasm"
t0=$(now)
plugins/montecarlo-py/build.sh "$WORK/py.wasm" >/dev/null
BUILD[py]=$(echo "$(now) - $t0" | bc)
WASM[py]="$WORK/py.wasm"
t0=$(now)
plugins/montecarlo-c/build.sh "$WORK/c.wasm" >/dev/null 2>&1
BUILD[c]=$(echo "$(now) - $t0" | bc)
WASM[c]="$WORK/c.wasm"

nginx_static "$WORK/nginx" "$PORT"
trap 'nginx_stop "$WORK/nginx"; rm -rf "$WORK"' EXIT

# test LANG EXECUTION-TOML -> writes the test file, prints its path
test_file() {
  local f="$WORK/$1-$RANDOM.toml"
  printf 'plugin = "%s"\n%s\n[env]\nBASE_URL = "http://127.0.0.1:%s"\n[sandbox]\nallow-imports = ["wasi:filesystem/*", "wasi:sockets/*"]\nmax-memory-mib = 256\n' \
    "${WASM[$1]}" "$2" "$PORT" > "$f"
  echo "$f"
}

# measure LANG EXECUTION-TOML -> "peak_rss_KB cpu_s requests"
measure() {
  local f
  f=$(test_file "$1" "$2")
  /usr/bin/time -f '%M %U %S' -o "$WORK/time" taskset -c 0 "$VOLLEY" run "$f" -q --no-summary \
    --summary-export "$WORK/s.json" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
  local reqs
  reqs=$(python3 -c "import json;print(int(json.load(open('$WORK/s.json'))['metrics']['http_reqs']['values']['count']))")
  awk -v r="$reqs" '{ printf "%d %.3f %d\n", $1, $2 + $3, r }' "$WORK/time"
}

seconds() { /usr/bin/time -f '%e' -o "$WORK/t" "$@" >/dev/null 2>&1; cat "$WORK/t"; }

echo "== languages: the Monte Carlo scenario (GET / + check + sleep 0.5 s) against nginx; N=$N VUs, ${DUR}s"
printf '%-6s %-9s %-8s %-11s %-14s %-8s %-13s %-8s %-14s\n' lang size_KB build_s compile_ms inst_us idle_KB start_cpu_ms run_KB req_per_cpu_s
for lang in rust js py c; do
  size=$(( $(stat -c %s "${WASM[$lang]}") / 1024 ))
  inspect=$(test_file "$lang" "")
  rm -rf "$VOLLEY_CACHE_DIR"
  cold=$(seconds "$VOLLEY" inspect "$inspect")
  warm=$(seconds "$VOLLEY" inspect "$inspect")
  compile=$(echo "($cold - $warm) * 1000" | bc)
  # Warm-up: a pooled run's engine settings differ from inspect's, so its code is compiled once more.
  measure "$lang" $'vus = 1\niterations = 1' >/dev/null
  read -r _ cpu1 _ < <(measure "$lang" $'[scenarios.s]\nexecutor = "per-vu-iterations"\nvus = 1\niterations = 1')
  read -r _ cpun _ < <(measure "$lang" "[scenarios.s]
executor = \"per-vu-iterations\"
vus = $N
iterations = 1")
  inst=$(echo "($cpun - $cpu1) * 1000 / ($N - 1)" | bc -l)
  read -r rss1 _ _ < <(measure "$lang" "vus = 1
duration = \"${DUR}s\"")
  read -r rssn cpu reqs < <(measure "$lang" "vus = $N
duration = \"${DUR}s\"")
  per_vu=$(echo "($rssn - $rss1) / ($N - 1)" | bc -l)
  rpc=$(echo "$reqs / $cpu" | bc -l)
  read -r imed ip99 idle < <(taskset -c 0 "$INSTANTIATE" "${WASM[$lang]}" "$N")
  printf '%-6s %-9d %-8.1f %-11.0f %-14s %-8.0f %-13.2f %-8.0f %-14.0f\n' "$lang" "$size" "${BUILD[$lang]}" \
    "$compile" "$imed/$ip99" "$idle" "$inst" "$per_vu" "$rpc"
done
