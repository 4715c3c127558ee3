//! k6's options and `k6 run` flags on a k6 script: every option a script may export is accepted
//! (those Volley does not act on are named in one warning each, never refused with 104), the
//! top-level `summaryTrendStats` shapes the summary, a threshold on a `new Trend` needs no
//! declaration, `--no-setup`, the system environment in `__ENV` (and
//! `--include-system-env-vars=false`), `K6_*` variables, and k6's JSON config file (`-c`).

use std::path::{Path, PathBuf};

use crate::support::{
    check, component, read_json, root, run, scratch, volley, volley_js, Run, Server,
};

fn script() -> PathBuf {
    root().join("tests/e2e/fixtures/k6-options.js")
}

/// `volley run k6-options.js -e BASE_URL=… ARGS` with `K6COMPAT_MARK` (and `env`) in the
/// system environment; returns the run and its JSON summary.
fn run_script(
    server: &Server,
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Run, serde_json::Value) {
    let export = scratch(name).join("summary.json");
    let mut cmd = volley_js();
    cmd.args(["run", script().to_str().unwrap(), "-e"])
        .arg(format!("BASE_URL={}", server.url()))
        .args(["-q", "--summary-export", export.to_str().unwrap()])
        .args(args)
        .env("K6COMPAT_MARK", "from-the-shell");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = Run::from_output(cmd.output().unwrap());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s = read_json(&export);
    (out, s)
}

#[test]
fn a_script_with_every_k6_option_runs_and_names_what_it_does_not_act_on() {
    let server = Server::start();
    let (out, s) = run_script(&server, "k6-options", &[], &[]);
    assert_eq!(server.hits(), 2);
    assert_eq!(check(&s, "setup ran")["passes"], 2);
    assert_eq!(check(&s, "system env reached __ENV")["passes"], 2);
    // The top-level summaryTrendStats shape every trend.
    let values = s["metrics"]["http_req_duration"]["values"]
        .as_object()
        .unwrap();
    let mut stats: Vec<&str> = values.keys().map(String::as_str).collect();
    stats.sort();
    assert_eq!(stats, ["avg", "count", "max", "p(99)"]);
    // The custom trend carries its threshold without a declaration.
    let latency = &s["metrics"]["k6compat_latency"];
    assert_eq!(latency["contains"], "time");
    assert_eq!(latency["thresholds"]["p(99)<60000"]["ok"], true);
    assert!(
        !out.stderr.contains("is ignored"),
        "a user's own script sets k6 options such as setupTimeout:\n{}",
        out.stderr
    );
    for key in ["metricSamplesBufferSize", "cloud", "ext"] {
        let warning = format!("k6 option '{key}' is accepted and not acted on");
        assert_eq!(
            out.stderr.matches(&warning).count(),
            1,
            "one warning for {key}:\n{}",
            out.stderr
        );
    }
    // Acted on now (`paused: false`, `minIterationDuration: '0s'`, ...): no warning.
    for key in [
        "paused",
        "minIterationDuration",
        "batch",
        "batchPerHost",
        "throw",
        "rps",
        "handleSummaryTimeout",
        "tlsCipherSuites",
    ] {
        assert!(!out.stderr.contains(&format!("'{key}'")), "{}", out.stderr);
    }
}

#[test]
fn no_setup_no_system_env_and_k6_variables() {
    let server = Server::start();
    // K6_ITERATIONS stands in for VOLLEY_ITERATIONS (and, like it, overrides the script).
    let (_, s) = run_script(
        &server,
        "k6-options-flags",
        &["--no-setup", "--include-system-env-vars=false"],
        &[("K6_ITERATIONS", "3")],
    );
    assert_eq!(server.hits(), 3, "K6_ITERATIONS=3");
    assert_eq!(check(&s, "setup ran")["fails"], 3, "--no-setup");
    assert_eq!(
        check(&s, "system env reached __ENV")["fails"],
        3,
        "--include-system-env-vars=false"
    );
}

