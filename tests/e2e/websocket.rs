//! WebSockets against a real tokio-tungstenite server (`tests/servers`): the chat example
//! plugin's sessions, messages, pings and closes, counted on both sides; wss:// with a CA made
//! here; hosts outside `allowed-hosts` refused before any connection.

use std::sync::Arc;

use test_servers::ws::WsServer;

use crate::http::pki;
use crate::support::{check, component, run_with_summary, scratch};

/// Writes a test running the chat plugin against `url` with `vus` x `iterations` (per VU).
fn chat_test(
    name: &str,
    url: &str,
    allowed: &str,
    vus: u32,
    iterations: u32,
    env: &str,
    extra: &str,
) -> std::path::PathBuf {
    let dir = scratch(name);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"plugin = "{}"
{extra}
[scenarios.chat]
executor = "per-vu-iterations"
vus = {vus}
iterations = {iterations}

[sandbox]
allowed-hosts = ["{allowed}"]

[env]
WS_URL = "{url}"
{env}
"#,
            component("chat").display()
        ),
    )
    .unwrap();
    path
}

fn count(s: &serde_json::Value, metric: &str) -> f64 {
    s["metrics"][metric]["values"]["count"]
        .as_f64()
        .unwrap_or_else(|| panic!("no count for {metric}: {}", s["metrics"][metric]))
}

#[test]
fn echo_sessions_messages_and_pings_are_counted_on_both_sides() {
    let server = WsServer::start(1).unwrap();
    let allowed = format!("http://{}", server.addr);
    let test = chat_test(
        "ws-echo",
        &server.url(),
        &allowed,
        2,
        3,
        "MODE = \"echo\"\nMESSAGES = \"5\"\nHEADER = \"from-volley\"",
        "",
    );
    let (out, s) = run_with_summary(&test, &[], 0);
    // 6 sessions, each: 5 text lines + 1 binary message out and back, one ping, one close.
    assert_eq!(count(&s, "ws_sessions"), 6.0);
    assert_eq!(count(&s, "ws_msgs_sent"), 36.0);
    assert_eq!(count(&s, "ws_msgs_received"), 36.0);
    assert_eq!(count(&s, "ws_connecting"), 6.0);
    assert_eq!(count(&s, "ws_ping"), 6.0);
    assert_eq!(count(&s, "ws_session_duration"), 6.0);
    let stats = &server.stats;
    assert_eq!(WsServer::count(&stats.sessions), 6);
    assert_eq!(WsServer::count(&stats.received), 36);
    assert_eq!(WsServer::count(&stats.sent), 36);
    assert_eq!(*stats.closes.lock().unwrap(), vec![1000; 6]);
    assert_eq!(
        *stats.test_headers.lock().unwrap(),
        vec!["from-volley"; 6],
        "handshake headers reach the server"
    );
    for name in [
        "subprotocol agreed",
        "every line came back",
        "binary echoed",
        "pong within a second",
    ] {
        let c = check(&s, name);
        assert_eq!(
            (c["passes"].as_u64(), c["fails"].as_u64()),
            (Some(6), Some(0)),
            "{name}"
        );
    }
    // Bytes on the wire: at least the 36 framed payloads each way.
    assert!(
        count(&s, "data_sent") > 36.0 * 15.0,
        "{}",
        s["metrics"]["data_sent"]
    );
    assert!(count(&s, "data_received") > 36.0 * 15.0);
    assert!(out.stdout.contains("WEBSOCKET"), "{}", out.stdout);
    assert!(out.stdout.contains("ws_msgs_received"), "{}", out.stdout);
}

#[test]
fn tags_feed_sub_metric_thresholds() {
    let server = WsServer::start(1).unwrap();
    let allowed = format!("http://{}", server.addr);
    let thresholds = "[thresholds]\n\"ws_sessions{subproto:echo.v1}\" = [\"count==4\"]\n\"ws_msgs_sent{room:blue}\" = [\"count==12\"]\n\"ws_connecting{status:101}\" = [\"max<5000\"]\n";
    let test = chat_test(
        "ws-tags",
        &server.url(),
        &allowed,
        1,
        4,
        &format!("MODE = \"echo\"\nMESSAGES = \"2\"\nROOM = \"blue\"\n{thresholds}"),
        "",
    );
    let (out, s) = run_with_summary(&test, &[], 0);
    assert_eq!(s["thresholds_passed"], true, "{}", out.stdout);
    assert_eq!(
        s["metrics"]["ws_sessions{subproto:echo.v1}"]["values"]["count"],
        4.0
    );
}

#[test]
fn chat_rooms_relay_and_server_closes_are_reported() {
    let server = WsServer::start(1).unwrap();
    let allowed = format!("http://{}", server.addr);
    let test = chat_test(
        "ws-chat",
        &server.url(),
        &allowed,
        1,
        2,
        "MODE = \"chat\"\nMESSAGES = \"3\"\nBYE = \"1\"",
        "",
    );
    let (_, s) = run_with_summary(&test, &[], 0);
    let bye = check(&s, "server said goodbye with 4000");
    assert_eq!(
        (bye["passes"].as_u64(), bye["fails"].as_u64()),
        (Some(2), Some(0))
    );
    let relayed = check(&s, "every line came back");
    assert_eq!(
        relayed["passes"], 2,
        "the room relayed each line as 'N: line'"
    );
    // 3 lines and the "bye" per session went out; the client answered each server close.
    assert_eq!(count(&s, "ws_msgs_sent"), 8.0);
    assert_eq!(count(&s, "ws_session_duration"), 2.0);
    assert_eq!(*server.stats.closes.lock().unwrap(), vec![4000; 2]);
}

