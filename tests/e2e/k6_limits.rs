//! k6's `batch`, `batchPerHost`, `rps` and `throw` options and `exec.test.fail()`, on k6 scripts
//! (`fixtures/k6-{batch-limits,rps,throw,test-fail}.js`) run against local servers and compared
//! with what the real k6 did with the same scripts and servers, recorded in
//! `fixtures/k6-limits.json` (re-record: `record_k6_limits`), so CI needs no k6. Hostile scripts
//! check the bounds a script's options cannot pass: `batch` and `test.fail()`'s logging.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use crate::support::{
    checks_by_name, read_json, root, run_js_exported, scratch, RefusingPort, Run, Server,
};

/// How long `/hold/GROUP` keeps a request before answering: long enough that every request a
/// client sends at once is in flight together, even on a busy machine.
const HOLD: Duration = Duration::from_millis(400);

/// A real HTTP/1.1 server on 127.0.0.1:0 recording, per group (`/hold/GROUP`), the most
/// requests in flight at once, overall and per `Host` header. Every other path answers at once.
struct HoldServer {
    port: u16,
    flight: Arc<Mutex<Flight>>,
    hits: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

/// Requests in flight now, and the most seen, by key (`GROUP` or `GROUP HOST`).
#[derive(Default)]
struct Flight {
    now: HashMap<String, u64>,
    most: HashMap<String, u64>,
}

impl Flight {
    fn enter(&mut self, keys: &[String]) {
        for k in keys {
            let n = self.now.entry(k.clone()).or_default();
            *n += 1;
            let n = *n;
            let most = self.most.entry(k.clone()).or_default();
            *most = (*most).max(n);
        }
    }

