//! gRPC against a real tonic server on 127.0.0.1 (`test-servers`' greeter): unary calls and
//! server streams with k6's metrics and tags, statuses as tags, metadata, the sandbox, compile
//! errors in `.proto` sources, and TLS with a CA made here.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use test_servers::grpc::GrpcServer;

use crate::support::{check, component, run_with_summary, scratch, Run};

/// Writes `DIR/NAME.toml` running grpc-probe against `target` with `allowed` as the only
/// allowed host, `body` (options, thresholds) and `env` lines.
fn test_file(name: &str, allowed: &str, target: &str, body: &str, env: &str) -> PathBuf {
    let path = scratch(name).join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "plugin = \"{}\"\n{body}\n[sandbox]\nallowed-hosts = [\"{allowed}\"]\n[env]\nGRPC_TARGET = \"{target}\"\n{env}\n",
            component("grpc_probe").display()
        ),
    )
    .unwrap();
    path
}

fn count(s: &serde_json::Value, metric: &str) -> f64 {
    s["metrics"][metric]["values"]["count"]
        .as_f64()
        .unwrap_or_else(|| panic!("no count for {metric} in {}", s["metrics"]))
}

fn all_pass(s: &serde_json::Value, name: &str, n: u64) {
    let c = check(s, name);
    assert_eq!(
        (c["passes"].as_u64(), c["fails"].as_u64()),
        (Some(n), Some(0)),
        "{name}"
    );
}

fn no_errors(s: &serde_json::Value, out: &Run) {
    let errors = &s["iteration_errors"];
    assert!(
        errors.is_null() || errors.as_object().is_some_and(|e| e.is_empty()),
        "{errors}\n{}",
        out.stderr
    );
}

