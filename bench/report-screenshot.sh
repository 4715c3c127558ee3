#!/usr/bin/env bash
# Runs a short Monte Carlo test with --report and takes a screenshot of the report in headless
# Chromium (apt-get install chromium). Usage: bench/report-screenshot.sh [OUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-/tmp/volley-report.png}"
WORK="$(mktemp -d /tmp/volley-report.XXXXXX)"
cargo build --release --quiet
./target/release/volley run --stage 5s:10 --stage 10s:20 --stage 5s:0 -q --report "$WORK/report.html" >/dev/null
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
  --user-data-dir="$WORK/profile" --window-size=1500,1400 --screenshot="$OUT" "file://$WORK/report.html" 2>/dev/null
echo "report: $WORK/report.html"
echo "screenshot: $OUT"
