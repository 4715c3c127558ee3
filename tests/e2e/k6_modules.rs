//! The k6 modules Volley provides in plain JavaScript (`sdk/js/k6/`), run as k6 scripts
//! against a local server and compared with the real k6's results on the same script, recorded
//! in `fixtures/k6-modules.json` (re-record: `record_k6_modules`), so CI needs no k6.

use std::path::PathBuf;

use crate::support::{
    checks_by_name, read_json, root, run_js_exported, run_js_source, run_k6_exported, scratch, Run,
    Server,
};

/// What the comparison covers: every check's passes and fails, and the requests sent.
fn results(summary: &serde_json::Value, checks: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "checks": checks,
        "http_reqs": summary["metrics"]["http_reqs"]["values"]["count"]
            .as_f64()
            .or_else(|| summary["metrics"]["http_reqs"]["count"].as_f64()),
    })
}

fn script(name: &str) -> PathBuf {
    root().join("tests/e2e/fixtures").join(name)
}

/// Runs `name` with Volley against a fresh server; returns its results and the server's hits.
fn run_volley(name: &str) -> (serde_json::Value, u64) {
    let server = Server::start();
    let export = scratch("k6-modules").join("summary.json");
    let (out, s) = run_js_exported(&script(name), &[("BASE_URL", server.url())], &[], &export);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        s["iteration_errors"]
            .as_object()
            .is_none_or(|e| e.is_empty()),
        "{}",
        s["iteration_errors"]
    );
    (
        results(&s, &serde_json::json!(checks_by_name(&s))),
        server.hits(),
    )
}

fn assert_like_k6(name: &str) {
    let fixture = script(name).with_extension("json");
    let k6 = read_json(&fixture);
    let (volley, hits) = run_volley(name);
    assert_eq!(
        volley, k6,
        "{name}: Volley's results differ from k6's (left: Volley)"
    );
    assert_eq!(hits as f64, k6["http_reqs"].as_f64().unwrap());
    assert!(
        k6["checks"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v[1] == 0),
        "the fixture has failing checks: {k6}"
    );
}

#[test]
fn encoding_and_timers_give_k6s_results() {
    assert_like_k6("k6-modules.js");
}

#[test]
fn execution_and_check_tags_give_k6s_results() {
    // Its thresholds hold only if VU tags and check tags reach the samples (else exit 99).
    assert_like_k6("k6-execution.js");
}

#[test]
fn cookies_files_and_multipart_give_k6s_results() {
    assert_like_k6("k6-http-extras.js");
}

