//! The live page: the report's document (one stylesheet, one layout) with a status bar and a
//! small inline script that swaps in each update's body. Nothing is fetched but the event
//! stream from the same address, so the page works offline.

use bytes::Bytes;

use crate::output::report;

/// The status bar and the script. The script counts updates in `body[data-updates]`, sets
/// `body[data-done]` when the final report arrived, and fires a `volley-update` event on the
/// document after each update (a hook for anything watching the page, such as the tests).
const LIVE: &str = r#"<div id="live-bar" style="position:fixed;top:8px;right:16px;background:white;border:1px solid #e5e7eb;border-radius:8px;padding:6px 12px">
<span id="live-status">Connecting…</span> <a id="download" hidden download="volley-report.html">Download the report</a>
</div>
<script>
(() => {
  const main = document.getElementById('report');
  const status = document.getElementById('live-status');
  const link = document.getElementById('download');
  let updates = 0, done = false;
  const events = new EventSource('/events');
  const show = (e) => {
    const u = JSON.parse(e.data);
    main.innerHTML = u.body;
    updates += 1;
    document.body.dataset.updates = String(updates);
    document.body.dataset.seq = String(u.seq);
    return u;
  };
  events.addEventListener('update', (e) => {
    show(e);
    status.textContent = 'Live: update ' + updates + ' at ' + new Date().toLocaleTimeString();
    document.dispatchEvent(new CustomEvent('volley-update', { detail: updates }));
  });
  events.addEventListener('done', (e) => {
    done = true;
    events.close();
    const u = show(e);
    link.href = URL.createObjectURL(new Blob([u.report], { type: 'text/html' }));
    link.hidden = false;
    status.textContent = 'Test finished: the final report.';
    document.body.dataset.done = 'true';
    document.dispatchEvent(new CustomEvent('volley-update', { detail: updates }));
  });
  events.onerror = () => {
    if (!done) status.textContent = 'Disconnected: retrying (has the run ended?)';
  };
})();
</script>
"#;

/// The live page for a run titled `title`.
pub fn live(title: &str) -> Bytes {
    Bytes::from(report::document(
        title,
        "<p>Waiting for the first update…</p>",
        LIVE,
    ))
}
