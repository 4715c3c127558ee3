//! k6's `k6/websockets` (the event-loop WebSocket API) against the test WebSocket server
//! (`tests/servers`): the same script run by the real k6 gave the checks (event order included)
//! and `ws_*` figures recorded in `fixtures/k6-websockets.json` (re-record:
//! `record_k6_websockets`), so CI needs no k6; a hostile script meets the per-VU bounds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use test_servers::ws::WsServer;

use crate::support::{
    checks_by_name, read_json, root, run_js_source, run_k6_exported, scratch, Run,
};

/// The counters compared with k6 (its summary export gives trends no count).
const COUNTERS: [&str; 3] = ["ws_sessions", "ws_msgs_sent", "ws_msgs_received"];

fn fixture(name: &str) -> PathBuf {
    root().join("tests/e2e/fixtures").join(name)
}

/// What is compared: every check's passes and fails, the `ws_*` metrics present and the counters.
fn results(
    checks: BTreeMap<String, serde_json::Value>,
    metrics: &serde_json::Map<String, serde_json::Value>,
    count: impl Fn(&serde_json::Value) -> Option<f64>,
) -> serde_json::Value {
    let names: Vec<&String> = metrics.keys().filter(|k| k.starts_with("ws_")).collect();
    let counters: BTreeMap<&str, Option<f64>> = COUNTERS
        .iter()
        .map(|m| (*m, metrics.get(*m).and_then(&count)))
        .collect();
    serde_json::json!({ "checks": checks, "ws_metrics": names, "counters": counters })
}

/// Runs `source` (a script file's text) with Volley against `server`; returns the run and its
/// exported summary (`Null` when none was written).
fn run_volley(name: &str, script: &str, server: &WsServer) -> (Run, serde_json::Value) {
    run_js_source(name, script, &[("WS_URL", server.url())])
}

fn count(summary: &serde_json::Value, metric: &str) -> f64 {
    summary["metrics"][metric]["values"]["count"]
        .as_f64()
        .unwrap_or_else(|| panic!("no count for {metric}: {}", summary["metrics"][metric]))
}

/// Event order (open, messages to both listeners, pong, interval ticks, the server's close 4000
/// as error then close, the script's own close with the server's answer), states, errors and the
/// ws_* counters (pings and close frames count as sent) as k6 v1.1 gives them.
#[test]
fn websockets_give_k6s_events_checks_and_metrics() {
    let server = WsServer::start(1).unwrap();
    let script = std::fs::read_to_string(fixture("k6-websockets.js")).unwrap();
    let (out, s) = run_volley("k6-websockets", &script, &server);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        s["iteration_errors"]
            .as_object()
            .is_none_or(|e| e.is_empty()),
        "{}",
        s["iteration_errors"]
    );
    let volley = results(checks_by_name(&s), s["metrics"].as_object().unwrap(), |m| {
        m["values"]["count"].as_f64()
    });
    let mut k6 = read_json(&fixture("k6-websockets.json"));
    k6.as_object_mut().unwrap().remove("recorded");
    assert_eq!(
        volley, k6,
        "Volley's results differ from k6's (left: Volley)"
    );
    // Both sockets of both iterations reached the server, which got every data message.
    assert_eq!(WsServer::count(&server.stats.sessions), 4);
    assert_eq!(WsServer::count(&server.stats.received), 10);
}

