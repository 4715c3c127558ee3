//! Custom metrics from guests: declared in `[metrics]`, recorded through the WIT `metrics`
//! import, shown under CUSTOM, and deciding exit codes through thresholds.

use crate::support::{component, probe_test, read_json, run, run_with_summary, scratch, Server};

/// A probe test (2 VUs, 6 iterations) requesting `path` and recording custom metrics.
fn test_file(server: &Server, name: &str, path: &str, body: &str) -> std::path::PathBuf {
    probe_test(
        server,
        name,
        &format!("vus = 2\niterations = 6\n{body}"),
        &format!("REQ_PATH = \"{path}\"\nCUSTOM_METRICS = \"1\""),
    )
}

const DECLARED: &str = r#"
[metrics]
probe_requests = "counter"
probe_ok = "rate"
probe_duration = "trend-time"
probe_vu = "gauge"
"#;

#[test]
fn custom_metrics_are_recorded_summarised_and_exported() {
    let server = Server::start();
    let test = test_file(
        &server,
        "custom",
        "/",
        &format!(
            "{DECLARED}\n[thresholds]\nprobe_requests = [\"count==6\"]\n\"probe_requests{{kind:get}}\" = [\"count==6\"]\nprobe_ok = [\"rate==1\"]\nprobe_duration = [\"p(95)<10000\"]\nprobe_vu = [\"value>=1\", \"max<=2\"]\n"
        ),
    );
    let export = test.with_extension("json");
    let out = run(&[
        "run",
        test.to_str().unwrap(),
        "--summary-export",
        export.to_str().unwrap(),
        "-q",
    ]);
    // `max` does not apply to a gauge: rejected before the start.
    assert_eq!(out.code, 104, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("'max<=2': aggregation 'max' does not apply to gauge metric probe_vu"),
        "{}",
        out.stderr
    );
    let fixed = std::fs::read_to_string(&test)
        .unwrap()
        .replace(", \\\"max<=2\\\"", "")
        .replace(", \"max<=2\"", "");
    std::fs::write(&test, fixed).unwrap();
    let out = run(&[
        "run",
        test.to_str().unwrap(),
        "--summary-export",
        export.to_str().unwrap(),
        "-q",
    ])
    .expect_code(0);
    let custom = out.stdout.find("    CUSTOM\n").expect("a CUSTOM section");
    let http = out.stdout.find("    HTTP\n").expect("an HTTP section");
    assert!(custom < http, "k6 v1 shows CUSTOM first:\n{}", out.stdout);
    assert!(out.stdout.contains("probe_requests"), "{}", out.stdout);
    let s = read_json(&export);
    assert_eq!(s["metrics"]["probe_requests"]["values"]["count"], 6.0);
    assert_eq!(s["metrics"]["probe_requests"]["type"], "counter");
    assert_eq!(s["metrics"]["probe_ok"]["values"]["rate"], 1.0);
    assert_eq!(s["metrics"]["probe_duration"]["contains"], "time");
    assert_eq!(s["metrics"]["probe_duration"]["values"]["count"], 6);
    let vu = s["metrics"]["probe_vu"]["values"]["max"].as_f64().unwrap();
    assert!((1.0..=2.0).contains(&vu), "{vu}");
    assert_eq!(s["thresholds_passed"], true);
}

#[test]
fn a_crossed_custom_threshold_exits_99() {
    let server = Server::start();
    let test = test_file(
        &server,
        "custom-fail",
        "/status/500",
        &format!("{DECLARED}\n[thresholds]\nprobe_ok = [\"rate>0.99\"]\n"),
    );
    let out = run(&["run", test.to_str().unwrap(), "-q"]).expect_code(99);
    assert!(
        out.stdout.contains("✗ 'rate>0.99' rate=0.00%"),
        "{}",
        out.stdout
    );
}

#[test]
fn undeclared_or_misdeclared_metrics_are_rejected() {
    let server = Server::start();
    let test = test_file(
        &server,
        "undeclared",
        "/",
        "[thresholds]\nmy_missing = [\"count>0\"]\n",
    );
    let out = run(&["run", test.to_str().unwrap(), "-q"]).expect_code(104);
    assert!(
        out.stderr.contains(
            "thresholds.my_missing: unknown metric 'my_missing' (declare custom metrics under [metrics])"
        ),
        "{}",
        out.stderr
    );
    let test = test_file(
        &server,
        "badtype",
        "/",
        "[metrics]\nprobe_x = \"histogram\"\n",
    );
    let out = run(&["run", test.to_str().unwrap(), "-q"]).expect_code(104);
    assert!(
        out.stderr
            .contains("metrics.probe_x: unknown type 'histogram'"),
        "{}",
        out.stderr
    );
    // The guest adds to probe_ok as a rate, but the test declared it a counter: that iteration
    // fails with a clear error, the run goes on.
    let test = test_file(
        &server,
        "conflict",
        "/",
        "[metrics]\nprobe_ok_conflict = \"rate\"\nprobe_ok = \"counter\"\n",
    );
    let (_, s) = run_with_summary(&test, &[], 0);
    let errors = s["iteration_errors"].as_object().unwrap();
    assert!(
        errors
            .keys()
            .any(|k| k.contains("metric 'probe_ok' is already a Counter")),
        "{errors:?}"
    );
}

/// A 1.5 s request in the first second, fast ones from 3 s to 5 s: a threshold over the last 2 s
/// judges only the fast ones, the whole-test threshold sees the slow one too. The margins are
/// wide on both sides (a loopback request takes milliseconds; the slow one ends 1.5 s before the
/// window opens), so a busy machine cannot move a request across the line.
#[test]
fn windowed_thresholds_judge_only_the_last_seconds() {
    let server = Server::start();
    let dir = scratch("windowed");
    let test = dir.join("windowed.toml");
    std::fs::write(
        &test,
        format!(
            r#"plugin = "{}"
[scenarios.slow]
executor = "constant-vus"
vus = 1
duration = "1s"
env = {{ REQ_PATH = "/slow/1500" }}

[scenarios.fast]
executor = "constant-vus"
vus = 1
duration = "2s"
startTime = "3s"
env = {{ SLEEP_MS = "50" }}

[thresholds]
http_req_duration = ["max<1000 over 2s", "max<1000"]

[env]
BASE_URL = "{}"
"#,
            component("probe").display(),
            server.url()
        ),
    )
    .unwrap();
    let out = run(&["run", test.to_str().unwrap(), "-q"]).expect_code(99);
    assert!(
        out.stdout.contains("✓ 'max<1000 over 2s'"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("✗ 'max<1000' max=1.5"),
        "{}",
        out.stdout
    );
}
