#!/usr/bin/env bash
# Volley benchmarks. Prints figures; asserts nothing.
#
#   memory      RSS per idle VU of a sleep-only scenario at 1 and $VUS_LIST VUs (default "1000 10000")
#   throughput  requests/s and generator CPU-seconds per 100k requests, 50 VUs, no sleep, against a
#               static nginx on 127.0.0.1 — with wrk and k6 side by side when they are installed
#   hotpath     what one request costs the generator, in counts that a busy machine does not blur:
#               malloc calls, memmove calls and bytes, syscalls and context switches per request
#               (50 VUs, one GET per iteration, $HOT_ITERS iterations less a 50-iteration run's
#               start-up); needs root and perf (uprobes on libc's malloc and memmove)
#   arrival     constant-arrival-rate accuracy at $RATES (default "1000 10000 20000") iterations/s: achieved
#               rate, dropped iterations, start lateness p99 — with k6 side by side when installed
#   outputs     the cost of streaming outputs: throughput as above with no output, --out json=FILE and
#               --out prometheus-rw (a real Prometheus on CPU 1 beside nginx)
#   influxdb    the cost of --out influxdb: throughput as above without and with it, into a real
#               InfluxDB 1.x (Debian's influxd, on CPU 1 beside nginx); points written vs requests
#   dashboard   the cost of --dashboard: throughput as above with no dashboard, with the dashboard
#               and no page open (nothing is rendered), and with one page's event stream read by curl
#               on CPU 1 (an update rendered and sent every second)
#   tls         requests/s and CPU-seconds per 100k requests over HTTPS, HTTP/1.1 and HTTP/2 (ALPN), 50
#               VUs against nginx with a self-signed certificate — with k6 and h2load side by side
#   websocket   WebSocket messages/s and CPU-seconds per 100k messages: $WS_VUS (default 50) VUs, each
#               iteration one session sending $WS_MESSAGES (default 100) lines to an echo server on CPU 1
#               and reading them back — with k6 (k6/ws) side by side
#   grpc        unary gRPC calls/s and generator CPU-seconds per 100k calls, 50 VUs, no sleep, h2c against
#               the tonic greeter of tests/servers — with k6 (k6/net/grpc, same .proto) side by side
#   scale       $SCALE_VUS (default "1000 10000 50000 100000") VUs ramped up over $RAMP s (default 30)
#               and held $HOLD s (default 30), two scenarios: one GET to a static nginx then sleep 10 s,
#               and sleep only: peak RSS of all volley processes, KB per VU, most mappings in one
#               process, CPU-seconds, VUs reached, iterations done/planned, first-iteration start
#               lateness p99 against the ramp — with k6 side by side at the counts in $SCALE_K6_AT
#               (default "1000 10000") for the GET scenario
#   soak        RSS every 30 s of a $SOAK_DUR-second (default 600) run at 50 VUs, no sleep, with
#               --out prometheus-rw and --report: memory must stay flat
#   redis       Redis commands/s and generator CPU-seconds per 100k commands, 50 VUs/connections, no
#               pipelining, against redis-server on CPU 1: Volley running plugins/redis (SET, GET, INCR,
#               LPUSH, LTRIM, LRANGE per iteration) beside redis-benchmark (-t set,get,incr,lpush)
#   js          k6 JavaScript on Volley against k6 itself, the same script file for both, static nginx on
#               CPU 1: bench/js-loop.js (GET, no sleep) at 50 VUs for $DUR s, then bench/js-sleep.js (GET,
#               sleep(1)) at each of $JS_VUS_LIST (default "1000 10000") VUs for $JS_SLEEP_DUR (default 20)
#               s: requests/s, CPU-seconds per 100k requests, peak RSS, RSS per VU (peak / VUs), peak
#               PSS and PSS per VU (smaps_rollup, sampled), requests achieved against planned (VUs x
#               duration). $JS_ENGINES (default "quickjs", the default engine; "spidermonkey quickjs")
#               picks the engines `volley build` uses (VOLLEY_JS_ENGINE); a tool whose RSS per VU at
#               the previous VU count would not fit in the free memory at the next is skipped, saying so;
#               and CPU per VU started: $JS_START_VUS (default 500) VUs x 1 iteration against 1 x 1
#   shared-array  k6's SharedArray: a $SHARED_MB (default 100) MB CSV parsed into one, read by
#               $SHARED_VUS (default 1000) VUs (bench/js-shared-array.js, GET + sleep(1)) on Volley
#               (QuickJS) and k6: peak RSS and CPU-seconds per 100k requests
#
# VOLLEY_BIN=path: measure that volley binary instead of building this tree's (the probe is not built).
# Usage: bench/run.sh [memory|throughput|hotpath|arrival|scale|outputs|influxdb|dashboard|tls|websocket|grpc|redis|soak|js|shared-array|all]   env: DUR (s, default 10), VUS_LIST, RUNS (default 3)
# The generator runs on CPU 0 and nginx on CPU 1 (taskset), as in ../shared/bench.
# Needs: nginx, GNU time (/usr/bin/time); redis-server and redis-benchmark (apt-get install redis-server)
# for redis; optional: wrk, k6 (always run with K6_NO_USAGE_REPORT=true).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
WHAT="${1:-all}"
DUR="${DUR:-10}"
RUNS="${RUNS:-3}"
VUS_LIST="${VUS_LIST:-1000 10000}"
PORT="${PORT:-18080}"
WORK="$(mktemp -d /tmp/volley-bench.XXXXXX)"
export K6_NO_USAGE_REPORT=true
export VOLLEY_CACHE_DIR="$WORK/cache"

if [ -n "${VOLLEY_BIN:-}" ]; then
  # Another build of volley (e.g. main's, for figures before and after a change); nothing is built.
  cp "$VOLLEY_BIN" "$WORK/volley"
else
  cargo build --release --quiet
  cargo build --quiet -p probe --target wasm32-wasip2 --profile guest --target-dir target/guest
  # A copy, so that another build sharing the target dir cannot swap the binary mid-benchmark.
  cp "${CARGO_TARGET_DIR:-$PWD/target}/release/volley" "$WORK/volley"
fi
VOLLEY="$WORK/volley"
PROBE="$PWD/target/guest/wasm32-wasip2/guest/probe.wasm"
[ -x /usr/bin/time ] || { echo "GNU time is required: apt-get install time" >&2; exit 1; }

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# rounds NAME FN LABEL...: $RUNS rounds; each round runs `FN LABEL` for every LABEL in turn (so a
# slow spell of the machine hits every tool alike) and appends the line of space-separated figures
# it prints to $WORK/NAME-LABEL.tsv. medians NAME LABEL: the median of each column of those lines.
rounds() {
  local name=$1 fn=$2 label; shift 2
  for label in "$@"; do : > "$WORK/$name-$label.tsv"; done
  for _ in $(seq "$RUNS"); do
    for label in "$@"; do "$fn" "$label" >> "$WORK/$name-$label.tsv"; done
  done
}
medians() {
  local file="$WORK/$1-$2.tsv" col
  for col in $(seq "$(head -1 "$file" | wc -w)"); do cut -d' ' -f"$col" "$file" | median; done | paste -sd' '
}