/// A hostile script filling its VU's cookie jar hits the bound (each cookie is held by the host
/// and sent with every matching request); an oversized cookie is refused.
#[test]
fn a_vus_cookie_jar_is_bounded() {
    let server = Server::start();
    let (out, summary) = run_script(
        "k6-cookie-jar-bound",
        r#"
import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 1 };
function error(fn) {
  try { fn(); return ''; } catch (e) { return String(e.message || e); }
}
export default function () {
  const jar = http.cookieJar();
  const base = __ENV.BASE_URL;
  const errors = [];
  for (let i = 0; i < 1000; i++) errors.push(error(() => jar.set(`${base}/p${i}/`, `c${i}`, 'v')));
  check(null, {
    '1000 cookies are taken': () => errors.every((e) => e === ''),
    'the 1001st is refused, naming the limit': () => error(() => jar.set(base, 'more', 'v')).includes('1000 cookies'),
    'an 8 KiB cookie is refused': () => {
      jar.clear(`${base}/p0/`);
      return error(() => jar.set(base, 'big', 'v'.repeat(8192))).includes('at most 8192');
    },
    'a refused cookie is not kept': () => jar.cookiesForURL(base).big === undefined,
  });
}
"#,
        &server,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let checks = summary["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4);
    for c in checks {
        assert_eq!(c["fails"], 0, "check failed: {c}");
    }
}

/// A server setting 1,500 distinct cookies within one iteration leaves the VU's jar at its
/// 1,000 (the oldest went first) instead of holding all of them, and requests still go.
#[test]
fn cookies_set_by_servers_are_bounded_within_an_iteration() {
    let server = Server::start();
    let (out, summary) = run_script(
        "k6-cookie-server-bound",
        r#"
import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 1 };
export default function () {
  const base = __ENV.BASE_URL;
  for (let r = 0; r < 30; r++) {
    const pairs = [];
    for (let i = 0; i < 50; i++) pairs.push(`c${r * 50 + i}=v`);
    http.get(`${base}/set-cookie?${pairs.join('&')}`);
  }
  const held = http.cookieJar().cookiesForURL(base);
  check(held, {
    'the jar holds 1000': (h) => Object.keys(h).length === 1000,
    'the newest are kept': (h) => h.c1499 !== undefined && h.c500 !== undefined && h.c499 === undefined,
  });
  check(http.get(`${base}/echo`), { 'requests still go': (r) => r.status === 200 });
}
"#,
        &server,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    for c in summary["checks"].as_array().unwrap() {
        assert_eq!(c["fails"], 0, "check failed: {c}");
    }
    assert_eq!(summary["checks"].as_array().unwrap().len(), 3);
}

/// Runs the script `source` with Volley against `server` (`-q`, summary exported); returns the
/// run and the summary (`Null` when none was written).
fn run_script(name: &str, source: &str, server: &Server) -> (Run, serde_json::Value) {
    run_js_source(name, source, &[("BASE_URL", server.url())])
}

/// A regression would run the full minute (thousands of requests) or exit 0/107.
#[test]
fn test_abort_stops_the_whole_run_with_108_after_teardown() {
    let server = Server::start();
    let (out, summary) = run_script(
        "k6-abort",
        r#"
import http from 'k6/http';
import exec from 'k6/execution';
import { sleep } from 'k6';
export const options = { vus: 2, duration: '1m' };
export default function () {
  http.get(`${__ENV.BASE_URL}/`);
  if (exec.scenario.iterationInTest === 5) exec.test.abort('enough of this');
  // Paced, so that the other VU cannot run many iterations while the stop reaches it on a
  // loaded machine.
  sleep(0.3);
}
export function teardown() { console.log('teardown ran'); }
"#,
        &server,
    );
    assert_eq!(out.code, 108, "{}", out.stderr);
    assert!(
        out.stderr.contains("test aborted: enough of this"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("teardown ran"), "{}", out.stderr);
    // k6 sends 6 (iterations 0-5); VUs mid-iteration when the stop arrives may add one each.
    let hits = server.hits();
    assert!(
        (6..=10).contains(&hits),
        "{hits} requests: the run did not stop at the abort"
    );
    // A request in flight when the run stops reaches the server but is not recorded.
    let recorded = results(&summary, &serde_json::Value::Null)["http_reqs"]
        .as_f64()
        .unwrap();
    assert!(
        (6.0..=hits as f64).contains(&recorded),
        "{recorded} recorded, {hits} sent"
    );
    // The aborting iteration is no iteration error.
    assert!(
        summary["iteration_errors"]
            .as_object()
            .is_none_or(|e| e.is_empty()),
        "{}",
        summary["iteration_errors"]
    );
}

#[test]
fn test_abort_in_setup_runs_no_iteration_and_exits_108() {
    let server = Server::start();
    let (out, _) = run_script(
        "k6-abort-setup",
        r#"
import http from 'k6/http';
import exec from 'k6/execution';
export function setup() { exec.test.abort('no setup for you'); }
export default function () { http.get(`${__ENV.BASE_URL}/`); }
"#,
        &server,
    );
    assert_eq!(out.code, 108, "{}", out.stderr);
    assert!(
        out.stderr.contains("test aborted: no setup for you"),
        "{}",
        out.stderr
    );
    assert_eq!(server.hits(), 0);
}

/// A hostile script piling tags on its VU (each one is on every later sample) hits the bound;
/// oversized names and values are refused; what was refused is not on the samples.
#[test]
fn vu_tags_a_script_sets_are_bounded() {
    let server = Server::start();
    let (out, summary) = run_script(
        "k6-vu-tags-bound",
        r#"
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
export const options = { iterations: 1, thresholds: { 'http_reqs{t63:v}': ['count==1'], 'http_reqs{t64:v}': ['count==0'] } };
function error(fn) {
  try { fn(); return ''; } catch (e) { return String(e.message || e); }
}
export default function () {
  const tags = exec.vu.metrics.tags;
  const errors = [];
  for (let i = 0; i < 64; i++) errors.push(error(() => { tags[`t${i}`] = 'v'; }));
  check(null, {
    '64 tags are taken': () => errors.every((e) => e === ''),
    'the 65th is refused, naming the limit': () => error(() => { tags.t64 = 'v'; }).includes('at most 64 tags'),
    'changing a tag is no new tag': () => error(() => { tags.t0 = 'w'; }) === '' && tags.t0 === 'w',
    'a long name is refused': () => error(() => { tags['n'.repeat(129)] = 'v'; }).includes('128 bytes'),
    'a long value is refused': () => error(() => { tags.t1 = 'v'.repeat(1025); }).includes('1024 bytes'),
    'a deleted tag frees its place': () => { delete tags.t2; return error(() => { tags.t64 = 'v'; }) === ''; },
  });
  delete tags.t64;
  http.get(`${__ENV.BASE_URL}/`);
}
"#,
        &server,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    for c in summary["checks"].as_array().unwrap() {
        assert_eq!(c["fails"], 0, "check failed: {c}");
    }
    assert_eq!(summary["checks"].as_array().unwrap().len(), 6);
}

/// Records `fixtures/NAME.json` from a run of the real k6 (`VOLLEY_RECORD_K6=$(command -v k6)
/// cargo test --release --test e2e -- --ignored record_k6_modules`), with
/// K6_NO_USAGE_REPORT=true.
#[test]
#[ignore = "records the fixtures with a real k6 named by VOLLEY_RECORD_K6"]
fn record_k6_modules() {
    let k6 = std::env::var("VOLLEY_RECORD_K6").expect("VOLLEY_RECORD_K6=path of a k6 binary");
    let names: &[&str] = &["k6-modules.js", "k6-execution.js", "k6-http-extras.js"];
    for name in names {
        let server = Server::start();
        let export = scratch("k6-record").join("summary.json");
        let s = run_k6_exported(
            &k6,
            &script(name),
            &[("BASE_URL", server.url())],
            &[],
            &export,
        );
        let doc = results(&s, &serde_json::json!(checks_by_name(&s)));
        assert_eq!(doc["http_reqs"].as_f64(), Some(server.hits() as f64));
        let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
        std::fs::write(script(name).with_extension("json"), text).unwrap();
    }
}