/// `volley inspect PROBE -c CONFIG ARGS`, as JSON.
fn inspect_with_config(config: &Path, args: &[&str]) -> serde_json::Value {
    let probe = component("probe");
    let mut all = vec![
        "inspect",
        probe.to_str().unwrap(),
        "-c",
        config.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = run(&all).expect_code(0);
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn k6s_json_config_file_is_a_layer_below_the_flags() {
    let dir = scratch("k6-config");
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"vus": 3, "iterations": 6, "summaryTrendStats": ["avg", "p(99.9)"],
            "setupTimeout": "7s", "noUsageReport": true, "out": ["json=x.json"], "hosts": null}"#,
    )
    .unwrap();
    let v = inspect_with_config(&config, &[]);
    assert_eq!(v["scenarios"][0]["max_vus"], 3, "{v}");
    assert_eq!(v["scenarios"][0]["iterations"], 6, "{v}");
    assert_eq!(
        v["summary"]["trend_stats"],
        serde_json::json!(["avg", "p(99.9)"])
    );
    assert_eq!(v["sandbox"]["setup_timeout_ms"], 7000);
    let v = inspect_with_config(&config, &["--iterations", "9"]);
    assert_eq!(v["scenarios"][0]["iterations"], 9, "the flag wins");
    // An unknown key is named, with k6's exit code for an invalid configuration.
    std::fs::write(&config, r#"{"vus": 1, "notAK6Option": true}"#).unwrap();
    let probe = component("probe");
    let out = run(&[
        "inspect",
        probe.to_str().unwrap(),
        "-c",
        config.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 104, "{}", out.stderr);
    assert!(out.stderr.contains("notAK6Option"), "{}", out.stderr);
    let missing = dir.join("missing.json");
    let out = run(&["inspect", "-c", missing.to_str().unwrap()]);
    assert_eq!(out.code, 104, "{}", out.stderr);
    assert!(out.stderr.contains("missing.json"), "{}", out.stderr);
}

#[test]
fn k6_run_flags_are_accepted_and_durations_take_days() {
    let out = Run::from_output(
        volley()
            .args([
                "inspect",
                "--duration",
                "1d2h",
                "--vus",
                "2",
                "--insecure-skip-tls-verify",
                "--no-teardown",
                "-w",
                "--batch",
                "10",
                "--no-color",
                "-l",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v["scenarios"][0]["duration_ms"],
        (24 + 2) * 3_600_000,
        "1d2h: {v}"
    );
    // -w and --batch are acted on (tests/e2e/k6_limits.rs): no warning.
    assert!(!out.stderr.contains("'throw'"), "{}", out.stderr);
    assert!(!out.stderr.contains("'batch'"), "{}", out.stderr);
    assert!(out
        .stderr
        .contains("--no-color is accepted and not acted on"));
}

/// k6's `--log-output`, `--log-format` and `--console-output`: JSON lines as k6 writes them
/// (`level`, `msg`, `source`, `time`), console lines in their own file without `source`, a
/// bad value refused by name.
#[test]
fn log_output_format_and_console_file_as_k6() {
    let dir = crate::support::scratch("k6-logging");
    let script = dir.join("logs.js");
    std::fs::write(
        &script,
        "export const options = { iterations: 1 };
         export default function () { console.log('hello \"x\"'); console.warn('careful'); }
",
    )
    .unwrap();
    let (log, console) = (dir.join("volley.log"), dir.join("console.log"));
    let log_output = format!("file={}", log.display());
    let out = Run::from_output(
        crate::support::volley_js()
            .args(["run", "-q", script.to_str().unwrap()])
            .args(["--log-format", "json", "--log-output", &log_output])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    assert!(
        !out.stderr.contains("hello"),
        "the log went to the file: {}",
        out.stderr
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hello = lines.iter().find(|l| l["msg"] == "hello \"x\"").unwrap();
    assert_eq!(hello["level"], "info");
    assert_eq!(hello["source"], "console");
    let time = hello["time"].as_str().unwrap();
    assert!(time.len() == 20 && time.ends_with('Z'), "{time}");
    assert!(lines
        .iter()
        .any(|l| l["msg"] == "careful" && l["level"] == "warning"));

    Run::from_output(
        crate::support::volley_js()
            .args(["run", "-q", script.to_str().unwrap(), "--console-output"])
            .arg(&console)
            .output()
            .unwrap(),
    )
    .expect_code(0);
    let text = std::fs::read_to_string(&console).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("time=\""), "{text}");
    assert!(
        first.ends_with("level=info msg=\"hello \\\"x\\\"\""),
        "k6's console file line: {text}"
    );

    let bad = run(&["run", script.to_str().unwrap(), "--log-output", "syslog"]);
    assert_eq!(bad.code, 104, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("--log-output 'syslog'"),
        "{}",
        bad.stderr
    );
}

/// k6's `executionSegment`/`executionSegmentSequence` options pick this instance's part of the
/// test, as the flags do; the flags win over them.
#[test]
fn execution_segment_options_act_as_the_flags() {
    let dir = crate::support::scratch("k6-segment-options");
    let test = dir.join("segment.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"{}\"\nvus = 10\nduration = \"10s\"\nexecutionSegment = \"0:1/3\"\n\
             executionSegmentSequence = \"0,1/3,2/3,1\"\n",
            component("probe").display()
        ),
    )
    .unwrap();
    let out = run(&["inspect", test.to_str().unwrap()]).expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["execution_segment"], "0:1/3");
    assert_eq!(v["scenarios"][0]["segment"]["max_vus"], 4, "{v}");
    assert!(!out.stderr.contains("executionSegment"), "{}", out.stderr);
    let out = run(&[
        "inspect",
        test.to_str().unwrap(),
        "--execution-segment",
        "2/3:1",
    ])
    .expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["execution_segment"], "2/3:1");
    assert_eq!(v["scenarios"][0]["segment"]["max_vus"], 3, "{v}");
}