#[test]
fn unary_calls_are_counted_tagged_and_round_trip_json() {
    let server = GrpcServer::start(1).unwrap();
    let target = server.target();
    let test = test_file(
        "grpc-unary",
        &format!("http://{target}"),
        &target,
        "vus = 2\niterations = 10\n[thresholds]\n\"grpc_req_duration{status:0}\" = [\"max<60000\"]\n\"grpc_req_duration{method:SayHello}\" = [\"max<60000\"]\n\"grpc_req_duration{service:hello.Greeter}\" = [\"max<60000\"]\n\"grpc_req_duration{kind:probe}\" = [\"max<60000\"]\n",
        "CALLS = \"3\"\nMETA = \"abc-123\"\nTAG = \"probe\"",
    );
    let ndjson = test.with_file_name("samples.ndjson");
    let out_arg = format!("json={}", ndjson.display());
    let (out, s) = run_with_summary(&test, &["--out", &out_arg], 0);
    no_errors(&s, &out);
    assert_eq!(GrpcServer::count(&server.stats.unary), 30);
    assert_eq!(count(&s, "grpc_req_duration"), 30.0, "one sample per call");
    for sub in [
        "grpc_req_duration{status:0}",
        "grpc_req_duration{method:SayHello}",
        "grpc_req_duration{service:hello.Greeter}",
        "grpc_req_duration{kind:probe}",
    ] {
        assert_eq!(count(&s, sub), 30.0, "{sub}");
    }
    for name in [
        "status is OK",
        "reply greets by name",
        "reply is canonical JSON",
        "metadata echoed",
    ] {
        all_pass(&s, name, 30);
    }
    let seen = server.stats.test_metadata.lock().unwrap().clone();
    assert_eq!(seen.len(), 30);
    assert!(seen.iter().all(|v| v == "abc-123"), "{seen:?}");
    assert_eq!(
        GrpcServer::count(&server.stats.connections),
        2,
        "one connection per VU, reused by every call"
    );
    assert!(
        count(&s, "data_sent") > 30.0 * 20.0,
        "{}",
        s["metrics"]["data_sent"]
    );
    assert!(count(&s, "data_received") > 30.0 * 20.0);
    // k6's tags on every grpc_req_duration sample.
    let text = std::fs::read_to_string(&ndjson).unwrap();
    let points: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "Point" && v["metric"] == "grpc_req_duration")
        .collect();
    assert_eq!(points.len(), 30);
    let tags = &points[0]["data"]["tags"];
    assert_eq!(
        tags["url"],
        format!("{target}/hello.Greeter/SayHello"),
        "{tags}"
    );
    assert_eq!(tags["name"], "/hello.Greeter/SayHello", "{tags}");
    assert_eq!(tags["method"], "SayHello", "{tags}");
    assert_eq!(tags["service"], "hello.Greeter", "{tags}");
    assert_eq!(tags["status"], "0", "{tags}");
    // The summary has k6's GRPC section.
    let grpc = out.stdout.find("GRPC").expect("GRPC section");
    assert!(
        out.stdout[grpc..].contains("grpc_req_duration"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_connection_the_server_closes_is_reopened_for_the_next_call() {
    // The server answers each "goaway" call, then closes that connection with a GOAWAY.
    let server = GrpcServer::start(1).unwrap();
    let target = server.target();
    let test = test_file(
        "grpc-goaway",
        &format!("http://{target}"),
        &target,
        "vus = 1\niterations = 2\n[thresholds]\n\"grpc_req_duration{status:0}\" = [\"max<60000\"]\n",
        "CALLS = \"3\"\nNAME = \"goaway\"",
    );
    let (out, s) = run_with_summary(&test, &[], 0);
    no_errors(&s, &out);
    all_pass(&s, "status is OK", 6);
    assert_eq!(count(&s, "grpc_req_duration{status:0}"), 6.0);
    assert_eq!(
        GrpcServer::count(&server.stats.unary),
        6,
        "each call reached the server once"
    );
    // A call sent before the client saw the GOAWAY may still be served on the old connection
    // (HTTP/2's graceful shutdown lets it in), so 2 to 6 connections, never a lost call.
    let connections = GrpcServer::count(&server.stats.connections);
    assert!((2..=6).contains(&connections), "{connections} connections");
}

#[test]
fn a_server_that_went_away_is_status_unavailable() {
    // The first call shuts the server down: the second cannot reconnect, and is (as in grpc-go
    // and k6) a response with status 14 UNAVAILABLE, not an error.
    let server = GrpcServer::start(1).unwrap();
    let target = server.target();
    let test = test_file(
        "grpc-gone",
        &format!("http://{target}"),
        &target,
        "vus = 1\niterations = 1\n[thresholds]\n\"grpc_req_duration{status:14}\" = [\"max<60000\"]\n",
        "CALLS = \"2\"\nNAME = \"shutdown\"",
    );
    let (out, s) = run_with_summary(&test, &[], 0);
    no_errors(&s, &out);
    assert_eq!(count(&s, "grpc_req_duration"), 2.0);
    assert_eq!(count(&s, "grpc_req_duration{status:14}"), 1.0);
    let ok = check(&s, "status is OK");
    assert_eq!(
        (ok["passes"].as_u64(), ok["fails"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(GrpcServer::count(&server.stats.unary), 1);
}

#[test]
fn not_found_is_a_status_tag_not_a_failure() {
    let server = GrpcServer::start(1).unwrap();
    let target = server.target();
    let test = test_file(
        "grpc-notfound",
        &format!("http://{target}"),
        &target,
        "vus = 1\niterations = 4\n[thresholds]\n\"grpc_req_duration{status:5}\" = [\"max<60000\"]\n\"grpc_req_duration{status:0}\" = [\"max<60000\"]\n",
        "MODE = \"notfound\"",
    );
    let (out, s) = run_with_summary(&test, &[], 0);
    no_errors(&s, &out);
    assert_eq!(GrpcServer::count(&server.stats.not_found), 4);
    assert_eq!(count(&s, "grpc_req_duration{status:5}"), 4.0);
    assert!(
        s["metrics"]["grpc_req_duration{status:0}"]["values"]["count"]
            .as_f64()
            .is_none_or(|n| n == 0.0),
        "no call was OK: {}",
        s["metrics"]["grpc_req_duration{status:0}"]
    );
    for name in [
        "status is NOT_FOUND",
        "status message",
        "trailer reason",
        "no message",
    ] {
        all_pass(&s, name, 4);
    }
}

#[test]
fn server_streams_collect_every_message() {
    let server = GrpcServer::start(1).unwrap();
    let target = server.target();
    let test = test_file(
        "grpc-stream",
        &format!("http://{target}"),
        &target,
        "vus = 1\niterations = 3\n",
        "MODE = \"stream\"\nCOUNT = \"7\"\nCLOSE = \"1\"",
    );
    let (out, s) = run_with_summary(&test, &[], 0);
    no_errors(&s, &out);
    assert_eq!(GrpcServer::count(&server.stats.streams), 3);
    assert_eq!(GrpcServer::count(&server.stats.stream_messages), 21);
    assert_eq!(
        GrpcServer::count(&server.stats.connections),
        3,
        "close() at the end of each iteration, connect() again in the next"
    );
    assert_eq!(count(&s, "grpc_streams"), 3.0);
    assert_eq!(count(&s, "grpc_streams_msgs_sent"), 3.0);
    assert_eq!(count(&s, "grpc_streams_msgs_received"), 21.0);
    assert_eq!(
        count(&s, "grpc_req_duration"),
        3.0,
        "one duration per stream"
    );
    for name in [
        "stream status is OK",
        "every message arrived",
        "messages in order",
    ] {
        all_pass(&s, name, 3);
    }
    assert!(
        out.stdout.contains("grpc_streams_msgs_received"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_stream_larger_than_max_response_body_ends_resource_exhausted() {
    let server = GrpcServer::start(1).unwrap();
    let target = server.target();
    // About 60 bytes of JSON per message: 40k messages are well over 1 MiB.
    let test = test_file(
        "grpc-too-big",
        &format!("http://{target}"),
        &target,
        "max-response-body-mib = 1\nvus = 1\niterations = 1\n[thresholds]\n\"grpc_req_duration{status:8}\" = [\"max<60000\"]\n",
        "MODE = \"stream\"\nCOUNT = \"40000\"",
    );
    let (_, s) = run_with_summary(&test, &[], 0);
    assert_eq!(count(&s, "grpc_req_duration{status:8}"), 1.0);
    let c = check(&s, "every message arrived");
    assert_eq!(c["fails"], 1, "the stream was cut short");
    let received = count(&s, "grpc_streams_msgs_received");
    assert!((10_000.0..40_000.0).contains(&received), "{received}");
}

#[test]
fn a_deadline_ends_a_stream_with_the_messages_so_far() {
    let server = GrpcServer::start(1).unwrap();
    let target = server.target();
    let test = test_file(
        "grpc-deadline",
        &format!("http://{target}"),
        &target,
        "vus = 1\niterations = 1\n[thresholds]\n\"grpc_req_duration{status:4}\" = [\"max<60000\"]\n",
        // The server sends the first message at once and each next one 3 s later: whatever the
        // machine's load, the 1.5 s deadline comes after the first message and before the
        // second, which leaves a wide margin for a slow first message.
        "MODE = \"stream\"\nCOUNT = \"5\"\nDELAY_MS = \"3000\"\nTIMEOUT_MS = \"1500\"",
    );
    let (out, s) = run_with_summary(&test, &[], 0);
    no_errors(&s, &out);
    all_pass(&s, "deadline exceeded", 1);
    all_pass(&s, "some messages before the deadline", 1);
    assert_eq!(count(&s, "grpc_req_duration{status:4}"), 1.0);
    assert_eq!(count(&s, "grpc_streams_msgs_received"), 1.0);
}

#[test]
fn targets_outside_allowed_hosts_are_refused_without_connecting() {
    let server = GrpcServer::start(1).unwrap();
    let target = server.target();
    // Only another port is allowed; then the right port but as https:// while dialling h2c.
    let cases = [
        ("grpc-denied", "http://127.0.0.1:1".to_string()),
        ("grpc-denied-scheme", format!("https://{target}")),
    ];
    for (name, allowed) in cases {
        let test = test_file(name, &allowed, &target, "vus = 1\niterations = 2\n", "");
        let (_, s) = run_with_summary(&test, &[], 0);
        let errors = s["iteration_errors"].as_object().unwrap();
        let (message, n) = errors.iter().next().expect("an iteration error");
        assert!(
            message.starts_with("connect failed (1400): host 127.0.0.1:"),
            "{message}"
        );
        assert_eq!(n, 2);
    }
    assert_eq!(GrpcServer::count(&server.stats.connections), 0);
}

#[test]
fn bad_input_gets_a_clear_error() {
    let server = GrpcServer::start(1).unwrap();
    let target = server.target();
    let allowed = format!("http://{target}");
    // An invalid .proto source: the error names the file, line and column.
    let test = test_file(
        "grpc-badproto",
        &allowed,
        &target,
        "iterations = 1\n",
        "BAD_PROTO = \"1\"",
    );
    let (out, s) = run_with_summary(&test, &[], 0);
    let errors = s["iteration_errors"].as_object().unwrap();
    let message = errors.keys().next().expect("an iteration error");
    assert!(
        message.starts_with("load failed: bad.proto:4:3: "),
        "{message}"
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    // invoke on a server-streaming method.
    let test = test_file(
        "grpc-kind",
        &allowed,
        &target,
        "iterations = 1\n",
        "MODE = \"wrong-kind\"",
    );
    let (_, s) = run_with_summary(&test, &[], 0);
    let errors = s["iteration_errors"].as_object().unwrap();
    let message = errors.keys().next().expect("an iteration error");
    assert_eq!(
        message,
        "wrong kind: method \"hello.Greeter/LotsOfReplies\" is server-streaming: call it with server-stream"
    );
    assert_eq!(GrpcServer::count(&server.stats.streams), 0);
}

#[test]
fn tls_with_the_tests_ca_file() {
    let dir = scratch("grpc-pki");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let server = GrpcServer::start_tls(vec![leaf.der().to_vec()], key.serialize_der()).unwrap();
    let target = server.target();
    let allowed = format!("https://{target}");
    let trusted = format!(
        "tls-ca-file = \"{}\"\nvus = 1\niterations = 3\n",
        ca_file.display()
    );
    let test = test_file("grpc-tls", &allowed, &target, &trusted, "TLS = \"1\"");
    let (out, s) = run_with_summary(&test, &[], 0);
    no_errors(&s, &out);
    all_pass(&s, "status is OK", 3);
    assert_eq!(GrpcServer::count(&server.stats.unary), 3);
    // Without the CA: k6's 1310 (unknown authority), no call made.
    let test = test_file(
        "grpc-tls-untrusted",
        &allowed,
        &target,
        "iterations = 1\n",
        "TLS = \"1\"",
    );
    let (_, s) = run_with_summary(&test, &[], 0);
    let message = s["iteration_errors"]
        .as_object()
        .and_then(|e| e.keys().next().cloned())
        .unwrap_or_default();
    assert!(message.starts_with("connect failed (1310)"), "{message}");
    assert_eq!(GrpcServer::count(&server.stats.unary), 3);
    // insecureSkipTLSVerify accepts it.
    let test = test_file(
        "grpc-tls-insecure",
        &allowed,
        &target,
        "insecure-skip-tls-verify = true\niterations = 1\n",
        "TLS = \"1\"",
    );
    let (out, s) = run_with_summary(&test, &[], 0);
    no_errors(&s, &out);
    assert_eq!(GrpcServer::count(&server.stats.unary), 4);
}

#[test]
fn k6_grpc_scripts_run_through_the_javascript_shim() {
    let server = GrpcServer::start(1).unwrap();
    let dir = scratch("grpc-js");
    std::fs::create_dir_all(dir.join("definitions")).unwrap();
    std::fs::copy(
        crate::support::root().join("tests/servers/proto/hello.proto"),
        dir.join("definitions/hello.proto"),
    )
    .unwrap();
    std::fs::write(
        dir.join("greet.js"),
        r#"import grpc from 'k6/net/grpc';
import { check } from 'k6';

export const options = { vus: 2, iterations: 6, thresholds: { 'grpc_req_duration{status:5}': ['max<10000'] } };

const client = new grpc.Client();
client.load(['definitions'], 'hello.proto');

export default function () {
  if (__ITER === 0) client.connect(__ENV.GRPC_TARGET, { plaintext: true, timeout: '5s' });
  const res = client.invoke('hello.Greeter/SayHello', { name: `VU ${__VU}` }, {
    metadata: { 'x-volley-test': 'from-js' },
    tags: { flow: 'js' },
    timeout: '5s',
  });
  check(res, {
    'status OK': (r) => r.status === grpc.StatusOK,
    'message parsed': (r) => r.message.message === `Hello VU ${__VU}`,
    'metadata echoed': (r) => r.headers['x-volley-test'] === 'from-js',
  });
  const missing = client.invoke('hello.Greeter/SayHello', { name: 'nobody' });
  check(missing, {
    'not found is a status': (r) => r.status === grpc.StatusNotFound && r.message === null && r.error.code === 5,
  });
  let threw = '';
  try {
    client.invoke('hello.Greeter/Nope', {});
  } catch (e) {
    threw = String(e.message);
  }
  check(threw, { 'unknown method throws': (t) => t.includes('Nope') });
}
"#,
    )
    .unwrap();
    let test = dir.join("greet.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"greet.js\"\n[sandbox]\nallowed-hosts = [\"http://{}\"]\n[env]\nGRPC_TARGET = \"{}\"\n",
            server.addr,
            server.target()
        ),
    )
    .unwrap();
    let s = crate::support::run_js_test(&test);
    for name in [
        "status OK",
        "message parsed",
        "metadata echoed",
        "not found is a status",
        "unknown method throws",
    ] {
        all_pass(&s, name, 6);
    }
    assert_eq!(count(&s, "grpc_req_duration"), 12.0);
    assert_eq!(count(&s, "grpc_req_duration{status:5}"), 6.0);
    assert_eq!(GrpcServer::count(&server.stats.unary), 12);
    assert_eq!(
        GrpcServer::count(&server.stats.connections),
        2,
        "one connection per VU, kept across iterations"
    );

    // A .proto the script names but nobody wrote fails the build, naming it.
    std::fs::write(
        dir.join("broken.js"),
        "import grpc from 'k6/net/grpc';\nconst c = new grpc.Client();\nc.load([], 'absent.proto');\nexport default function () {}\n",
    )
    .unwrap();
    let out = crate::support::volley_js()
        .args(["build", dir.join("broken.js").to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("loads absent.proto"), "{stderr}");
}