#[test]
fn wss_uses_the_test_tls_settings() {
    let dir = scratch("wss-pki");
    let pki = pki(&dir, &["localhost"]);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.leaf.clone()], pki.key.clone_key())
        .unwrap();
    let server = WsServer::start_tls(1, Arc::new(config)).unwrap();
    let port = server.addr.port();
    let url = format!("wss://localhost:{port}");
    let allowed = format!("https://localhost:{port}");
    let ca = dir.join("ca.pem");
    let tls = format!("tls-ca-file = \"{}\"", ca.display());
    let test = chat_test("wss", &url, &allowed, 1, 2, "MODE = \"echo\"", &tls);
    let (_, s) = run_with_summary(&test, &[], 0);
    assert_eq!(count(&s, "ws_sessions"), 2.0);
    assert_eq!(check(&s, "every line came back")["passes"], 2);
    assert_eq!(WsServer::count(&server.stats.sessions), 2);

    // Without the CA the handshake fails with k6's unknown-authority code, and the iteration
    // fails with it.
    let test = chat_test("wss-untrusted", &url, &allowed, 1, 1, "MODE = \"echo\"", "");
    let (_, s) = run_with_summary(&test, &[], 0);
    let errors = s["iteration_errors"].to_string();
    assert!(errors.contains("certificate"), "{errors}");
    assert!(
        s["metrics"].get("ws_sessions").is_none(),
        "{}",
        s["metrics"]
    );
}

#[test]
fn hosts_outside_allowed_hosts_are_refused_before_connecting() {
    let server = WsServer::start(1).unwrap();
    // Only another port is allowed; wss would need https:// anyway.
    let test = chat_test(
        "ws-denied",
        &server.url(),
        "http://127.0.0.1:1",
        1,
        2,
        "MODE = \"echo\"",
        "",
    );
    let (_, s) = run_with_summary(&test, &[], 0);
    let errors = s["iteration_errors"].to_string();
    assert!(
        errors.contains(&format!(
            "host {} is not in the sandbox's allowed-hosts",
            server.addr
        )),
        "{errors}"
    );
    assert_eq!(WsServer::count(&server.stats.sessions), 0);
    assert!(s["metrics"].get("ws_sessions").is_none());
}

#[test]
fn k6_ws_scripts_run_through_the_javascript_shim() {
    let server = WsServer::start(1).unwrap();
    let dir = scratch("ws-js");
    std::fs::write(
        dir.join("chat.js"),
        r#"import ws from 'k6/ws';
import { check } from 'k6';

export const options = { vus: 2, iterations: 4 };

export default function () {
  let echoed = 0;
  let binary = 0;
  let pongs = 0;
  let ticks = 0;
  let closedWith = 0;
  const res = ws.connect(`${__ENV.WS_URL}/echo`, { headers: { 'Sec-WebSocket-Protocol': 'echo.v1' }, tags: { room: 'js' } }, (socket) => {
    socket.on('open', () => {
      socket.send('one');
      socket.send('two');
      socket.sendBinary(new Uint8Array([7, 8, 9]).buffer);
      socket.ping();
      socket.setInterval(() => { ticks++; }, 10);
      socket.setTimeout(() => socket.send('bye'), 50);
    });
    socket.on('message', (m) => { if (m === 'one' || m === 'two') echoed++; });
    socket.on('binaryMessage', (b) => { binary = new Uint8Array(b).reduce((a, x) => a + x, 0); });
    socket.on('pong', () => { pongs++; });
    socket.on('close', (code) => { closedWith = code; });
  });
  check(res, { 'status 101 and subprotocol': (r) => r.status === 101 && r.subprotocol === 'echo.v1' });
  check(null, {
    'text echoed': () => echoed === 2,
    'binary echoed': () => binary === 24,
    'pong handler ran': () => pongs === 1,
    'interval ticked': () => ticks >= 2,
    'server close seen': () => closedWith === 4000,
  });
  let threw = '';
  try {
    ws.connect('ws://127.0.0.1:1/echo', () => {});
  } catch (e) {
    threw = String(e.message);
  }
  check(threw, { 'denied host throws': (t) => t.includes('allowed-hosts') });
}
"#,
    )
    .unwrap();
    let test = dir.join("chat.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"chat.js\"\n[sandbox]\nallowed-hosts = [\"http://{}\"]\n[env]\nWS_URL = \"{}\"\n",
            server.addr,
            server.url()
        ),
    )
    .unwrap();
    let s = crate::support::run_js_test(&test);
    for name in [
        "status 101 and subprotocol",
        "text echoed",
        "binary echoed",
        "pong handler ran",
        "interval ticked",
        "server close seen",
        "denied host throws",
    ] {
        let c = check(&s, name);
        assert_eq!(
            (c["passes"].as_u64(), c["fails"].as_u64()),
            (Some(4), Some(0)),
            "{name}"
        );
    }
    assert_eq!(count(&s, "ws_sessions"), 4.0);
    // two lines, one binary message and "bye" per session.
    assert_eq!(count(&s, "ws_msgs_sent"), 16.0);
    assert_eq!(count(&s, "ws_ping"), 4.0);
    assert_eq!(WsServer::count(&server.stats.sessions), 4);
}