# memory_run VUS -> "peak_rss_kB"
memory_run() {
  /usr/bin/time -f '%M' -o "$WORK/time" taskset -c 0 "$VOLLEY" run "$PROBE" -q --no-summary \
    -e BASE_URL=http://127.0.0.1:9 -e REQUESTS=0 -e SLEEP_MS=1000 --vus "$1" --duration "${DUR}s" \
    >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
  tail -1 "$WORK/time"
}

memory() {
  echo "== memory: RSS per idle VU (scenario: sleep 1 s per iteration, no requests; ${DUR}s; median of $RUNS)"
  printf '%-8s %-12s %-14s %-20s\n' VUs peak_rss_MB rss_per_vu_KB marginal_KB_per_vu
  local base=""
  for n in 1 $VUS_LIST; do
    local rss
    rounds memory memory_run "$n"
    rss=$(medians memory "$n")
    [ -n "$base" ] || base="$rss"
    awk -v n="$n" -v r="$rss" -v b="$base" 'BEGIN {
      m = (n > 1) ? sprintf("%.1f", (r - b) / (n - 1)) : "-";
      printf "%-8d %-12.1f %-14.1f %-20s\n", n, r / 1024, r / n, m }'
  done
}

start_nginx() {
  nginx_static "$WORK/nginx" "$PORT" "${1:-1}" || exit 1
  trap 'nginx_stop "$WORK/nginx"' EXIT
}

# one_run TOOL -> "rps cpu_s_per_100k rss_mb"
one_run() {
  local tool="$1" url="http://127.0.0.1:$PORT/" reqs
  local tm=(/usr/bin/time -f '%e %U %S %M' -o "$WORK/time" timeout -k 5 $((DUR + 60)) taskset -c 0)
  case "$tool" in
    volley)
      # shellcheck disable=SC2086 # $VOLLEY_EXTRA is a list of arguments
      "${tm[@]}" "$VOLLEY" run "$PROBE" -q -e "BASE_URL=http://127.0.0.1:$PORT" --vus 50 --duration "${DUR}s" ${VOLLEY_EXTRA:-} \
        --summary-export "$WORK/volley.json" --no-summary >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
      reqs=$(python3 -c "import json,sys;print(int(json.load(open(sys.argv[1]))['metrics']['http_reqs']['values']['count']))" "$WORK/volley.json");;
    wrk)
      "${tm[@]}" wrk -t1 -c50 -d"${DUR}s" "$url" > "$WORK/wrk.txt"
      reqs=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt");;
    k6)
      "${tm[@]}" k6 run --quiet --vus 50 --duration "${DUR}s" --summary-export "$WORK/k6.json" \
        -e URL="$url" bench/k6-static.js >/dev/null 2>&1
      reqs=$(python3 -c "import json,sys;print(int(json.load(open(sys.argv[1]))['metrics']['http_reqs']['count']))" "$WORK/k6.json");;
  esac
  read -r wall user sys rss < <(tail -1 "$WORK/time")
  awk -v q="$reqs" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    printf "%.0f %.2f %.1f\n", q / w, (u + s) / q * 100000, r / 1024 }'
}

throughput() {
  command -v nginx >/dev/null || { echo "nginx is required: apt-get install nginx" >&2; exit 1; }
  start_nginx
  local tools="volley"
  command -v wrk >/dev/null && tools="$tools wrk"
  command -v k6 >/dev/null && tools="$tools k6"
  echo "== throughput: 50 VUs/connections, no sleep, ${DUR}s, static nginx on CPU 1, generator on CPU 0; median of $RUNS"
  rounds throughput one_run $tools
  printf '%-8s %-10s %-22s %-12s\n' tool req_per_s cpu_s_per_100k_req peak_rss_MB
  for t in $tools; do
    printf '%-8s %-10s %-22s %-12s\n' "$t" $(medians throughput "$t")
  done
}

# arrival_run TOOL RATE -> "achieved_per_s dropped lateness_p99_ms cpu_s"
arrival_run() {
  local tool="$1" rate="$2" url="http://127.0.0.1:$PORT/"
  local tm=(/usr/bin/time -f '%e %U %S %M' -o "$WORK/time" timeout -k 5 $((DUR + 60)) taskset -c 0)
  if [ "$tool" = volley ]; then
    cat > "$WORK/arrival.toml" <<TOML
plugin = "$PROBE"
[env]
BASE_URL = "http://127.0.0.1:$PORT"
[scenarios.car]
executor = "constant-arrival-rate"
rate = $rate
duration = "${DUR}s"
preAllocatedVUs = 100
maxVUs = 1000
TOML
    "${tm[@]}" "$VOLLEY" run "$WORK/arrival.toml" -q --no-summary --summary-trend-stats "avg,med,p(99)" \
      --summary-export "$WORK/arrival.json" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    python3 - "$WORK/arrival.json" "$DUR" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
dur = float(sys.argv[2])
it = m["iterations"]["values"]["count"]
drop = m.get("dropped_iterations", {}).get("values", {}).get("count", 0)
late = m.get("iteration_lateness", {}).get("values", {}).get("p(99)", float("nan"))
print(f"{it / dur:.0f} {drop:.0f} {late:.2f}", end=" ")
PY
  else
    "${tm[@]}" k6 run --quiet --summary-export "$WORK/k6a.json" -e URL="$url" -e RATE="$rate" \
      -e DURATION="${DUR}s" bench/k6-arrival.js >/dev/null 2>&1
    python3 - "$WORK/k6a.json" "$DUR" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
dur = float(sys.argv[2])
print(f"{m['iterations']['count'] / dur:.0f} {m.get('dropped_iterations', {}).get('count', 0):.0f} n/a", end=" ")
PY
  fi
  read -r _wall user sys _rss < <(tail -1 "$WORK/time")
  awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f\n", u + s }'
}

arrival() {
  command -v nginx >/dev/null || { echo "nginx is required: apt-get install nginx" >&2; exit 1; }
  [ -f "$WORK/nginx/nginx.pid" ] || start_nginx
  local tools="volley"
  command -v k6 >/dev/null && tools="$tools k6"
  echo "== arrival: constant-arrival-rate, ${DUR}s, preAllocatedVUs 100, maxVUs 1000, one GET per iteration; generator on CPU 0"
  printf '%-8s %-8s %-14s %-10s %-18s %-8s\n' tool rate achieved_per_s dropped lateness_p99_ms cpu_s
  for rate in ${RATES:-1000 10000 20000}; do
    for t in $tools; do
      printf '%-8s %-8s %-14s %-10s %-18s %-8s\n' "$t" "$rate" $(arrival_run "$t" "$rate")
    done
  done
}

