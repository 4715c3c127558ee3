//! The k6 modules Volley provides in plain JavaScript (`sdk/js/k6/`), run as k6 scripts
//! against a local server and compared with the real k6's results on the same script, recorded
//! in `fixtures/k6-modules.json` (re-record: `record_k6_modules`), so CI needs no k6.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::support::{read_json, root, scratch, volley_js, Run, Server};

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
    let out = Run::from_output(
        volley_js()
            .args(["run", script(name).to_str().unwrap(), "-q", "-e"])
            .arg(format!("BASE_URL={}", server.url()))
            .args(["--summary-export", export.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s = read_json(&export);
    assert!(
        s["iteration_errors"]
            .as_object()
            .is_none_or(|e| e.is_empty()),
        "{}",
        s["iteration_errors"]
    );
    let checks: BTreeMap<String, serde_json::Value> = s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                serde_json::json!([c["passes"], c["fails"]]),
            )
        })
        .collect();
    (results(&s, &serde_json::json!(checks)), server.hits())
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

/// Records `fixtures/NAME.json` from a run of the real k6 (`VOLLEY_RECORD_K6=$(command -v k6)
/// cargo test --release --test e2e -- --ignored record_k6_modules`), with
/// K6_NO_USAGE_REPORT=true.
#[test]
#[ignore = "records the fixtures with a real k6 named by VOLLEY_RECORD_K6"]
fn record_k6_modules() {
    let k6 = std::env::var("VOLLEY_RECORD_K6").expect("VOLLEY_RECORD_K6=path of a k6 binary");
    let names: &[&str] = &["k6-modules.js"];
    for name in names {
        let server = Server::start();
        let export = scratch("k6-record").join("summary.json");
        let out = std::process::Command::new(&k6)
            .env("K6_NO_USAGE_REPORT", "true")
            .args(["run", "--no-color", "-q", "-e"])
            .arg(format!("BASE_URL={}", server.url()))
            .args(["--summary-export", export.to_str().unwrap()])
            .arg(script(name))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = read_json(&export);
        // k6's export nests checks in groups: { "checks": { NAME: { passes, fails } } }.
        let checks: BTreeMap<String, serde_json::Value> = s["root_group"]["checks"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, c)| (n.clone(), serde_json::json!([c["passes"], c["fails"]])))
            .collect();
        let doc = results(&s, &serde_json::json!(checks));
        assert_eq!(doc["http_reqs"].as_f64(), Some(server.hits() as f64));
        let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
        std::fs::write(script(name).with_extension("json"), text).unwrap();
    }
}
