#!/usr/bin/env bash
# Takes a screenshot of the live web dashboard mid-run: starts a ramping Monte Carlo test with
# --dashboard, opens the page in headless Chromium (apt-get install chromium) over the DevTools
# protocol (driven by Node 20+'s WebSocket), waits for the page's tenth live update, and captures
# it; then stops the run (Ctrl-C). Usage: bench/dashboard-screenshot.sh [OUT.png]   (default /tmp/volley-dashboard.png)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="$(realpath -m "${1:-/tmp/volley-dashboard.png}")"
WORK="$(mktemp -d /tmp/volley-dashboard.XXXXXX)"
cargo build --release --quiet
./target/release/volley run --stage 10s:20 --stage 10s:20 --stage 5s:0 -q \
  --dashboard --dashboard-address 127.0.0.1:0 >"$WORK/stdout" 2>"$WORK/stderr" &
RUN=$!
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
  --user-data-dir="$WORK/profile" --remote-debugging-port=0 about:blank 2>"$WORK/chromium" &
BROWSER=$!
trap 'kill $BROWSER 2>/dev/null; kill -INT $RUN 2>/dev/null; wait $RUN 2>/dev/null || true' EXIT
wait_for() { # FILE PATTERN: the first match, within 60 s
  for _ in $(seq 600); do
    if grep -o "$2" "$1" 2>/dev/null | head -1 | grep .; then return; fi
    sleep 0.1
  done
  echo "no '$2' in $1:" >&2; cat "$1" >&2; exit 1
}
URL="$(wait_for "$WORK/stderr" 'web dashboard: http://[0-9.:]*' | cut -d' ' -f3)"
WS="$(wait_for "$WORK/chromium" 'ws://127\.0\.0\.1:[0-9]*/devtools/browser/[a-z0-9-]*')"
node --experimental-websocket --no-warnings - "$WS" "$URL" "$OUT" <<'JS'
const [ws, url, out] = process.argv.slice(2);
const sock = new WebSocket(ws);
let next = 0, session;
const waiting = new Map();
const call = (method, params = {}) => new Promise((resolve, reject) => {
  const id = ++next;
  waiting.set(id, { resolve, reject });
  sock.send(JSON.stringify({ id, method, params, ...(session ? { sessionId: session } : {}) }));
});
sock.onmessage = (m) => {
  const msg = JSON.parse(m.data);
  const w = waiting.get(msg.id);
  if (!w) return;
  waiting.delete(msg.id);
  msg.error ? w.reject(new Error(JSON.stringify(msg.error))) : w.resolve(msg.result);
};
sock.onopen = async () => {
  const { targetId } = await call('Target.createTarget', { url: 'about:blank' });
  ({ sessionId: session } = await call('Target.attachToTarget', { targetId, flatten: true }));
  await call('Emulation.setDeviceMetricsOverride', { width: 1600, height: 1400, deviceScaleFactor: 1, mobile: false });
  await call('Page.navigate', { url });
  // Evaluated as soon as the new document exists: its body may not be parsed yet.
  const shown = await call('Runtime.evaluate', {
    awaitPromise: true,
    expression: `new Promise((done) => { const f = () => +(document.body?.dataset.updates || 0) >= 10 && done(true);
      document.addEventListener('volley-update', f); f(); })`,
  });
  if (shown.exceptionDetails) throw new Error(JSON.stringify(shown.exceptionDetails));
  const { data } = await call('Page.captureScreenshot', { format: 'png' });
  require('fs').writeFileSync(out, Buffer.from(data, 'base64'));
  process.exit(0);
};
JS
echo "screenshot: $OUT"