# hotpath_counts ITERATIONS -> "mallocs memmoves syscalls context_switches"
hotpath_counts() {
  perf stat -x, -e probe_libc:malloc,probe_libc:memmove,raw_syscalls:sys_enter,context-switches \
    -o "$WORK/hot" -- taskset -c 0 "$VOLLEY" run "$PROBE" -q -e "BASE_URL=http://127.0.0.1:$PORT" \
    --vus 50 --iterations "$1" --no-summary >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
  awk -F, '/malloc/ {m=$1} /memmove/ {v=$1} /sys_enter/ {s=$1} /context-switches/ {c=$1}
    END {print m, v, s, c}' "$WORK/hot"
}

hotpath() {
  command -v perf >/dev/null || { echo "perf is required: apt-get install linux-perf" >&2; exit 1; }
  [ "$(id -u)" = 0 ] || { echo "hotpath needs root (uprobes)" >&2; exit 1; }
  [ -f "$WORK/nginx/nginx.pid" ] || start_nginx
  local libc n="${HOT_ITERS:-20050}"
  libc=$(ldd "$VOLLEY" | awk '/libc.so/ {print $3}')
  perf probe -q -d 'probe_libc:*' 2>/dev/null || true
  perf probe -q -x "$libc" -a malloc
  perf probe -q -x "$libc" -a 'memmove=__memmove_avx512_unaligned_erms len=%dx:u64' 2>/dev/null \
    || perf probe -q -x "$libc" -a 'memmove=__memmove_avx_unaligned_erms len=%dx:u64'
  trap 'perf probe -q -d "probe_libc:*" 2>/dev/null; kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true' EXIT
  local base full bytes
  base=$(hotpath_counts 50)
  full=$(hotpath_counts "$n")
  # memmove bytes: every call's length over a smaller run (perf record of the probe).
  perf record -q -e probe_libc:memmove -o "$WORK/mm.data" -- taskset -c 0 "$VOLLEY" run "$PROBE" -q \
    -e "BASE_URL=http://127.0.0.1:$PORT" --vus 50 --iterations 2000 --no-summary >/dev/null 2>&1
  # (No memmove seen, e.g. glibc picked another variant than the one probed: 0, not an exit.)
  bytes=$(perf script -i "$WORK/mm.data" 2>/dev/null | { grep -o 'len=[0-9]*' || true; } | awk -F= '{s += $2} END {print s / 2000}')
  echo "== hotpath: per request (50 VUs, one GET per iteration, $n iterations less a 50-iteration run; memmove bytes over 2,000)"
  printf '%-10s %-10s %-14s %-10s %-16s
' mallocs memmoves memmove_bytes syscalls context_switches
  awk -v b="$base" -v f="$full" -v n="$n" -v bytes="$bytes" 'BEGIN {
    split(b, x, " "); split(f, y, " "); k = n - 50;
    printf "%-10.1f %-10.1f %-14.0f %-10.2f %-16.3f\n", (y[1]-x[1])/k, (y[2]-x[2])/k, bytes, (y[3]-x[3])/k, (y[4]-x[4])/k }'
}

start_tls_nginx() {
  local prefix="$WORK/nginx-tls"
  mkdir -p "$prefix/logs" "$prefix/tmp"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$prefix/key.pem" -out "$prefix/cert.pem" -days 1 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
  H1_PORT=$((PORT + 2)); H2_PORT=$((PORT + 3))
  cat > "$prefix/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 20000;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 16000; }
http {
  access_log off;
  keepalive_requests 100000000;
  ssl_certificate $prefix/cert.pem;
  ssl_certificate_key $prefix/key.pem;
  client_body_temp_path $prefix/tmp/client;
  proxy_temp_path $prefix/tmp/proxy;
  fastcgi_temp_path $prefix/tmp/fastcgi;
  uwsgi_temp_path $prefix/tmp/uwsgi;
  scgi_temp_path $prefix/tmp/scgi;
  server {
    listen 127.0.0.1:$H1_PORT ssl backlog=4096;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
  server {
    listen 127.0.0.1:$H2_PORT ssl http2 backlog=4096;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
CONF
  taskset -c 1 nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log"
  trap 'kill "$(cat "$WORK/nginx-tls/nginx.pid")" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$H2_PORT") 2>/dev/null && return 0; sleep 0.1; done
  echo "nginx (TLS) did not start" >&2; exit 1
}

# tls_run TOOL PORT PROTO -> "rps cpu_s_per_100k rss_mb"
tls_run() {
  local tool="$1" port="$2" proto="$3" url="https://localhost:$2/" reqs
  local tm=(/usr/bin/time -f '%e %U %S %M' -o "$WORK/time" timeout -k 5 $((DUR + 60)) taskset -c 0)
  case "$tool" in
    volley)
      printf 'plugin = "%s"\nvus = 50\nduration = "%ss"\ninsecure-skip-tls-verify = true\n[env]\nBASE_URL = "https://localhost:%s"\n' \
        "$PROBE" "$DUR" "$port" > "$WORK/tls.toml"
      "${tm[@]}" "$VOLLEY" run "$WORK/tls.toml" -q --summary-export "$WORK/volley.json" --no-summary >/dev/null 2>"$WORK/err" \
        || { cat "$WORK/err" >&2; exit 1; }
      reqs=$(python3 -c "import json,sys;print(int(json.load(open(sys.argv[1]))['metrics']['http_reqs']['values']['count']))" "$WORK/volley.json");;
    k6)
      "${tm[@]}" k6 run --quiet --insecure-skip-tls-verify --vus 50 --duration "${DUR}s" --summary-export "$WORK/k6.json" \
        -e URL="$url" bench/k6-static.js >/dev/null 2>&1
      reqs=$(python3 -c "import json,sys;print(int(json.load(open(sys.argv[1]))['metrics']['http_reqs']['count']))" "$WORK/k6.json");;
    h2load)
      local flag=""; [ "$proto" = h1 ] && flag="--h1"
      # shellcheck disable=SC2086
      "${tm[@]}" h2load $flag -c 50 -m 1 -t 1 -D "$DUR" "$url" > "$WORK/h2load.txt"
      reqs=$(awk '/^requests:/ {print $8}' "$WORK/h2load.txt");;
  esac
  read -r wall user sys rss < <(tail -1 "$WORK/time")
  awk -v q="$reqs" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    printf "%.0f %.2f %.1f\n", q / w, (u + s) / q * 100000, r / 1024 }'
}

tls() {
  command -v nginx >/dev/null || { echo "nginx is required: apt-get install nginx" >&2; exit 1; }
  start_tls_nginx
  local tools="volley"
  command -v k6 >/dev/null && tools="$tools k6"
  command -v h2load >/dev/null && tools="$tools h2load"
  echo "== tls: 50 VUs/connections, no sleep, ${DUR}s, nginx (TLS, self-signed) on CPU 1, generator on CPU 0; median of $RUNS"
  printf '%-8s %-9s %-10s %-22s %-12s\n' tool proto req_per_s cpu_s_per_100k_req peak_rss_MB
  for proto in h1 h2; do
    local port=$H1_PORT; [ "$proto" = h2 ] && port=$H2_PORT
    tls_one() { tls_run "$1" "$port" "$proto"; }
    rounds "tls-$proto" tls_one $tools
    for t in $tools; do
      printf '%-8s %-9s %-10s %-22s %-12s\n' "$t" "$([ "$proto" = h1 ] && echo HTTP/1.1 || echo HTTP/2)" \
        $(medians "tls-$proto" "$t")
    done
  done
}