    fn leave(&mut self, keys: &[String]) {
        for k in keys {
            *self.now.entry(k.clone()).or_default() -= 1;
        }
    }
}

impl HoldServer {
    fn start() -> HoldServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let flight = Arc::new(Mutex::new(Flight::default()));
        let hits = Arc::new(AtomicU64::new(0));
        let (f, h) = (flight.clone(), hits.clone());
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (f, h) = (f.clone(), h.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (f, h) = (f.clone(), h.clone());
                        async move { Ok::<_, Infallible>(hold(req, &f, &h).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        HoldServer {
            port,
            flight,
            hits,
            _runtime: runtime,
        }
    }

    /// The most requests of `key` (`GROUP` or `GROUP HOST`) in flight at once.
    fn most(&self, key: &str) -> u64 {
        let flight = self.flight.lock().unwrap();
        flight.most.get(key).copied().unwrap_or(0)
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    /// The figures k6-limits.json records for a run of k6-batch-limits.js.
    fn batch_figures(&self) -> serde_json::Value {
        serde_json::json!({
            "mixed": self.most("mixed"),
            "onehost": self.most("onehost"),
        })
    }
}

async fn hold(
    req: Request<hyper::body::Incoming>,
    flight: &Mutex<Flight>,
    hits: &AtomicU64,
) -> Response<Full<Bytes>> {
    hits.fetch_add(1, Ordering::SeqCst);
    if let Some(group) = req.uri().path().strip_prefix("/hold/") {
        let host = req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let keys = [group.to_string(), format!("{group} {host}")];
        flight.lock().unwrap().enter(&keys);
        tokio::time::sleep(HOLD).await;
        flight.lock().unwrap().leave(&keys);
    }
    Response::new(Full::new(Bytes::from_static(b"ok\n")))
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/e2e/fixtures").join(name)
}

/// What the real k6 did (`record_k6_limits`).
fn k6() -> serde_json::Value {
    read_json(&fixture("k6-limits.json"))
}

/// `volley run SCRIPT -q --summary-export … -e NAME=VALUE… ARGS`: the run and its summary.
fn run_volley(script: &Path, env: &[(&str, String)], args: &[&str]) -> (Run, serde_json::Value) {
    let name = script.file_stem().unwrap().to_string_lossy().to_string();
    let export = scratch(&format!("k6-limits-{name}")).join("summary.json");
    run_js_exported(script, env, args, &export)
}

/// The environment of k6-batch-limits.js: the server under two host names.
fn batch_env(server: &HoldServer) -> Vec<(&'static str, String)> {
    vec![
        ("BASE_URL", format!("http://127.0.0.1:{}", server.port)),
        ("ALT_URL", format!("http://localhost:{}", server.port)),
    ]
}

/// Every check of a summary as `{ name: [passes, fails] }`.
fn checks(summary: &serde_json::Value) -> serde_json::Value {
    serde_json::json!(checks_by_name(summary))
}

/// Regression: `http.batch` sent 20 at once and 6 per host whatever the options said, so the
/// server saw 6 (mixed hosts) and 6 (one host) in flight where k6 sends 4 and 3.
#[test]
fn batch_and_batch_per_host_limit_a_batch_as_in_k6() {
    let server = HoldServer::start();
    let (out, s) = run_volley(&fixture("k6-batch-limits.js"), &batch_env(&server), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        checks(&s),
        serde_json::json!({"every batched request is answered": [1, 0]})
    );
    assert_eq!(
        server.batch_figures(),
        k6()["batch"],
        "left: Volley, right: k6"
    );
    assert_eq!(server.hits(), 24);
    assert!(!out.stderr.contains("not acted on"), "{}", out.stderr);
}

/// `--batch-per-host 0` (k6: no per-host limit) leaves only `batch`: 4 in flight to one host.
#[test]
fn batch_per_host_0_from_the_command_line_lifts_the_per_host_limit() {
    let server = HoldServer::start();
    let (out, _) = run_volley(
        &fixture("k6-batch-limits.js"),
        &batch_env(&server),
        &["--batch-per-host", "0"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        server.batch_figures(),
        k6()["batch_per_host_0"],
        "left: Volley, right: k6"
    );
}

/// A script's options may ask any `batch`: a VU's batch still holds at most 100 requests (and
/// connections) at once, and the warning says so. Regression: 300 in flight.
#[test]
fn a_scripts_batch_option_cannot_pass_the_cap() {
    let server = HoldServer::start();
    let dir = scratch("k6-limits-hostile-batch");
    let script = dir.join("hostile-batch.js");
    std::fs::write(
        &script,
        r#"
import http from 'k6/http';
export const options = { iterations: 1, batch: 100000, batchPerHost: 0 };
export default function () {
  http.batch(Array.from({ length: 300 }, () => `${__ENV.BASE_URL}/hold/hostile`));
}
"#,
    )
    .unwrap();
    let env = [("BASE_URL", format!("http://127.0.0.1:{}", server.port))];
    let (out, s) = run_volley(&script, &env, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(server.most("hostile"), 100);
    assert_eq!(
        s["metrics"]["http_reqs"]["values"]["count"].as_f64(),
        Some(300.0)
    );
    assert!(
        out.stderr.contains(
            "k6 option 'batch' is 100000: at most 100 requests of one http.batch are sent at once"
        ),
        "{}",
        out.stderr
    );
}

/// Regression: no cap, so 10 VUs sent thousands of requests in 3 s. With `rps: 20` for 3 s the
/// bound is 20 × 3 + 20 (k6's limiter lets the first request go at once); the real k6's count on
/// the same script is within it too.
#[test]
fn rps_caps_the_requests_of_the_whole_test() {
    let server = Server::start();
    let (out, s) = run_volley(&fixture("k6-rps.js"), &[("BASE_URL", server.url())], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (rps, seconds) = (20, 3);
    let bound = rps * seconds + rps;
    let k6_count = k6()["rps"]["requests"].as_u64().unwrap();
    assert!(k6_count <= bound, "k6 sent {k6_count}");
    let hits = server.hits();
    assert!(
        hits <= bound,
        "{hits} requests at rps {rps} over {seconds} s"
    );
    assert!(
        hits >= rps,
        "{hits} requests: the cap let almost nothing through"
    );
    // With gracefulStop 0s, a request in flight at the end reaches the server but is not
    // recorded: at most one batch of 2 per VU (10 VUs).
    let recorded = s["metrics"]["http_reqs"]["values"]["count"]
        .as_f64()
        .unwrap() as u64;
    assert!(
        recorded <= hits && hits - recorded <= 20,
        "{recorded} recorded, {hits} sent"
    );
}

/// Regression: under `throw`, a refused connection came back as a response with an error code;
/// now it throws, as k6's does (the same checks pass under the real k6).
#[test]
fn throw_makes_a_failed_request_throw_as_in_k6() {
    let server = Server::start();
    let refused = RefusingPort::new();
    let env = [
        ("BASE_URL", server.url()),
        ("REFUSED_URL", format!("http://127.0.0.1:{}/", refused.port)),
    ];
    let (out, s) = run_volley(&fixture("k6-throw.js"), &env, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        checks(&s),
        k6()["throw"]["checks"],
        "left: Volley, right: k6"
    );
    // Without throw: nothing throws (so the checks that expect an exception fail).
    let mut env = env.to_vec();
    env.push(("THROW", "false".to_string()));
    let (out, s) = run_volley(&fixture("k6-throw.js"), &env, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        checks(&s),
        k6()["no_throw"]["checks"],
        "left: Volley, right: k6"
    );
}

/// Regression: `test.fail()` threw "not available"; now the test runs on (4 requests) and exits
/// 110, as k6's, also with a threshold crossed.
#[test]
fn test_fail_marks_the_run_failed_and_it_runs_on() {
    let server = Server::start();
    let script = fixture("k6-test-fail.js");
    let (out, _) = run_volley(&script, &[("BASE_URL", server.url())], &[]);
    assert_eq!(out.code, k6()["fail"]["code"], "{}", out.stderr);
    assert_eq!(server.hits(), k6()["fail"]["http_reqs"]);
    assert!(
        out.stderr
            .contains("test marked as failed: the first iteration says so"),
        "{}",
        out.stderr
    );
    let crossed = Server::start();
    let env = [("BASE_URL", crossed.url()), ("CROSS", "1".to_string())];
    let (out, _) = run_volley(&script, &env, &[]);
    assert_eq!(
        out.code,
        k6()["fail"]["code_with_a_crossed_threshold"],
        "{}",
        out.stderr
    );
}

/// A hostile script calling `test.fail()` thousands of times with 64 KiB reasons: the run logs
/// the first 10 (each cut to 4 KiB) and one line saying the rest are not, and exits 110.
#[test]
fn test_fail_logging_is_bounded() {
    let server = Server::start();
    let dir = scratch("k6-limits-hostile-fail");
    let script = dir.join("hostile-fail.js");
    std::fs::write(
        &script,
        r#"
import exec from 'k6/execution';
export const options = { iterations: 1 };
export default function () {
  const reason = 'x'.repeat(65536);
  for (let i = 0; i < 2000; i++) exec.test.fail(reason);
}
"#,
    )
    .unwrap();
    let (out, _) = run_volley(&script, &[("BASE_URL", server.url())], &[]);
    assert_eq!(out.code, 110, "{}", out.stderr);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("test marked as failed"))
        .collect();
    assert_eq!(lines.len(), 11, "{}", out.stderr);
    assert!(lines[10].contains("further test.fail() calls are not logged"));
    assert!(
        lines.iter().all(|l| l.len() < 4096 + 200),
        "a reason was not cut"
    );
}

/// Records `fixtures/k6-limits.json` from runs of the real k6 on the same scripts and servers
/// (`VOLLEY_RECORD_K6=$(command -v k6) cargo test --release -p volley --test e2e --
/// --ignored record_k6_limits`), with K6_NO_USAGE_REPORT=true.
#[test]
#[ignore = "records the fixture with a real k6 named by VOLLEY_RECORD_K6"]
fn record_k6_limits() {
    let k6 = std::env::var("VOLLEY_RECORD_K6").expect("VOLLEY_RECORD_K6=path of a k6 binary");
    let version = Command::new(&k6).arg("version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let run = |script: &str, env: &[(&str, String)], args: &[&str]| {
        let export = scratch("k6-limits-record").join("summary.json");
        let _ = std::fs::remove_file(&export);
        let mut cmd = Command::new(&k6);
        cmd.env("K6_NO_USAGE_REPORT", "true")
            .args(["run", "--no-color", "-q"])
            .args(["--summary-export", export.to_str().unwrap()]);
        for (k, v) in env {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        let out = cmd.args(args).arg(fixture(script)).output().unwrap();
        let summary = if export.is_file() {
            read_json(&export)
        } else {
            serde_json::Value::Null
        };
        (out, summary)
    };

    let server = HoldServer::start();
    let (out, _) = run("k6-batch-limits.js", &batch_env(&server), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let batch = server.batch_figures();
    let server = HoldServer::start();
    let (out, _) = run(
        "k6-batch-limits.js",
        &batch_env(&server),
        &["--batch-per-host", "0"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let batch_per_host_0 = server.batch_figures();

    let server = Server::start();
    let (out, _) = run("k6-rps.js", &[("BASE_URL", server.url())], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rps = serde_json::json!({ "requests": server.hits() });

    let server = Server::start();
    let refused = RefusingPort::new();
    let env = [
        ("BASE_URL", server.url()),
        ("REFUSED_URL", format!("http://127.0.0.1:{}/", refused.port)),
    ];
    let (out, s) = run("k6-throw.js", &env, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let throw = serde_json::json!({ "checks": checks(&s) });
    let mut env = env.to_vec();
    env.push(("THROW", "false".to_string()));
    let (out, s) = run("k6-throw.js", &env, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let no_throw = serde_json::json!({ "checks": checks(&s) });

    let server = Server::start();
    let (out, _) = run("k6-test-fail.js", &[("BASE_URL", server.url())], &[]);
    let fail_code = out.status.code();
    let fail_reqs = server.hits();
    let server = Server::start();
    let env = [("BASE_URL", server.url()), ("CROSS", "1".to_string())];
    let (out, _) = run("k6-test-fail.js", &env, &[]);

    let doc = serde_json::json!({
        "recorded": format!(
            "by record_k6_limits (tests/e2e/k6_limits.rs) with {version}, K6_NO_USAGE_REPORT=true, \
             against the same local servers the tests start"
        ),
        "batch": batch,
        "batch_per_host_0": batch_per_host_0,
        "rps": rps,
        "throw": throw,
        "no_throw": no_throw,
        "fail": {
            "code": fail_code,
            "http_reqs": fail_reqs,
            "code_with_a_crossed_threshold": out.status.code(),
        },
    });
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    std::fs::write(fixture("k6-limits.json"), text).unwrap();
}
