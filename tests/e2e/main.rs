//! End-to-end tests: real scenario components run by the real `volley` binary against real
//! HTTP servers on 127.0.0.1.

mod dashboard;
mod executors;
mod grafana;
mod grpc;
mod hostile_limits;
mod hostile_net;
mod hostile_options;
mod http;
mod influxdb;
mod k6_grpc;
mod k6_html;
mod k6_init;
mod k6_limits;
mod k6_modules;
mod k6_options;
mod k6_remote;
mod k6_stdin;
mod k6_summary;
mod k6_websockets;
mod languages;
mod merge;
mod metrics;
mod outputs;
mod prometheus;
mod registry;
mod sandbox;
mod shard;
mod summary;
mod support;
mod tcp;
mod websocket;

use std::time::Duration;

use support::{
    check, component, read_json, run, run_with_summary, scratch, volley, Child, Probe,
    RefusingPort, Server,
};

fn probe() -> String {
    component("probe").display().to_string()
}

fn base(server: &Server) -> String {
    format!("BASE_URL={}", server.url())
}

#[test]
fn shared_iterations_count_requests_checks_and_export() {
    let probe = Probe::start("shared");
    let (out, s) = probe.run(&["-e", "REQUESTS=2", "--vus", "3", "--iterations", "12"], 0);
    assert_eq!(
        probe.server.hits(),
        24,
        "12 iterations x 2 requests reach the server"
    );
    assert_eq!(s["schema"], "volley.summary/v1");
    assert_eq!(s["iterations"]["complete"], 12);
    assert_eq!(s["metrics"]["http_reqs"]["values"]["count"], 24.0);
    assert_eq!(s["metrics"]["iterations"]["values"]["count"], 12.0);
    assert_eq!(s["metrics"]["http_req_failed"]["values"]["passes"], 0);
    assert_eq!(s["metrics"]["http_req_duration"]["values"]["count"], 24);
    assert!(
        s["metrics"]["http_req_duration"]["hdr"]
            .as_str()
            .unwrap()
            .len()
            > 10
    );
    assert_eq!(s["metrics"]["vus_max"]["values"]["value"], 3.0);
    let checks = s["checks"].as_array().unwrap();
    let status = checks
        .iter()
        .find(|c| c["name"] == "status is 200")
        .unwrap();
    assert_eq!(
        (status["passes"].as_u64(), status["fails"].as_u64()),
        (Some(24), Some(0))
    );
    let setup = checks
        .iter()
        .find(|c| c["name"] == "setup data arrived")
        .unwrap();
    assert_eq!(
        setup["passes"], 12,
        "every iteration received setup()'s data"
    );
    // Bytes on the wire: at least the request lines and the 3-byte bodies.
    assert!(
        s["metrics"]["data_sent"]["values"]["count"]
            .as_f64()
            .unwrap()
            > 24.0 * 16.0
    );
    assert!(
        s["metrics"]["data_received"]["values"]["count"]
            .as_f64()
            .unwrap()
            > 24.0 * 3.0
    );
    // The summary text has k6's sections.
    for needle in [
        "█ TOTAL RESULTS",
        "✓ status is 200",
        "http_reqs",
        "EXECUTION",
        "NETWORK",
        "{ expected_response:true }",
    ] {
        assert!(
            out.stdout.contains(needle),
            "summary lacks {needle:?}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn constant_vus_run_for_the_duration_with_keep_alive() {
    let probe = Probe::start("constant");
    let (_, s) = probe.run(&["-e", "SLEEP_MS=100", "--vus", "2", "--duration", "2s"], 0);
    let server = &probe.server;
    let reqs = s["metrics"]["http_reqs"]["values"]["count"]
        .as_f64()
        .unwrap();
    // 2 VUs looping ~100 ms iterations for 2 s: far more than one round, far fewer than unbounded.
    assert!((10.0..=60.0).contains(&reqs), "requests: {reqs}");
    assert_eq!(reqs as u64, server.hits());
    // Keep-alive: only the first request of each VU connects.
    let connecting = &s["metrics"]["http_req_connecting"]["values"];
    assert!(
        connecting["med"].as_f64().unwrap() == 0.0,
        "connections are reused: {connecting}"
    );
    assert_eq!(s["metrics"]["vus"]["values"]["max"], 2.0);
}

#[test]
fn crossed_thresholds_exit_99_and_show_a_cross() {
    let probe = Probe::start("thresholds");
    let test = probe.test(
        "test",
        r#"vus = 1
iterations = 4

[thresholds]
http_req_failed = ["rate<0.01"]
http_reqs = ["count==4"]
"http_req_duration{status:500}" = ["max<10000"]
"#,
        "REQ_PATH = \"/status/500\"",
    );
    let (out, s) = run_with_summary(&test, &[], 99);
    assert!(
        out.stdout.contains("✗ 'rate<0.01' rate=100.00%"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("✓ 'count==4'"), "{}", out.stdout);
    assert!(
        out.stdout.contains("{status:500}"),
        "sub-metric threshold shown:\n{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("thresholds on metrics 'http_req_failed' have been crossed"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("✗ status is 200"), "{}", out.stdout);
    assert_eq!(s["thresholds_passed"], false);
    assert_eq!(
        s["metrics"]["http_req_failed"]["thresholds"]["rate<0.01"]["ok"],
        false
    );
    assert_eq!(
        s["metrics"]["http_req_duration{status:500}"]["values"]["count"],
        4
    );
    // --no-thresholds turns the same test green.
    run(&["run", test.to_str().unwrap(), "--no-thresholds", "-q"]).expect_code(0);
}

#[test]
fn abort_on_fail_stops_the_test_early() {
    let probe = Probe::start("abort");
    let test = probe.test(
        "abort",
        "vus = 2\nduration = \"60s\"\n[thresholds]\nhttp_req_failed = [{ threshold = \"rate<0.5\", abort-on-fail = true }]\n",
        "REQ_PATH = \"/status/503\"\nSLEEP_MS = \"50\"",
    );
    let (out, s) = run_with_summary(&test, &[], 99);
    assert!(
        out.stderr.contains("the test was aborted"),
        "{}",
        out.stderr
    );
    let ms = s["duration_ms"].as_f64().unwrap();
    assert!(
        ms < 30_000.0,
        "aborted long before the 60 s duration, ran {ms} ms"
    );
}

#[test]
fn traps_and_errors_fail_only_their_iteration() {
    let probe = Probe::start("traps");
    let (out, s) = probe.run(
        &[
            "-e",
            "TRAP_ON_ITER=1",
            "-e",
            "FAIL_ON_ITER=3",
            "--vus",
            "1",
            "--iterations",
            "6",
        ],
        0,
    );
    let server = &probe.server;
    // As k6 counts an iteration that threw: complete, with its error logged and counted.
    assert_eq!(s["iterations"]["complete"], 6);
    assert_eq!(s["iterations"]["interrupted"], 0);
    assert_eq!(s["metrics"]["iterations"]["values"]["count"], 6.0);
    let errors = &s["iteration_errors"];
    assert_eq!(errors["deliberate failure on iteration 3"], 1, "{errors}");
    assert_eq!(
        errors["trap: wasm trap: wasm `unreachable` instruction executed"], 1,
        "{errors}"
    );
    assert_eq!(
        server.hits(),
        4,
        "the VU kept going after its trap with a fresh instance"
    );
    assert_eq!(
        out.stderr
            .matches("iteration failed: trap: wasm trap")
            .count(),
        1,
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("deliberate failure on iteration 3"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("deliberate trap on iteration 1"),
        "guest stderr goes to the log"
    );
}

#[test]
fn unreachable_target_is_counted_not_fatal() {
    // A port bound without listening refuses connections, and stays ours for the test.
    let refusing = RefusingPort::new();
    let dir = scratch("refused");
    let test = dir.join("refused.toml");
    // The sub-metric's threshold makes the summary report it: every request carries k6's
    // error_code 1212 (connection refused).
    std::fs::write(
        &test,
        format!(
            "plugin = \"{}\"\niterations = 3\n[thresholds]\n\"http_reqs{{error_code:1212}}\" = [\"count==3\"]\n[env]\nBASE_URL = \"http://127.0.0.1:{}\"\n",
            component("probe").display(),
            refusing.port
        ),
    )
    .unwrap();
    let (_, s) = run_with_summary(&test, &[], 0);
    assert_eq!(s["metrics"]["http_reqs"]["values"]["count"], 3.0);
    assert_eq!(s["metrics"]["http_req_failed"]["values"]["passes"], 3);
    assert_eq!(s["iterations"]["complete"], 3);
    assert_eq!(
        s["metrics"]["http_reqs{error_code:1212}"]["values"]["count"], 3.0,
        "each refused request is tagged error_code 1212"
    );
}

#[test]
fn invalid_configs_exit_104_naming_the_problem() {
    let dir = scratch("invalid");
    let cases: &[(&str, &str)] = &[
        ("vuss = 3\n", "unknown field `vuss`"),
        ("vus = 1\nduration = \"10x\"\n", "invalid duration \"10x\""),
        (
            "vus = [1\n",
            "line 2, column 9 (`vus = [1`): unclosed array",
        ),
        (
            "[thresholds]\nnot_a_metric = [\"count>1\"]\n",
            "unknown metric 'not_a_metric'",
        ),
        (
            "[thresholds]\nhttp_req_duration = [\"p95<1\"]\n",
            "unknown aggregation 'p95' (expected count, rate, value, avg, min, max, med or p(N))",
        ),
        (
            "[thresholds]\nhttp_req_failed = [\"avg<1\"]\n",
            "does not apply to rate metric",
        ),
        (
            "[scenarios.x]\nexecutor = \"warp-speed\"\n",
            "unknown executor 'warp-speed'",
        ),
        (
            "vus = 5\niterations = 2\n",
            "iterations cannot be shared among 5 VUs",
        ),
        (
            "stages = [{ duration = \"1s\", target = -2 }]\n",
            "scenarios.default.stages[0].target: must be 0..=10000000, got -2",
        ),
    ];
    for (i, (toml, needle)) in cases.iter().enumerate() {
        let path = dir.join(format!("case{i}.toml"));
        std::fs::write(
            &path,
            format!("plugin = \"{}\"\n{toml}", component("probe").display()),
        )
        .unwrap();
        let out = run(&["run", path.to_str().unwrap()]).expect_code(104);
        assert!(
            out.stderr.contains(needle),
            "case {i}: {needle:?} not in {:?}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!("case{i}.toml")) || !needle.starts_with("unknown field"),
            "names the file: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    let out = run(&["run", &probe(), "--vus", "-1", "--duration", "1s"]).expect_code(104);
    assert!(
        out.stderr.contains("vus: must be at least 1, got -1"),
        "{}",
        out.stderr
    );
    let out = run(&["inspect", &probe(), "--iterations", "0"]).expect_code(104);
    assert!(
        out.stderr
            .contains("scenarios.default.iterations: must be at least 1, got 0"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_plugins_are_refused_with_a_clear_message() {
    let dir = scratch("plugins");
    let not_wasm = dir.join("notes.wasm");
    std::fs::write(&not_wasm, "hello").unwrap();
    let core = dir.join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let cases = [
        (dir.join("missing.wasm"), "cannot read plugin"),
        (not_wasm, "is not a WebAssembly file"),
        (core, "core WebAssembly module, not a component"),
        (component("otherworld"), "missing export 'iteration'"),
    ];
    for (path, needle) in cases {
        let out = run(&["run", path.to_str().unwrap()]).expect_code(107);
        assert!(
            out.stderr.contains(needle),
            "{needle:?} not in {}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains(path.file_name().unwrap().to_str().unwrap()),
            "names the file: {}",
            out.stderr
        );
    }
    let out = run(&["run", component("otherworld").to_str().unwrap()]);
    assert!(
        out.stderr
            .contains("unsupported import 'other:thing/greeter@0.2.0'"),
        "{}",
        out.stderr
    );
}

#[test]
fn inspect_prints_the_ramping_schedule() {
    let out = run(&["inspect", &probe(), "--stage", "10s:10", "--stage", "5s:0"]).expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let sc = &v["scenarios"][0];
    assert_eq!(sc["executor"], "ramping-vus");
    assert_eq!(sc["max_vus"], 10);
    let schedule = sc["schedule"].as_array().unwrap();
    let up: Vec<(u64, u64)> = schedule
        .iter()
        .map(|s| (s["at_ms"].as_u64().unwrap(), s["vus"].as_u64().unwrap()))
        .collect();
    assert_eq!(up[0], (0, 1), "k6's startVUs default is 1");
    assert_eq!(
        up[1],
        (1111, 2),
        "VU 2 of 1→10 over 10 s starts at 10s·1/9, truncated to ns"
    );
    assert_eq!(*up.last().unwrap(), (15_000, 0));
    assert_eq!(v["max_duration_ms"], 45_000);
}

#[test]
fn default_scenario_is_the_embedded_monte_carlo_with_its_thresholds() {
    let out = run(&["inspect"]).expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["max_vus"], 400);
    let stages = v["scenarios"][0]["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3);
    assert_eq!(stages[1]["duration_ms"], 360_000);
    assert_eq!(
        v["thresholds"]["http_req_duration"][0]["threshold"],
        "p(95)<2000"
    );
    assert_eq!(
        v["thresholds"]["http_req_failed"][0]["threshold"],
        "rate<0.01"
    );
}

#[test]
fn default_run_uses_the_builtin_target() {
    let dir = scratch("default");
    let export = dir.join("s.json");
    let out = run(&[
        "run",
        "--vus",
        "2",
        "--duration",
        "2s",
        "--summary-export",
        export.to_str().unwrap(),
    ])
    .expect_code(0);
    assert!(
        out.stderr
            .contains("serving the built-in Monte Carlo target"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("* default: 2 looping VUs for 2s"),
        "banner: {}",
        out.stderr
    );
    let s = read_json(&export);
    let status = check(&s, "is status 200");
    assert!(status["passes"].as_u64().unwrap() >= 4, "{status}");
    assert_eq!(status["fails"], 0);
    assert_eq!(s["thresholds_passed"], true);
}

#[test]
fn compiled_code_is_cached_on_disk() {
    let server = Server::start();
    let cache = scratch("cache");
    let status = volley()
        .env("VOLLEY_CACHE_DIR", &cache)
        .args(["run", &probe(), "-e", &base(&server), "-q", "--no-summary"])
        .status()
        .unwrap();
    assert!(status.success());
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        entries
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "cwasm")),
        "{entries:?}"
    );
}

#[test]
fn ctrl_c_stops_gracefully_prints_the_summary_and_exits_105() {
    let server = Server::start();
    let child = Child::spawn_piped(volley().args([
        "run",
        &probe(),
        "-e",
        &base(&server),
        "-e",
        "SLEEP_MS=20",
        "--vus",
        "2",
        "--duration",
        "60s",
        "-q",
    ]));
    assert!(
        server.wait_for_hits(5, Duration::from_secs(30)),
        "the run started"
    );
    child.interrupt();
    let out = child.finish().expect_code(105);
    assert!(out.stdout.contains("█ TOTAL RESULTS"), "{}", out.stdout);
}

#[test]
fn toml_scenarios_with_start_time_and_env() {
    let server = Server::start();
    let dir = scratch("scenarios");
    std::fs::copy(component("probe"), dir.join("probe.wasm")).unwrap();
    let test = dir.join("multi.toml");
    std::fs::write(
        &test,
        format!(
            r#"plugin = "probe.wasm"   # relative to this file
[env]
BASE_URL = "{}"

[scenarios.first]
executor = "per-vu-iterations"
vus = 2
iterations = 3
env = {{ REQ_PATH = "/status/200" }}

[scenarios.later]
executor = "shared-iterations"
vus = 1
iterations = 2
startTime = "500ms"
env = {{ REQ_PATH = "/status/201" }}
tags = {{ team = "b" }}

[thresholds]
"http_reqs{{scenario:first}}" = ["count==6"]
"http_reqs{{team:b}}" = ["count==2"]
"#,
            server.url()
        ),
    )
    .unwrap();
    run(&["run", test.to_str().unwrap(), "-q"]).expect_code(0);
    let paths = server.paths();
    assert_eq!(paths.iter().filter(|p| *p == "/status/200").count(), 6);
    assert_eq!(paths.iter().filter(|p| *p == "/status/201").count(), 2);
}

/// A ramp-down to 0 VUs while both VUs sleep in a 5 s iteration: with gracefulRampDown 0s the
/// iterations are interrupted at once; with 10s they are allowed to finish.
#[test]
fn graceful_ramp_down_decides_whether_iterations_finish() {
    let server = Server::start();
    let dir = scratch("rampdown");
    for (grace, complete, interrupted) in [("0s", 0, 2), ("10s", 2, 0)] {
        let test = dir.join(format!("ramp-{grace}.toml"));
        std::fs::write(
            &test,
            format!(
                r#"plugin = "{}"
[env]
BASE_URL = "{}"
SLEEP_MS = "5000"

[scenarios.ramp]
executor = "ramping-vus"
startVUs = 2
stages = [{{ duration = "1s", target = 2 }}, {{ duration = "0s", target = 0 }}, {{ duration = "1s", target = 0 }}]
gracefulRampDown = "{grace}"
"#,
                component("probe").display(),
                server.url()
            ),
        )
        .unwrap();
        let (_, s) = run_with_summary(&test, &[], 0);
        assert_eq!(
            s["iterations"]["complete"], complete,
            "gracefulRampDown {grace}"
        );
        assert_eq!(
            s["iterations"]["interrupted"], interrupted,
            "gracefulRampDown {grace}"
        );
    }
    assert_eq!(
        server.hits(),
        4,
        "each VU sent its request before sleeping, in both runs"
    );
}

#[test]
fn components_built_against_wit_0_1_0_still_run() {
    let server = Server::start();
    let dir = scratch("legacy");
    let export = dir.join("s.json");
    run(&[
        "run",
        component("legacy").to_str().unwrap(),
        "-e",
        &base(&server),
        "--iterations",
        "3",
        "--summary-export",
        export.to_str().unwrap(),
        "-q",
    ])
    .expect_code(0);
    let s = read_json(&export);
    assert_eq!(s["checks"][0]["name"], "legacy status is 200");
    assert_eq!(s["checks"][0]["passes"], 3);
    assert_eq!(server.hits(), 3);
}