start_prometheus() {
  [ -x /usr/bin/prometheus ] || { echo "prometheus is required: apt-get install prometheus" >&2; exit 1; }
  PROM_PORT=$((PORT + 1))
  mkdir -p "$WORK/prom"
  echo "scrape_configs: []" > "$WORK/prom/prometheus.yml"
  taskset -c 1 /usr/bin/prometheus --config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver \
    --enable-feature=native-histograms >"$WORK/prom/log" 2>&1 &
  PROM_PID=$!
  trap 'kill "$(cat "$WORK/nginx/nginx.pid")" "$PROM_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null && return 0; sleep 0.1; done
  echo "prometheus did not start" >&2; exit 1
}

outputs() {
  command -v nginx >/dev/null || { echo "nginx is required: apt-get install nginx" >&2; exit 1; }
  start_nginx
  start_prometheus
  echo "== outputs: volley, 50 VUs, no sleep, ${DUR}s, static nginx + Prometheus on CPU 1, generator on CPU 0; median of $RUNS"
  local names=(none json prometheus-rw)
  local extras=("" "--out json=$WORK/out.json" "--out prometheus-rw=http://127.0.0.1:$PROM_PORT/api/v1/write")
  outputs_one() { VOLLEY_EXTRA="${extras[$1]}" one_run volley; rm -f "$WORK/out.json"; }
  rounds outputs outputs_one 0 1 2
  printf '%-14s %-10s %-22s %-12s\n' output req_per_s cpu_s_per_100k_req peak_rss_MB
  for i in 0 1 2; do
    printf '%-14s %-10s %-22s %-12s\n' "${names[$i]}" $(medians outputs "$i")
  done
}

soak() {
  command -v nginx >/dev/null || { echo "nginx is required: apt-get install nginx" >&2; exit 1; }
  start_nginx
  start_prometheus
  local dur="${SOAK_DUR:-600}"
  echo "== soak: 50 VUs, no sleep, ${dur}s, --out prometheus-rw --report; RSS every 30 s"
  taskset -c 0 "$VOLLEY" run "$PROBE" -q -e "BASE_URL=http://127.0.0.1:$PORT" --vus 50 --duration "${dur}s" \
    --out "prometheus-rw=http://127.0.0.1:$PROM_PORT/api/v1/write" --report "$WORK/report.html" \
    --summary-export "$WORK/soak.json" --no-summary >/dev/null 2>"$WORK/err" &
  local pid=$! t=0
  printf '%-8s %-10s\n' elapsed_s rss_MB
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30; t=$((t + 30))
    awk -v t="$t" '/VmRSS/ {printf "%-8s %-10.1f\n", t, $2 / 1024}' "/proc/$pid/status" 2>/dev/null || true
  done
  wait "$pid" || { cat "$WORK/err" >&2; exit 1; }
  python3 -c "import json,sys;m=json.load(open(sys.argv[1]))['metrics']['http_reqs']['values'];print('requests: %d (%.0f/s)' % (m['count'], m['rate']))" "$WORK/soak.json"
  curl -s "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode 'query=sum(k6_http_reqs_total)' | python3 -c "import json,sys;print('prometheus sum(k6_http_reqs_total):', json.load(sys.stdin)['data']['result'][0]['value'][1])"
}

# ws_run TOOL URL -> "msgs_per_s cpu_s_per_100k_msgs peak_rss_MB sessions"
ws_run() {
  local tool="$1" url="$2"
  local tm=(/usr/bin/time -f '%e %U %S %M' -o "$WORK/time" timeout -k 5 $((DUR + 60)) taskset -c 0)
  case "$tool" in
    volley)
      printf 'plugin = "%s"\n[sandbox]\nallowed-hosts = ["http://%s"]\n' "$CHAT" "${url#ws://}" > "$WORK/ws.toml"
      "${tm[@]}" "$VOLLEY" run "$WORK/ws.toml" -q --vus "$WS_VUS" --duration "${DUR}s" -e "WS_URL=$url" -e MODE=echo \
        -e PLAIN=1 -e "MESSAGES=$WS_MESSAGES" --summary-export "$WORK/volley.json" --no-summary \
        >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
      read -r msgs sessions < <(python3 -c "import json,sys;m=json.load(open(sys.argv[1]))['metrics'];print(int(m['ws_msgs_received']['values']['count']), int(m['ws_sessions']['values']['count']))" "$WORK/volley.json");;
    k6)
      "${tm[@]}" k6 run --quiet --vus "$WS_VUS" --duration "${DUR}s" --summary-export "$WORK/k6.json" \
        -e "WS_URL=$url" -e "MESSAGES=$WS_MESSAGES" bench/k6-ws.js >/dev/null 2>&1
      read -r msgs sessions < <(python3 -c "import json,sys;m=json.load(open(sys.argv[1]))['metrics'];print(int(m['ws_msgs_received']['count']), int(m['ws_sessions']['count']))" "$WORK/k6.json");;
  esac
  read -r wall user sys rss < <(tail -1 "$WORK/time")
  awk -v q="$msgs" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v n="$sessions" 'BEGIN {
    printf "%.0f %.2f %.1f %d\n", q / w, (u + s) / q * 100000, r / 1024, n }'
}

websocket() {
  WS_VUS="${WS_VUS:-50}" WS_MESSAGES="${WS_MESSAGES:-100}"
  cargo build --release --quiet -p test-servers
  cargo build --quiet -p chat --target wasm32-wasip2 --profile guest --target-dir target/guest
  CHAT="$PWD/target/guest/wasm32-wasip2/guest/chat.wasm"
  local port=$((PORT + 3))
  THREADS=1 taskset -c 1 target/release/volley-test-servers ws "127.0.0.1:$port" > "$WORK/ws.out" &
  local server=$!
  trap 'kill $server 2>/dev/null' RETURN
  for _ in $(seq 50); do [ -s "$WORK/ws.out" ] && break; sleep 0.1; done
  local tools="volley"
  command -v k6 >/dev/null && tools="$tools k6"
  echo "== websocket: $WS_VUS VUs, sessions of $WS_MESSAGES echoed lines, ${DUR}s, echo server on CPU 1, generator on CPU 0; median of $RUNS"
  ws_one() { ws_run "$1" "ws://127.0.0.1:$port"; }
  rounds ws ws_one $tools
  printf '%-8s %-12s %-23s %-12s %-10s\n' tool msgs_per_s cpu_s_per_100k_msgs peak_rss_MB sessions
  for t in $tools; do
    printf '%-8s %-12s %-23s %-12s %-10s\n' "$t" $(medians ws "$t")
  done
}

