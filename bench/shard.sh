#!/usr/bin/env bash
# Sleep-only VUs in one process vs split over --processes N (issue 15 part 2): peak RSS of the
# whole process tree, most memory mappings in one process, CPU seconds (coordinator + shards).
# Usage: bench/shard.sh [TOTAL_VUS] [PROCESSES] [DURATION]   (defaults 8000 4 20s)
set -euo pipefail
cd "$(dirname "$0")/.."
VUS=${1:-8000}
PROCS=${2:-4}
DUR=${3:-20s}
VOLLEY=${VOLLEY:-target/release/volley}
PROBE=${PROBE:-target/guest/wasm32-wasip2/guest/probe.wasm}
[ -f "$PROBE" ] || { echo "build the test components first (cargo test -p volley --test e2e builds $PROBE)"; exit 1; }

# Sums VmRSS (kB) over PID and its children, every 200 ms until PID exits; prints the peak total
# and the most mappings seen in one process.
sample() {
  local pid=$1 peak=0 maps=0
  while kill -0 "$pid" 2>/dev/null; do
    local total=0
    for p in "$pid" $(pgrep -P "$pid" || true); do
      local rss; rss=$(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
      total=$((total + ${rss:-0}))
      local m; m=$( (wc -l < "/proc/$p/maps") 2>/dev/null || echo 0)
      [ "$m" -gt "$maps" ] && maps=$m
    done
    [ "$total" -gt "$peak" ] && peak=$total
    sleep 0.2
  done
  echo "$peak $maps"
}

run() {
  local label=$1; shift
  local timing; timing=$(mktemp)
  /usr/bin/time -f "%U %S %e" -o "$timing" "$VOLLEY" run "$PROBE" -q --no-summary \
    -e BASE_URL=http://127.0.0.1:9 -e REQUESTS=0 -e SLEEP_MS=1000 \
    --vus "$VUS" --duration "$DUR" "$@" 2>/dev/null &
  local pid=$!
  # /usr/bin/time's child is volley: sample it.
  local vpid=""
  while [ -z "$vpid" ] && kill -0 "$pid" 2>/dev/null; do vpid=$(pgrep -P "$pid" || true); done
  local peak maps; read -r peak maps < <(sample "$vpid")
  local code=0; wait "$pid" || code=$?
  local user sys wall; read -r user sys wall < <(tail -1 "$timing"); rm -f "$timing"
  printf '%-14s VUs %6d  exit %3d  peak RSS %7.1f MB (%5.1f KB/VU)  max maps/process %6d  CPU %6.2f s (user %.2f sys %.2f)  wall %.1f s\n' \
    "$label" "$VUS" "$code" "$(echo "$peak/1024" | bc -l)" "$(echo "$peak/$VUS" | bc -l)" "$maps" \
    "$(echo "$user+$sys" | bc -l)" "$user" "$sys" "$wall"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run "1 process"
run "$PROCS processes" --processes "$PROCS"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
