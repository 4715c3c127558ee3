//! k6's `k6/net/grpc` streams (`grpc.Stream`: client, server and bidirectional) and server
//! reflection (`connect(addr, { reflect: true })`) as k6 scripts, against the test greeter on
//! 127.0.0.1, compared with the real k6's results on the same script and server, recorded in
//! `fixtures/k6-grpc.json` (re-record: `record_k6_grpc`), so CI needs no k6; and the bounds on
//! what a script's streams make the host hold.

use std::path::PathBuf;

use test_servers::grpc::{GrpcServer, Reflection};

use crate::support::{
    checks_by_name, read_json, root, run_js_exported, run_k6_exported, scratch, Run,
};

fn script(name: &str) -> PathBuf {
    root().join("tests/e2e/fixtures").join(name)
}

fn count(s: &serde_json::Value, metric: &str) -> serde_json::Value {
    let m = &s["metrics"][metric];
    m["values"]["count"]
        .as_f64()
        .or_else(|| m["count"].as_f64())
        .map_or(serde_json::Value::Null, |n| serde_json::json!(n))
}

/// What the comparison covers: every check's passes and fails, and the grpc_* sample counts.
fn results(summary: &serde_json::Value, checks: serde_json::Value) -> serde_json::Value {
    let mut doc = serde_json::json!({ "checks": checks });
    for metric in [
        "grpc_req_duration",
        "grpc_streams",
        "grpc_streams_msgs_sent",
        "grpc_streams_msgs_received",
    ] {
        doc[metric] = count(summary, metric);
    }
    doc
}

/// Runs the script at `path` with Volley against `server`; returns the run and its summary.
fn run_volley(path: &std::path::Path, server: &GrpcServer) -> (Run, serde_json::Value) {
    let name = path.file_stem().unwrap().to_str().unwrap();
    let export = scratch(&format!("k6-grpc-{name}")).join("summary.json");
    run_js_exported(path, &[("GRPC_TARGET", server.target())], &[], &export)
}

fn volley_checks(s: &serde_json::Value) -> serde_json::Value {
    serde_json::json!(checks_by_name(s))
}

/// Reflection (v1) and unary calls on what it described; server, client and bidirectional
/// streams with k6's event order (data in order, error before end, nothing before the
/// iteration's function returns), a non-OK status and a deadline: the same checks and grpc_*
/// counts as k6 on the same script and server.
#[test]
fn streams_and_reflection_give_k6s_results() {
    let server = GrpcServer::start(1).unwrap();
    let (out, s) = run_volley(&script("k6-grpc.js"), &server);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        s["iteration_errors"]
            .as_object()
            .is_none_or(|e| e.is_empty()),
        "{}",
        s["iteration_errors"]
    );
    let mut k6 = read_json(&script("k6-grpc.json"));
    k6.as_object_mut().unwrap().remove("recorded");
    assert_eq!(
        results(&s, volley_checks(&s)),
        k6,
        "Volley's results differ from k6's (left: Volley)"
    );
    assert!(
        k6["checks"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v[1] == 0),
        "the fixture has failing checks: {k6}"
    );
    // Two iterations: two reflections, each stream's requests reached the server.
    assert_eq!(GrpcServer::count(&server.stats.reflection_calls), 2);
    assert_eq!(GrpcServer::count(&server.stats.client_streams), 6);
}

/// A server offering only `grpc.reflection.v1alpha` (older grpc-go and others): the client
/// falls back to it, as k6's; a server without reflection fails `connect` with a clear error.
#[test]
fn reflection_falls_back_to_v1alpha() {
    let server = GrpcServer::start_with_reflection(Reflection::V1AlphaOnly).unwrap();
    let dir = scratch("k6-grpc-v1alpha");
    let path = dir.join("reflect.js");
    std::fs::write(
        &path,
        r#"import grpc from 'k6/net/grpc';
import { check } from 'k6';
export const options = { iterations: 1 };
const client = new grpc.Client();
export default function () {
  client.connect(__ENV.GRPC_TARGET, { plaintext: true, reflect: true, reflectMetadata: { 'x-volley-test': 'reflect' } });
  check(client.invoke('hello.Greeter/SayHello', { name: 'alpha' }), {
    'unary call on v1alpha reflection': (r) => r.status === grpc.StatusOK && r.message.message === 'Hello alpha',
  });
  client.close();
}
"#,
    )
    .unwrap();
    let (out, s) = run_volley(&path, &server);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let checks = volley_checks(&s);
    assert_eq!(
        checks["unary call on v1alpha reflection"],
        serde_json::json!([1, 0]),
        "{}\n{}",
        s,
        out.stderr
    );
    // v1 answered UNIMPLEMENTED, then v1alpha.
    assert_eq!(GrpcServer::count(&server.stats.reflection_calls), 2);
}