start_redis() {
  command -v redis-server >/dev/null || { echo "redis-server is required: apt-get install redis-server" >&2; exit 1; }
  REDIS_PORT=$((PORT + 4))
  mkdir -p "$WORK/redis"
  taskset -c 1 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/redis" \
    --logfile "$WORK/redis/log" --daemonize yes --pidfile "$WORK/redis/pid"
  trap 'kill "$(cat "$WORK/redis/pid")" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do
    [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.1
  done
  echo "redis-server did not start" >&2; exit 1
}

# redis_run TOOL -> "cmds_per_s cpu_s_per_100k_cmds rss_mb"
redis_run() {
  local tool="$1" cmds
  local tm=(/usr/bin/time -f '%e %U %S %M' -o "$WORK/time" timeout -k 5 $((DUR * 4 + 60)) taskset -c 0)
  case "$tool" in
    volley)
      printf 'plugin = "%s"\nvus = 50\nduration = "%ss"\n[sandbox]\nallowed-hosts = ["tcp://127.0.0.1:%s"]\n[env]\nREDIS_ADDR = "127.0.0.1:%s"\n' \
        "$REDIS_WASM" "$DUR" "$REDIS_PORT" "$REDIS_PORT" > "$WORK/redis.toml"
      "${tm[@]}" "$VOLLEY" run "$WORK/redis.toml" -q --no-summary --no-thresholds --summary-export "$WORK/volley.json" \
        >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
      cmds=$(python3 -c "import json,sys;print(int(json.load(open(sys.argv[1]))['metrics']['redis_cmds']['values']['count']))" "$WORK/volley.json");;
    redis-benchmark)
      # Four tests one after the other, each DUR * 25000 commands (about DUR/4 s each at ~100k/s).
      "${tm[@]}" redis-benchmark -p "$REDIS_PORT" -c 50 -n $((DUR * 25000)) -t set,get,incr,lpush -q > "$WORK/rb.txt"
      cmds=$((DUR * 25000 * 4));;
  esac
  read -r wall user sys rss < <(tail -1 "$WORK/time")
  awk -v q="$cmds" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    printf "%.0f %.2f %.1f\n", q / w, (u + s) / q * 100000, r / 1024 }'
}

redis() {
  cargo build --quiet -p redis --target wasm32-wasip2 --profile guest --target-dir target/guest
  REDIS_WASM="$PWD/target/guest/wasm32-wasip2/guest/redis.wasm"
  start_redis
  local tools="volley"
  command -v redis-benchmark >/dev/null && tools="$tools redis-benchmark"
  echo "== redis: 50 VUs/connections, no pipelining, ${DUR}s, redis-server on CPU 1, generator on CPU 0; median of $RUNS"
  rounds redis redis_run $tools
  printf '%-16s %-10s %-23s %-12s\n' tool cmds_per_s cpu_s_per_100k_cmds peak_rss_MB
  for t in $tools; do
    printf '%-16s %-10s %-23s %-12s\n' "$t" $(medians redis "$t")
  done
}

# grpc_run TOOL -> "calls_per_s cpu_s_per_100k rss_mb"
grpc_run() {
  local tool="$1" calls
  local tm=(/usr/bin/time -f '%e %U %S %M' -o "$WORK/time" timeout -k 5 $((DUR + 60)) taskset -c 0)
  case "$tool" in
    volley)
      "${tm[@]}" "$VOLLEY" run "$WORK/grpc.toml" -q --vus 50 --duration "${DUR}s" \
        --summary-export "$WORK/volley.json" --no-summary >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
      calls=$(python3 -c "import json,sys;print(int(json.load(open(sys.argv[1]))['metrics']['grpc_req_duration']['values']['count']))" "$WORK/volley.json");;
    k6)
      "${tm[@]}" k6 run --quiet --vus 50 --duration "${DUR}s" --summary-export "$WORK/k6.json" \
        -e GRPC_TARGET="127.0.0.1:$GRPC_PORT" bench/k6-grpc.js >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
      # One call per iteration (k6's export has no count for trends).
      calls=$(python3 -c "import json,sys;print(int(json.load(open(sys.argv[1]))['metrics']['iterations']['count']))" "$WORK/k6.json");;
  esac
  read -r wall user sys rss < <(tail -1 "$WORK/time")
  awk -v q="$calls" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    printf "%.0f %.2f %.1f\n", q / w, (u + s) / q * 100000, r / 1024 }'
}

grpc() {
  cargo build --release --quiet -p test-servers
  cargo build --quiet -p grpc-probe --target wasm32-wasip2 --profile guest --target-dir target/guest
  cp "${CARGO_TARGET_DIR:-$PWD/target}/release/volley-test-servers" "$WORK/"
  GRPC_PORT=$((PORT + 2))
  THREADS=1 taskset -c 1 "$WORK/volley-test-servers" grpc "127.0.0.1:$GRPC_PORT" >"$WORK/grpc-server.log" 2>&1 &
  local server=$!
  trap 'kill $server 2>/dev/null' RETURN
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$GRPC_PORT") 2>/dev/null && break; sleep 0.1; done
  cat > "$WORK/grpc.toml" <<TOML
plugin = "$PWD/target/guest/wasm32-wasip2/guest/grpc_probe.wasm"
[sandbox]
allowed-hosts = ["http://127.0.0.1:$GRPC_PORT"]
[env]
GRPC_TARGET = "127.0.0.1:$GRPC_PORT"
TOML
  local tools="volley"
  command -v k6 >/dev/null && tools="$tools k6"
  echo "== grpc: unary SayHello, 50 VUs, one h2c connection each, no sleep, ${DUR}s, tonic server (1 thread) on CPU 1, generator on CPU 0; median of $RUNS"
  rounds grpc grpc_run $tools
  printf '%-8s %-12s %-24s %-12s\n' tool calls_per_s cpu_s_per_100k_calls peak_rss_MB
  for t in $tools; do
    printf '%-8s %-12s %-24s %-12s\n' "$t" $(medians grpc "$t")
  done
}

start_influxdb() {
  [ -x /usr/bin/influxd ] || { echo "influxd is required: apt-get install influxdb" >&2; exit 1; }
  INFLUX_PORT=$((PORT + 5))
  local d="$WORK/influx"
  mkdir -p "$d"
  printf 'reporting-enabled = false\nbind-address = "127.0.0.1:%s"\n[meta]\n  dir = "%s/meta"\n[data]\n  dir = "%s/data"\n  wal-dir = "%s/wal"\n  query-log-enabled = false\n[monitor]\n  store-enabled = false\n[http]\n  bind-address = "127.0.0.1:%s"\n  log-enabled = false\n' \
    $((PORT + 6)) "$d" "$d" "$d" "$INFLUX_PORT" > "$d/influxdb.conf"
  taskset -c 1 /usr/bin/influxd run -config "$d/influxdb.conf" >"$d/log" 2>&1 &
  INFLUX_PID=$!
  trap 'kill "$(cat "$WORK/nginx/nginx.pid")" "$INFLUX_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$INFLUX_PORT/ping" >/dev/null && return 0; sleep 0.1; done
  echo "influxd did not start" >&2; exit 1
}