/// A hostile script opens more sockets than a VU may hold and sends more pings than a session
/// remembers: the sockets past 64 fail with an error naming the bound, only the newest 64 pings
/// are timed (every pong still reaches the script), and closing the sockets gives their slots
/// back (a 71st socket opens).
#[test]
fn a_vus_sockets_and_unanswered_pings_are_bounded() {
    let server = WsServer::start(1).unwrap();
    let (out, s) = run_volley(
        "k6-websockets-bounds",
        r#"
import { WebSocket } from 'k6/websockets';
import { check } from 'k6';
export const options = { iterations: 1 };
export default function () {
  const url = `${__ENV.WS_URL}/echo`;
  const sockets = [];
  const errors = [];
  let opened = 0;
  let closed = 0;
  let pongs = 0;
  const closeAll = () => { for (const s of sockets) s.close(); };
  for (let i = 0; i < 70; i++) {
    const ws = new WebSocket(url);
    ws.onerror = (e) => errors.push(e.error);
    ws.onopen = () => {
      opened++;
      if (opened === 64) {
        sockets[0].onpong = () => { pongs++; if (pongs === 200) closeAll(); };
        for (let p = 0; p < 200; p++) sockets[0].ping();
      }
    };
    ws.onclose = () => {
      closed++;
      if (closed < 70) return;
      const again = new WebSocket(url);
      again.onopen = () => {
        check(null, {
          '64 sockets open': () => opened === 64,
          'the others fail naming the bound': () => errors.length === 6 && errors.every((e) => e.includes('a VU may hold 64')),
          'every pong reaches the script': () => pongs === 200,
          'a closed socket gives its slot back': () => again.readyState === WebSocket.OPEN,
        });
        again.close();
      };
    };
    sockets.push(ws);
  }
}
"#,
        &server,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    for (name, result) in checks_by_name(&s) {
        assert_eq!(result, serde_json::json!([1, 0]), "{name}");
    }
    assert_eq!(checks_by_name(&s).len(), 4);
    // The host remembered only the newest 64 pings' send times.
    assert_eq!(count(&s, "ws_ping"), 64.0);
    assert_eq!(count(&s, "ws_sessions"), 65.0);
    assert_eq!(WsServer::count(&server.stats.sessions), 65);
}

/// As in k6, an exception in a message handler closes that socket (its error and close
/// listeners run) and fails the iteration; the next iteration starts with no socket left over.
#[test]
fn an_exception_in_a_handler_closes_the_socket_and_fails_the_iteration() {
    let server = WsServer::start(1).unwrap();
    let (out, s) = run_volley(
        "k6-websockets-throw",
        r#"
import { WebSocket } from 'k6/websockets';
import { check } from 'k6';
import exec from 'k6/execution';
export const options = { iterations: 2 };
export default function () {
  const first = exec.scenario.iterationInTest === 0;
  const seen = [];
  const ws = new WebSocket(`${__ENV.WS_URL}/echo`);
  ws.onopen = () => ws.send('hello');
  ws.onmessage = () => {
    if (first) throw new Error('boom in onmessage');
    ws.close();
  };
  ws.onerror = (e) => seen.push(`error:${e.error}`);
  ws.onclose = () => {
    seen.push(`close:${ws.readyState}`);
    check(null, { [first ? 'the throwing socket was closed' : 'the next iteration runs']: () => true });
    if (first) check(seen, { 'its error listener saw the exception': (s) => s[0] === 'error:boom in onmessage' });
  };
}
"#,
        &server,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let checks = checks_by_name(&s);
    for name in [
        "the throwing socket was closed",
        "its error listener saw the exception",
        "the next iteration runs",
    ] {
        assert_eq!(
            checks.get(name),
            Some(&serde_json::json!([1, 0])),
            "{name}: {checks:?}"
        );
    }
    let errors = s["iteration_errors"].to_string();
    assert!(errors.contains("boom in onmessage"), "{errors}");
    assert_eq!(count(&s, "ws_sessions"), 2.0);
}

/// Records `fixtures/k6-websockets.json` from a run of the real k6 (`VOLLEY_RECORD_K6=$(command
/// -v k6) cargo test --release --test e2e -- --ignored record_k6_websockets`), with
/// K6_NO_USAGE_REPORT=true.
#[test]
#[ignore = "records the fixture with a real k6 named by VOLLEY_RECORD_K6"]
fn record_k6_websockets() {
    let k6 = std::env::var("VOLLEY_RECORD_K6").expect("VOLLEY_RECORD_K6=path of a k6 binary");
    let version = std::process::Command::new(&k6)
        .arg("version")
        .env("K6_NO_USAGE_REPORT", "true")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let server = WsServer::start(1).unwrap();
    let export = scratch("k6-websockets-record").join("summary.json");
    let s = run_k6_exported(
        &k6,
        &fixture("k6-websockets.js"),
        &[("WS_URL", server.url())],
        &[],
        &export,
    );
    // k6's export nests checks in groups: { "root_group": { "checks": { NAME: { passes, fails } } } }.
    let mut doc = results(checks_by_name(&s), s["metrics"].as_object().unwrap(), |m| {
        m["count"].as_f64()
    });
    doc["recorded"] = serde_json::json!(format!(
        "by record_k6_websockets: {version}, `k6 run --summary-export` of k6-websockets.js \
         against the test WebSocket server (tests/servers) on 127.0.0.1"
    ));
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    std::fs::write(fixture("k6-websockets.json"), text).unwrap();
}