/// A hostile script's streams are bounded: at most 64 open per VU (the 65th fails naming the
/// limit); a server that stops reading makes `write` wait (64 queued at most) until the deadline
/// ends the stream, never the host buffer; a VU that does not read its events leaves the
/// server waiting on HTTP/2 flow control instead of filling the VU's event queue.
#[test]
fn a_scripts_streams_are_bounded() {
    let server = GrpcServer::start(1).unwrap();
    let dir = scratch("k6-grpc-hostile");
    let path = dir.join("hostile.js");
    std::fs::copy(
        root().join("tests/servers/proto/hello.proto"),
        dir.join("hello.proto"),
    )
    .unwrap();
    std::fs::write(
        &path,
        r#"import grpc from 'k6/net/grpc';
import { check, sleep } from 'k6';
export const options = { iterations: 3 };
const client = new grpc.Client();
client.load([], 'hello.proto');
export default function () {
  client.connect(__ENV.GRPC_TARGET, { plaintext: true });
  if (__ITER === 0) {
    // Open streams: the 65th is refused.
    const open = [];
    let refused = '';
    try {
      for (let i = 0; i < 100; i++) open.push(new grpc.Stream(client, 'hello.Greeter/Chat', { timeout: '2s' }));
    } catch (e) {
      refused = String(e.message);
    }
    check(open.length, { '64 streams open': (n) => n === 64 });
    check(refused, { 'the 65th is refused, naming the limit': (m) => m.includes('too many open gRPC streams') && m.includes('64') });
    for (const s of open) s.end();
  } else if (__ITER === 1) {
    // A server that stops reading: writes wait for room, then the deadline ends the stream.
    const deaf = new grpc.Stream(client, 'hello.Greeter/Chat', { timeout: '1500ms' });
    let status = -1;
    deaf.on('error', (e) => { status = Number(e.code); });
    deaf.on('end', () => check(status, { 'the deaf stream ends by its deadline': (s) => s === 4 }));
    deaf.write({ name: 'deaf' });
    const big = 'x'.repeat(16384);
    for (let i = 0; i < 2000; i++) deaf.write({ name: big });
  } else {
    // A flood nobody reads while the VU sleeps: the server waits; the failed iteration cancels it.
    const flood = new grpc.Stream(client, 'hello.Greeter/LotsOfReplies');
    flood.on('data', () => {});
    flood.write({ name: 'flood', count: 2000000 });
    sleep(2);
    throw new Error('done flooding');
  }
}
"#,
    )
    .unwrap();
    let (out, s) = run_volley(&path, &server);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        s["iteration_errors"].as_object().map(|e| e.len()),
        Some(1),
        "{}",
        s["iteration_errors"]
    );
    let checks = volley_checks(&s);
    for name in [
        "64 streams open",
        "the 65th is refused, naming the limit",
        "the deaf stream ends by its deadline",
    ] {
        assert_eq!(
            checks[name],
            serde_json::json!([1, 0]),
            "{name}: {checks}\n{}",
            out.stderr
        );
    }
    // 2000 writes of 16 KiB: the deaf server's window (64 KiB) and the 64 queued hold a few
    // hundred at most; the rest waited and were dropped when the deadline ended the stream.
    let sent = count(&s, "grpc_streams_msgs_sent").as_f64().unwrap();
    assert!(
        sent < 400.0,
        "{sent} messages taken by a server that reads none"
    );
    // While the VU slept, the server could send only what HTTP/2's windows and the VU's queue
    // hold (about 2 MiB, ~40k messages), not the two million asked for.
    let flooded = GrpcServer::count(&server.stats.stream_messages);
    assert!(
        flooded < 200_000,
        "{flooded} messages sent while nobody read"
    );
}

/// Records `fixtures/k6-grpc.json` with a real k6: `VOLLEY_RECORD_K6=$(which k6) cargo test
/// --release -p volley --test e2e k6_grpc::record_k6_grpc -- --ignored`, with
/// K6_NO_USAGE_REPORT=true.
#[test]
#[ignore = "records the fixture with a real k6 named by VOLLEY_RECORD_K6"]
fn record_k6_grpc() {
    let k6 = std::env::var("VOLLEY_RECORD_K6").expect("VOLLEY_RECORD_K6=path of a k6 binary");
    let server = GrpcServer::start(1).unwrap();
    let export = scratch("k6-grpc-record").join("summary.json");
    let samples = export.with_file_name("samples.ndjson");
    let s = run_k6_exported(
        &k6,
        &script("k6-grpc.js"),
        &[("GRPC_TARGET", server.target())],
        &[format!("--out=json={}", samples.display())],
        &export,
    );
    let mut doc = results(&s, serde_json::json!(checks_by_name(&s)));
    // k6's export gives a trend no count: count its samples.
    let durations = std::fs::read_to_string(&samples)
        .unwrap()
        .lines()
        .filter(|l| {
            l.contains(r#""type":"Point""#) && l.contains(r#""metric":"grpc_req_duration""#)
        })
        .count();
    doc["grpc_req_duration"] = serde_json::json!(durations as f64);
    let version = std::process::Command::new(&k6)
        .arg("version")
        .output()
        .unwrap();
    doc["recorded"] = serde_json::json!(format!(
        "by record_k6_grpc (tests/e2e/k6_grpc.rs): {} running fixtures/k6-grpc.js against test-servers' greeter on 127.0.0.1",
        String::from_utf8_lossy(&version.stdout).trim()
    ));
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    std::fs::write(script("k6-grpc.json"), text).unwrap();
}