influxdb() {
  command -v nginx >/dev/null || { echo "nginx is required: apt-get install nginx" >&2; exit 1; }
  start_nginx
  start_influxdb
  echo "== influxdb: volley, 50 VUs, no sleep, ${DUR}s, static nginx + influxd on CPU 1, generator on CPU 0; median of $RUNS"
  local names=(none influxdb)
  local extras=("" "--out influxdb=http://127.0.0.1:$INFLUX_PORT/bench")
  for i in 0 1; do : > "$WORK/influx-$i.tsv"; done
  for _ in $(seq "$RUNS"); do
    for i in 0 1; do VOLLEY_EXTRA="${extras[$i]}" one_run volley >> "$WORK/influx-$i.tsv"; done
    # What the last run wrote, and what it could not (dropped past the queue bound, failed writes).
    grep -o 'influxdb[^"]*' "$WORK/err" | tail -2 || true
  done
  printf '%-14s %-10s %-22s %-12s\n' output req_per_s cpu_s_per_100k_req peak_rss_MB
  for i in 0 1; do
    printf '%-14s %-10s %-22s %-12s\n' "${names[$i]}" \
      "$(cut -d' ' -f1 "$WORK/influx-$i.tsv" | median)" \
      "$(cut -d' ' -f2 "$WORK/influx-$i.tsv" | median)" \
      "$(cut -d' ' -f3 "$WORK/influx-$i.tsv" | median)"
  done
  curl -s "http://127.0.0.1:$INFLUX_PORT/query?db=bench" --data-urlencode 'q=SELECT count(value) FROM http_reqs' |
    python3 -c "import json,sys;print('points in http_reqs, all runs:', json.load(sys.stdin)['results'][0]['series'][0]['values'][0][1])"
}

# tree PID: PID and its descendants (a sharded run's children have process groups of their own).
tree() {
  local c
  echo "$1"
  for c in $(pgrep -P "$1" 2>/dev/null); do tree "$c"; done
}

# sample PID OUT: every 0.5 s until PID ends, the sum of VmRSS (kB) over PID and its descendants
# and the most mappings one of them holds; writes "peak_rss_kB max_maps" to OUT.
sample() {
  local pid=$1 out=$2 peak=0 maps=0
  while kill -0 "$pid" 2>/dev/null; do
    local rss=0 m p
    for p in $(tree "$pid"); do
      local r
      r=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null)
      rss=$((rss + ${r:-0}))
      m=$(wc -l < "/proc/$p/maps" 2>/dev/null || echo 0)
      [ "$m" -gt "$maps" ] && maps=$m
    done
    [ "$rss" -gt "$peak" ] && peak=$rss
    sleep 0.5
  done
  echo "$peak $maps" > "$out"
}

# scale_run TOOL VUS REQUESTS -> one line of figures (see scale)
scale_run() {
  local tool=$1 n=$2 reqs=$3 ramp=${RAMP:-30} hold=${HOLD:-30}
  rm -f "$WORK/scale.json" "$WORK/scale-points.json"
  if [ "$tool" = volley ]; then
    cat > "$WORK/scale.toml" <<TOML
plugin = "$PROBE"
[env]
BASE_URL = "http://127.0.0.1:$PORT"
REQUESTS = "$reqs"
SLEEP_MS = "10000"
[scenarios.ramp]
executor = "ramping-vus"
startVUs = 0
stages = [{ duration = "${ramp}s", target = $n }, { duration = "${hold}s", target = $n }]
gracefulRampDown = "0s"
gracefulStop = "0s"
TOML
    setsid /usr/bin/time -f '%e %U %S' -o "$WORK/time" "$VOLLEY" run "$WORK/scale.toml" -q --no-summary \
      --out "json=$WORK/scale-points.json" --summary-export "$WORK/scale.json" \
      >/dev/null 2>"$WORK/err" &
  else
    setsid /usr/bin/time -f '%e %U %S' -o "$WORK/time" k6 run -q \
      --out "json=$WORK/scale-points.json" --summary-export "$WORK/scale.json" -e URL="http://127.0.0.1:$PORT/" \
      -e VUS="$n" -e RAMP="${ramp}s" -e HOLD="${hold}s" bench/k6-scale.js >/dev/null 2>"$WORK/err" &
  fi
  local pid=$!
  sample "$pid" "$WORK/sample"
  wait "$pid" || { tail -5 "$WORK/err" >&2; echo "$tool $n: run failed" >&2; return 0; }
  read -r peak maps < "$WORK/sample"
  read -r _wall user sys < <(tail -1 "$WORK/time")
  python3 - "$WORK/scale-points.json" "$n" "$ramp" "$hold" "$peak" "$maps" "$user" "$sys" "$tool" <<'PY'
import json, math, sys
path, n, ramp, hold, peak, maps, user, sys_ = sys.argv[1:9]
n, ramp, hold, peak = int(n), float(ramp), float(hold), int(peak)
from datetime import datetime
starts = []     # iteration starts (epoch s): the end of each iteration less its duration
vus_max = 0
for line in open(path):
    if '"Point"' not in line:
        continue
    p = json.loads(line)
    m, d = p["metric"], p["data"]
    if m == "vus":
        vus_max = max(vus_max, int(d["value"]))
    elif m == "iteration_duration":
        end = datetime.fromisoformat(d["time"].replace("Z", "+00:00")).timestamp()
        starts.append(end - d["value"] / 1000)
# Planned: VU i (1-based) starts at ramp * (i - 1) / n and then every 10 s (its sleep); the
# iterations that end by the end of the run are the planned ones (gracefulStop is 0). Start
# lateness: the j-th earliest actual start against the j-th earliest planned one.
planned = sorted(ramp * (i - 1) / n + 10 * k for i in range(1, n + 1)
                 for k in range(math.floor((ramp + hold - ramp * (i - 1) / n) / 10)))
starts.sort()
t0 = starts[0] if starts else 0
late = sorted(max(0.0, (a - t0) - b) * 1000 for a, b in zip(starts, planned))
p99 = late[min(len(late) - 1, int(len(late) * 0.99))] if late else float("nan")
cpu = float(user) + float(sys_)
print(f"{n} {peak / 1024:.0f} {peak / n:.1f} {maps} {cpu:.1f} {vus_max} {len(starts)}/{len(planned)} {p99:.0f}")
PY
}

scale() {
  command -v nginx >/dev/null || { echo "nginx is required: apt-get install nginx" >&2; exit 1; }
  # Eight workers: one nginx process holds at most 20,000 connections here (its open-files limit).
  [ -f "$WORK/nginx/nginx.pid" ] || start_nginx 8
  local n
  echo "== scale: ramping-vus 0 -> N over ${RAMP:-30}s, held ${HOLD:-30}s; peak RSS of all processes; nginx on CPU 1"
  for scenario in "get+sleep:1" "sleep-only:0"; do
    local label=${scenario%%:*} reqs=${scenario#*:}
    echo "-- $label"
    printf '%-7s %-7s %-9s %-8s %-10s %-7s %-8s %-18s %-14s
' tool VUs peak_MB KB_per_VU max_maps cpu_s vus_max iterations/planned start_late_p99_ms
    for n in ${SCALE_VUS:-1000 10000 50000 100000}; do
      printf '%-7s %s
' volley "$(scale_run volley "$n" "$reqs")"
      if [ "$reqs" = 1 ] && command -v k6 >/dev/null && [[ " ${SCALE_K6_AT:-1000 10000} " == *" $n "* ]]; then
        printf '%-7s %s
' k6 "$(scale_run k6 "$n" "$reqs")"
      fi
    done
  done
}

# js_pss_peak PID -> the peak PSS (MB) of PID's descendants, sampled from /proc/*/smaps_rollup every
# 0.5 s until PID exits. PSS charges a page shared by k processes (a Volley VU's copy-on-write
# memory image, mapped once per VU but one physical page) 1/k to each, where RSS charges it in full.
js_pss_peak() {
  local pid="$1" peak=0 kb
  js_descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; js_descendants "$c"; done; }
  while kill -0 "$pid" 2>/dev/null; do
    kb=0
    for c in $(js_descendants "$pid"); do
      kb=$((kb + $(awk '/^Pss:/ {print $2}' "/proc/$c/smaps_rollup" 2>/dev/null || echo 0)))
    done
    [ "$kb" -gt "$peak" ] && peak=$kb
    sleep 0.5
  done
  awk -v k="$peak" 'BEGIN { printf "%.1f\n", k / 1024 }'
}

# js_run TOOL SCRIPT VUS DUR -> "rps cpu_s_per_100k rss_mb reqs pss_mb"
# TOOL: k6, or volley-ENGINE (`volley run SCRIPT` built with VOLLEY_JS_ENGINE=ENGINE).
js_run() {
  local tool="$1" script="$2" vus="$3" dur="$4" reqs pid pss
  local tm=(/usr/bin/time -f '%e %U %S %M' -o "$WORK/time" timeout -k 5 $((dur + 120)) taskset -c 0)
  case "$tool" in
    volley-*)
      VOLLEY_JS_ENGINE="${tool#volley-}" VOLLEY_JS_TOOLCHAIN="$PWD/plugins/montecarlo-js" "${tm[@]}" "$VOLLEY" run "$script" -q \
        -e "BASE_URL=http://127.0.0.1:$PORT" --vus "$vus" --duration "${dur}s" --no-thresholds \
        --summary-export "$WORK/volley.json" --no-summary >/dev/null 2>"$WORK/err" &
      pid=$!
      pss=$(js_pss_peak "$pid")
      wait "$pid" || { cat "$WORK/err" >&2; exit 1; }
      reqs=$(python3 -c "import json,sys;print(int(json.load(open(sys.argv[1]))['metrics']['http_reqs']['values']['count']))" "$WORK/volley.json");;
    k6)
      "${tm[@]}" k6 run --quiet --vus "$vus" --duration "${dur}s" --summary-export "$WORK/k6.json" \
        -e "BASE_URL=http://127.0.0.1:$PORT" "$script" >/dev/null 2>"$WORK/err" &
      pid=$!
      pss=$(js_pss_peak "$pid")
      wait "$pid" || { cat "$WORK/err" >&2; exit 1; }
      reqs=$(python3 -c "import json,sys;print(int(json.load(open(sys.argv[1]))['metrics']['http_reqs']['count']))" "$WORK/k6.json");;
  esac
  read -r wall user sys rss < <(tail -1 "$WORK/time")
  awk -v q="$reqs" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v p="$pss" 'BEGIN {
    printf "%.0f %.2f %.1f %d %s\n", q / w, (u + s) / q * 100000, r / 1024, q, p }'
}

# js_cpu TOOL N -> "wall cpu_s rss_mb": bench/js-sleep.js, N VUs, N iterations (one each).
js_cpu() {
  local tool="$1" n="$2"
  local tm=(/usr/bin/time -f '%e %U %S %M' -o "$WORK/time" timeout -k 5 120 taskset -c 0)
  case "$tool" in
    volley-*)
      VOLLEY_JS_ENGINE="${tool#volley-}" VOLLEY_JS_TOOLCHAIN="$PWD/plugins/montecarlo-js" "${tm[@]}" "$VOLLEY" run bench/js-sleep.js -q \
        -e "BASE_URL=http://127.0.0.1:$PORT" --vus "$n" --iterations "$n" --no-summary >/dev/null 2>"$WORK/err" \
        || { cat "$WORK/err" >&2; exit 1; };;
    k6)
      "${tm[@]}" k6 run --quiet --vus "$n" --iterations "$n" -e "BASE_URL=http://127.0.0.1:$PORT" bench/js-sleep.js \
        >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; };;
  esac
  read -r wall user sys rss < <(tail -1 "$WORK/time")
  awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN { printf "%s %.3f %.1f\n", w, u + s, r / 1024 }'
}

js() {
  command -v nginx >/dev/null || { echo "nginx is required: apt-get install nginx" >&2; exit 1; }
  command -v k6 >/dev/null || { echo "k6 is required for the side-by-side figures" >&2; exit 1; }
  start_nginx
  local tools="" engine sleep_dur="${JS_SLEEP_DUR:-20}"
  for engine in ${JS_ENGINES:-quickjs}; do tools="$tools volley-$engine"; done
  # Build and compile each script once per engine outside the measured runs (cached in $WORK/cache).
  for t in $tools; do
    for s in bench/js-loop.js bench/js-sleep.js; do
      VOLLEY_JS_ENGINE="${t#volley-}" VOLLEY_JS_TOOLCHAIN="$PWD/plugins/montecarlo-js" "$VOLLEY" run "$s" -q --no-summary \
        -e "BASE_URL=http://127.0.0.1:$PORT" --vus 1 --iterations 1 >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    done
  done
  tools="$tools k6"
  echo "== js: bench/js-loop.js, 50 VUs, no sleep, ${DUR}s, static nginx on CPU 1, generator on CPU 0; median of $RUNS; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  js_loop() { js_run "$1" bench/js-loop.js 50 "$DUR"; }
  rounds js-loop js_loop $tools
  printf '%-20s %-10s %-22s %-12s\n' tool req_per_s cpu_s_per_100k_req peak_rss_MB
  for t in $tools; do
    read -r rps cpu rss _ < <(medians js-loop "$t")
    printf '%-20s %-10s %-22s %-12s\n' "$t" "$rps" "$cpu" "$rss"
  done
  echo
  # CPU per VU started: (CPU of N VUs x 1 iteration - CPU of 1 VU x 1 iteration) / (N - 1): the
  # VU's start (instantiation; for k6 a goja runtime running the script's init) and its first
  # iteration (one GET, sleep(1)), in which an engine touches, and so copies, its heap.
  local start_n="${JS_START_VUS:-500}"
  echo "== js: VU start, bench/js-sleep.js, $start_n VUs x 1 iteration against 1 x 1; median of $RUNS; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  js_start() {
    local one many
    read -r _ one _ _ < <(js_cpu "$1" 1)
    read -r _ many rss _ < <(js_cpu "$1" "$start_n")
    awk -v a="$one" -v b="$many" -v n="$start_n" -v r="$rss" 'BEGIN { printf "%.3f %.1f\n", (b - a) / (n - 1) * 1000, r }'
  }
  rounds js-start js_start $tools
  printf '%-20s %-22s %-12s\n' tool cpu_ms_per_vu_started peak_rss_MB
  for t in $tools; do
    printf '%-20s %-22s %-12s\n' "$t" $(medians js-start "$t")
  done
  echo
  echo "== js: bench/js-sleep.js (GET + sleep(1)), ${sleep_dur}s, planned = VUs x ${sleep_dur}; median of $RUNS; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%-20s %-7s %-10s %-12s %-22s %-12s %-14s %-12s %-14s\n' tool VUs requests planned cpu_s_per_100k_req peak_rss_MB rss_per_vu_KB \
    peak_pss_MB pss_per_vu_KB
  declare -A per_vu=()
  for n in ${JS_VUS_LIST:-1000 10000}; do
    local run_tools="" avail
    avail=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
    for t in $tools; do
      if [ -n "${per_vu[$t]:-}" ] && awk -v k="${per_vu[$t]}" -v n="$n" -v a="$avail" 'BEGIN { exit !(k * n > 0.8 * a) }'; then
        printf '%-20s %-7s skipped: %.0f KB per VU would need %.1f GB, %.1f GB available\n' "$t" "$n" "${per_vu[$t]}" \
          "$(awk -v k="${per_vu[$t]}" -v n="$n" 'BEGIN {print k * n / 1048576}')" "$(awk -v a="$avail" 'BEGIN {print a / 1048576}')"
      else
        run_tools="$run_tools $t"
      fi
    done
    [ -n "$run_tools" ] || continue
    js_sleep() { js_run "$1" bench/js-sleep.js "$n" "$sleep_dur"; }
    # shellcheck disable=SC2086 # $run_tools is a list
    rounds "js-sleep-$n" js_sleep $run_tools
    for t in $run_tools; do
      read -r _ cpu rss reqs pss < <(medians "js-sleep-$n" "$t")
      per_vu[$t]=$(awk -v r="$rss" -v n="$n" 'BEGIN { printf "%.1f", r * 1024 / n }')
      printf '%-20s %-7s %-10s %-12s %-22s %-12s %-14s %-12s %-14s\n' "$t" "$n" "$reqs" "$((n * sleep_dur))" "$cpu" "$rss" \
        "${per_vu[$t]}" "$pss" "$(awk -v p="$pss" -v n="$n" 'BEGIN { printf "%.1f", p * 1024 / n }')"
    done
  done
}

# shared_array: k6's SharedArray over a $SHARED_MB-MB CSV (default 100) read by $SHARED_VUS VUs
# (default 1000), GET + sleep(1) for $JS_SLEEP_DUR s: the peak RSS beside the CSV's size, and k6's.
shared_array() {
  command -v nginx >/dev/null || { echo "nginx is required: apt-get install nginx" >&2; exit 1; }
  command -v k6 >/dev/null || { echo "k6 is required for the side-by-side figures" >&2; exit 1; }
  start_nginx
  local mb="${SHARED_MB:-100}" n="${SHARED_VUS:-1000}" dur="${JS_SLEEP_DUR:-20}" t
  cp bench/js-shared-array.js "$WORK/js-shared-array.js"
  python3 - "$WORK/shared-array.csv" "$mb" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    i = size = 0
    while size < mb * 1000000:
        line = f"user{i},{i % 97},user{i}@example.com,{'x' * 60}\n"
        f.write(line)
        size += len(line)
        i += 1
PY
  # Build (and compile) once outside the measured runs.
  VOLLEY_JS_TOOLCHAIN="$PWD/plugins/montecarlo-js" "$VOLLEY" run "$WORK/js-shared-array.js" -q --no-summary \
    -e "BASE_URL=http://127.0.0.1:$PORT" --vus 1 --iterations 1 >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
  echo "== shared-array: a ${mb} MB CSV ($(wc -l < "$WORK/shared-array.csv") rows) in a SharedArray, $n VUs, GET + sleep(1), ${dur}s; median of $RUNS; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  js_shared() { js_run "$1" "$WORK/js-shared-array.js" "$n" "$dur"; }
  rounds shared-array js_shared volley-quickjs k6
  printf '%-20s %-7s %-10s %-22s %-12s\n' tool VUs requests cpu_s_per_100k_req peak_rss_MB
  for t in volley-quickjs k6; do
    read -r _ cpu rss reqs < <(medians shared-array "$t")
    printf '%-20s %-7s %-10s %-22s %-12s\n' "$t" "$n" "$reqs" "$cpu" "$rss"
  done
}

dashboard() {
  command -v nginx >/dev/null || { echo "nginx is required: apt-get install nginx" >&2; exit 1; }
  start_nginx
  local dport="${DASH_PORT:-15665}"
  echo "== dashboard: volley, 50 VUs, no sleep, ${DUR}s, static nginx on CPU 1, generator on CPU 0; median of $RUNS"
  local names=(none dashboard dashboard+page)
  local extra="--dashboard --dashboard-address 127.0.0.1:$dport"
  dashboard_one() {
    local reader=""
    if [ "$1" = 2 ]; then
      # One page: reads the event stream until the run's final event (retrying until it listens).
      (for _ in $(seq 100); do
        taskset -c 1 curl -sfN "http://127.0.0.1:$dport/events" >"$WORK/events" && break; sleep 0.1
      done) &
      reader=$!
    fi
    VOLLEY_EXTRA="$([ "$1" = 0 ] || echo "$extra")" one_run volley
    if [ -n "$reader" ]; then
      wait "$reader" || true
      echo "  (the page got $(grep -c '^event: ' "$WORK/events") events)" >&2
    fi
  }
  rounds dashboard dashboard_one 0 1 2
  printf '%-14s %-10s %-22s %-12s\n' dashboard req_per_s cpu_s_per_100k_req peak_rss_MB
  for i in 0 1 2; do
    printf '%-14s %-10s %-22s %-12s\n' "${names[$i]}" $(medians dashboard "$i")
  done
}

case "$WHAT" in
  memory) memory ;;
  scale) scale ;;
  throughput) throughput ;;
  hotpath) hotpath ;;
  arrival) arrival ;;
  outputs) outputs ;;
  influxdb) influxdb ;;
  dashboard) dashboard ;;
  tls) tls ;;
  grpc) grpc ;;
  soak) soak ;;
  websocket) websocket ;;
  redis) redis ;;
  js) js ;;
  shared-array) shared_array ;;
  all) memory; echo; throughput; echo; arrival ;;
  *) sed -n 2,50p "$0"; exit 2 ;;
esac
