//! `volley run --processes N`: the test split into child processes (shards) and coordinated by
//! the parent; merged counts equal a single process's, a dead shard fails the run by name and
//! no shard outlives its coordinator, an `abortOnFail` threshold stops every shard.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{probe_test, read_json, run, volley, Child, Run, Server};

/// Deterministic executors (no arrival-rate drops: every start has a free VU and a fast
/// server), two statuses, checks, custom metrics, and sub-metrics (through always-true
/// thresholds) so the export holds per-scenario and per-status counts. 31 + 3×4 + 11 iterations
/// (an arrival rate of 10/s for 1 s starts at 0 s and at 1 s, as k6's does), one request each.
const EXACT: &str = "[scenarios.shared]\nexecutor = \"shared-iterations\"\nvus = 3\niterations = 31\n\n\
[scenarios.each]\nexecutor = \"per-vu-iterations\"\nvus = 3\niterations = 4\nenv = { REQ_PATH = \"/status/404\" }\n\n\
[scenarios.rate]\nexecutor = \"constant-arrival-rate\"\nrate = 10\nduration = \"1s\"\npreAllocatedVUs = 10\n\n\
[metrics]\nprobe_requests = \"counter\"\nprobe_ok = \"rate\"\nprobe_duration = \"trend-time\"\nprobe_vu = \"gauge\"\n\n\
[thresholds]\n\"iterations{scenario:shared}\" = [\"count>=0\"]\n\"iterations{scenario:each}\" = [\"count>=0\"]\n\
\"iterations{scenario:rate}\" = [\"count>=0\"]\n\"http_reqs{status:200}\" = [\"count>=0\"]\n\
\"http_reqs{status:404}\" = [\"count>=0\"]\n\"probe_requests{kind:get}\" = [\"count>=0\"]\n";

/// The counts of `summary` that must not depend on how the run was split.
fn counts(summary: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    let metrics = summary["metrics"].as_object().unwrap();
    let mut out: Vec<(String, serde_json::Value)> = metrics
        .iter()
        .filter(|(name, _)| !name.starts_with("vus"))
        .flat_map(|(name, m)| {
            let v = &m["values"];
            ["count", "passes", "fails"]
                .into_iter()
                .filter(|k| v.get(*k).is_some())
                .map(|k| (format!("{name}.{k}"), v[k].clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    out.push(("iterations".into(), summary["iterations"].clone()));
    out.push(("checks".into(), summary["checks"].clone()));
    out
}

/// Runs `test` with `extra` flags, exporting the summary to `NAME.json` and every sample to
/// `NAME.ndjson`; returns the output, the summary and the samples' lines.
fn run_exact(test: &Path, name: &str, extra: &[&str]) -> (Run, serde_json::Value, String) {
    let export = test.with_file_name(format!("{name}.json"));
    let samples = test.with_file_name(format!("{name}.ndjson"));
    let out_arg = format!("json={}", samples.display());
    let mut args = vec![
        "run",
        test.to_str().unwrap(),
        "--summary-export",
        export.to_str().unwrap(),
        "--out",
        &out_arg,
    ];
    args.extend_from_slice(extra);
    let out = run(&args).expect_code(0);
    let lines = std::fs::read_to_string(&samples).unwrap();
    (out, read_json(&export), lines)
}

/// How many samples of `metric` the NDJSON output holds.
fn points(ndjson: &str, metric: &str) -> usize {
    let needle = format!("{{\"metric\":\"{metric}\",\"type\":\"Point\"");
    ndjson.lines().filter(|l| l.starts_with(&needle)).count()
}

#[test]
fn two_processes_count_exactly_what_one_process_counts() {
    let server = Server::start();
    let test = probe_test(&server, "shard-exact", EXACT, "CUSTOM_METRICS = \"1\"");
    let (_, single, single_points) = run_exact(&test, "single", &[]);
    let (out, sharded, sharded_points) = run_exact(&test, "sharded", &["--processes", "2"]);
    assert!(
        out.stderr.contains("execution: local, 2 processes"),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stdout.matches("TOTAL RESULTS").count(),
        1,
        "one summary, from the coordinator: {}",
        out.stdout
    );
    assert_eq!(
        server.hits(),
        2 * (31 + 3 * 4 + 11),
        "both runs made every request"
    );
    let (a, b) = (counts(&single), counts(&sharded));
    assert_eq!(a, b, "the merged counts equal the single run's");
    // The numbers behind the comparison are the ones planned, not two equal zeros.
    let metric =
        |s: &serde_json::Value, name: &str, key: &str| s["metrics"][name]["values"][key].clone();
    assert_eq!(metric(&sharded, "iterations", "count"), 54.0);
    assert_eq!(metric(&sharded, "http_reqs{status:404}", "count"), 12.0);
    assert_eq!(metric(&sharded, "iterations{scenario:rate}", "count"), 11.0);
    assert_eq!(metric(&sharded, "http_req_duration", "count"), 54);
    assert_eq!(metric(&sharded, "probe_duration", "count"), 54);
    assert_eq!(metric(&sharded, "probe_requests{kind:get}", "count"), 54.0);
    assert_eq!(metric(&sharded, "checks", "fails"), 12);
    // The coordinator writes every shard's samples to the one --out stream.
    for name in [
        "http_reqs",
        "http_req_duration",
        "checks",
        "iterations",
        "probe_requests",
    ] {
        assert_eq!(
            points(&sharded_points, name),
            points(&single_points, name),
            "{name} samples in --out json"
        );
    }
    assert_eq!(points(&sharded_points, "http_reqs"), 54);
}

/// The pids of `parent`'s children that run shard `index`, read from /proc.
fn shard_pids(parent: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid != Some(parent) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if let Some(i) = args.iter().position(|a| a == "--shard-child") {
            out.push((pid, args.get(i + 1).cloned().unwrap_or_default()));
        }
    }
    out
}

/// Whether `pid` runs (a zombie waiting for its reaper does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// A long sharded run against `server`, once both shards have sent requests: the coordinator,
/// a thread collecting its stderr, and its shards' pids by shard (`0/2`, `1/2`).
fn start_long_run(server: &Server, name: &str, body: &str) -> LongRun {
    let test = probe_test(server, name, body, "SLEEP_MS = \"20\"");
    let export = test.with_extension("json");
    let mut cmd = volley();
    cmd.args(["run", test.to_str().unwrap(), "--processes", "2"])
        .arg("--summary-export")
        .arg(&export)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut coordinator = Child::spawn(&mut cmd);
    let stdout = collect(coordinator.stdout.take().unwrap());
    let stderr = collect(coordinator.stderr.take().unwrap());
    assert!(
        server.wait_for_hits(20, Duration::from_secs(60)),
        "the shards sent requests"
    );
    let mut shards = shard_pids(coordinator.id());
    shards.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        shards.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(),
        ["0/2", "1/2"],
        "two shards run"
    );
    LongRun {
        coordinator,
        stdout,
        stderr,
        shards,
        export,
    }
}

struct LongRun {
    coordinator: Child,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
    shards: Vec<(u32, String)>,
    /// Its --summary-export file.
    export: std::path::PathBuf,
}

/// Reads `stream` to its end on a thread.
fn collect(stream: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut { stream }, &mut text);
        text
    })
}

#[test]
fn a_killed_shard_fails_the_run_by_name_and_no_shard_remains() {
    let server = Server::start();
    let body = "[scenarios.steady]\nexecutor = \"constant-vus\"\nvus = 2\nduration = \"2m\"\n";
    let LongRun {
        mut coordinator,
        stderr,
        shards,
        ..
    } = start_long_run(&server, "shard-killed", body);
    let (victim, survivor) = (shards[1].0, shards[0].0);
    // SAFETY: kill(2) on a pid read from /proc a moment ago, the coordinator's live child.
    assert_eq!(unsafe { libc::kill(victim as i32, libc::SIGKILL) }, 0);
    let code = coordinator.wait().unwrap().code();
    let stderr = stderr.join().unwrap();
    assert_eq!(code, Some(109), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "shard 1 (segment 1/2:2/2, pid {victim}) was killed by signal 9 (SIGKILL) before the end of the run"
        )),
        "{stderr}"
    );
    assert!(!running(victim));
    // The coordinator sent shard 0 SIGKILL before it exited; the shard's own exit (unmapping
    // its instance pool) follows within moments, later on a loaded machine. Bounded wait on it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(survivor) && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert!(
        !running(survivor),
        "shard 0 (pid {survivor}) was stopped with its coordinator"
    );
}

#[test]
fn a_shard_dies_with_a_killed_coordinator() {
    let server = Server::start();
    let body = "[scenarios.steady]\nexecutor = \"constant-vus\"\nvus = 2\nduration = \"2m\"\n";
    let LongRun {
        mut coordinator,
        shards,
        ..
    } = start_long_run(&server, "shard-orphan", body);
    coordinator.kill().unwrap();
    coordinator.wait().unwrap();
    // PR_SET_PDEATHSIG sends SIGKILL as the coordinator exits; the shards' own exit follows
    // within moments. Bounded wait on that condition.
    let deadline = Instant::now() + Duration::from_secs(10);
    while shards.iter().any(|(pid, _)| running(*pid)) && Instant::now() < deadline {
        std::thread::yield_now();
    }
    for (pid, id) in &shards {
        assert!(
            !running(*pid),
            "shard {id} (pid {pid}) outlived its coordinator"
        );
    }
}

#[test]
fn an_abort_on_fail_threshold_crossed_in_one_shard_stops_every_shard() {
    let server = Server::start();
    // `bad`'s one VU runs in one shard only; `good`'s four VUs in both.
    let body = "[scenarios.good]\nexecutor = \"constant-vus\"\nvus = 4\nduration = \"2m\"\n\n\
[scenarios.bad]\nexecutor = \"constant-vus\"\nvus = 1\nduration = \"2m\"\nenv = { REQ_PATH = \"/status/500\" }\n\n\
[thresholds]\nhttp_req_failed = [{ threshold = \"rate<0.01\", abort-on-fail = true }]\n";
    let test = probe_test(&server, "shard-abort", body, "SLEEP_MS = \"20\"");
    let export = test.with_extension("json");
    let out = run(&[
        "run",
        test.to_str().unwrap(),
        "--processes",
        "2",
        "-q",
        "--summary-export",
        export.to_str().unwrap(),
    ])
    .expect_code(99);
    assert!(
        out.stderr.contains(
            "thresholds on metrics 'http_req_failed' have been crossed; the test was aborted"
        ),
        "{}",
        out.stderr
    );
    let summary = read_json(&export);
    // Both shards stopped: the run ended long before its two minutes.
    let ms = summary["duration_ms"].as_f64().unwrap();
    assert!(ms < 60_000.0, "the run lasted {ms} ms");
    let failed = &summary["metrics"]["http_req_failed"]["values"];
    assert!(failed["passes"].as_f64().unwrap() > 0.0, "{failed}");
    assert!(failed["fails"].as_f64().unwrap() > 0.0, "{failed}");
}

#[test]
fn ctrl_c_stops_every_shard_gracefully_and_prints_one_summary() {
    let server = Server::start();
    let body = "[scenarios.steady]\nexecutor = \"constant-vus\"\nvus = 2\nduration = \"2m\"\n";
    let LongRun {
        mut coordinator,
        stdout,
        stderr,
        shards,
        export,
    } = start_long_run(&server, "shard-interrupt", body);
    coordinator.interrupt();
    let code = coordinator.wait().unwrap().code();
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert_eq!(code, Some(105), "{stderr}");
    assert_eq!(
        stdout.matches("TOTAL RESULTS").count(),
        1,
        "one summary: {stdout}"
    );
    // Stop reached both shards: the run ended long before its two minutes.
    let ms = read_json(&export)["duration_ms"].as_f64().unwrap();
    assert!(ms < 60_000.0, "the run lasted {ms} ms");
    assert!(
        stderr.contains("stopping: interrupting iterations"),
        "{stderr}"
    );
    for (pid, id) in &shards {
        assert!(!running(*pid), "shard {id} (pid {pid}) still runs");
    }
}

/// Runs the k6 script `source` against `server` in `processes` shards; its exit code is
/// `code`. Returns the run and its summary export.
fn run_js_sharded(
    name: &str,
    source: &str,
    server: &Server,
    processes: u32,
    code: i32,
) -> (Run, serde_json::Value) {
    let dir = crate::support::scratch(name);
    let script = dir.join(format!("{name}.js"));
    std::fs::write(&script, source).unwrap();
    let export = dir.join("summary.json");
    let mut cmd = crate::support::volley_js();
    cmd.args(["run", script.to_str().unwrap(), "--processes"])
        .arg(processes.to_string())
        .arg("-e")
        .arg(format!("BASE_URL={}", server.url()))
        .arg("--summary-export")
        .arg(&export);
    let out = Run::from_output(cmd.output().unwrap()).expect_code(code);
    let summary = read_json(&export);
    (out, summary)
}

#[test]
fn a_javascript_script_is_built_once_by_the_coordinator() {
    let server = Server::start();
    let (out, summary) = run_js_sharded(
        "shard-js",
        "import http from 'k6/http';\nimport { check } from 'k6';\n\
         export const options = { vus: 4, iterations: 12 };\n\
         export default function () {\n  const res = http.get(`${__ENV.BASE_URL}/`);\n  \
         check(res, { 'status is 200': (r) => r.status === 200 });\n}\n",
        &server,
        2,
        0,
    );
    assert_eq!(
        out.stderr.matches("building ").count(),
        1,
        "only the coordinator builds (or finds in its cache) the script: {}",
        out.stderr
    );
    assert_eq!(server.hits(), 12);
    assert_eq!(summary["metrics"]["http_reqs"]["values"]["count"], 12.0);
    assert_eq!(
        crate::support::check(&summary, "status is 200")["passes"],
        12
    );
}

#[test]
fn setup_and_teardown_run_once_for_the_whole_sharded_run() {
    let server = Server::start();
    let (_, summary) = run_js_sharded(
        "shard-lifecycle",
        "import http from 'k6/http';\nimport { check } from 'k6';\n\
         export const options = { vus: 4, iterations: 12 };\n\
         export function setup() {\n  http.get(`${__ENV.BASE_URL}/setup`);\n  return { token: 'from-setup' };\n}\n\
         export default function (data) {\n  const res = http.get(`${__ENV.BASE_URL}/iteration`);\n  \
         check(data, { 'setup data reached the VU': (d) => d.token === 'from-setup' });\n  \
         check(res, { 'status is 200': (r) => r.status === 200 });\n}\n\
         export function teardown(data) {\n  http.get(`${__ENV.BASE_URL}/teardown/${data.token}`);\n}\n",
        &server,
        3,
        0,
    );
    let paths = server.paths();
    let count = |p: &str| paths.iter().filter(|x| x.as_str() == p).count();
    assert_eq!(count("/setup"), 1, "setup once for 3 shards: {paths:?}");
    assert_eq!(count("/iteration"), 12, "{paths:?}");
    assert_eq!(count("/teardown/from-setup"), 1, "teardown once: {paths:?}");
    assert_eq!(
        paths.last().map(String::as_str),
        Some("/teardown/from-setup"),
        "teardown after every shard's iterations: {paths:?}"
    );
    assert_eq!(
        crate::support::check(&summary, "setup data reached the VU")["passes"],
        12
    );
}

/// `vu.idInTest` is unique in the whole sharded run (k6 stripes VU ids between instances);
/// each shard numbering its own VUs from 1 would repeat ids.
#[test]
fn vu_ids_in_test_are_unique_across_shards() {
    let server = Server::start();
    run_js_sharded(
        "shard-vu-ids",
        "import http from 'k6/http';\nimport exec from 'k6/execution';\n\
         export const options = { scenarios: { each: { executor: 'per-vu-iterations', vus: 6, iterations: 1 } } };\n\
         export default function () {\n  \
         http.get(`${__ENV.BASE_URL}/vu/${exec.vu.idInTest}/of/${exec.vu.idInInstance}`);\n}\n",
        &server,
        3,
        0,
    );
    let mut in_test: Vec<u32> = server
        .paths()
        .iter()
        .map(|p| p.split('/').nth(2).unwrap().parse().unwrap())
        .collect();
    in_test.sort_unstable();
    assert_eq!(in_test, vec![1, 2, 3, 4, 5, 6], "{:?}", server.paths());
    let local = server
        .paths()
        .iter()
        .filter(|p| p.ends_with("/of/1"))
        .count();
    assert_eq!(local, 3, "each shard's first VU is its idInInstance 1");
}

/// `test.abort()` in one shard (not the lifecycle shard) stops every shard at once and the
/// run exits 108, as in one process; before, the other shard ran its 10 minutes.
#[test]
fn a_test_abort_in_one_shard_stops_every_shard() {
    let server = Server::start();
    let (out, _) = run_js_sharded(
        "shard-abort",
        "import http from 'k6/http';\nimport exec from 'k6/execution';\nimport { sleep } from 'k6';\n\
         export const options = { vus: 2, duration: '10m' };\n\
         export default function () {\n  http.get(`${__ENV.BASE_URL}/vu/${exec.vu.idInTest}`);\n  \
         if (exec.vu.idInTest === 2 && exec.vu.iterationInInstance === 2) exec.test.abort('enough');\n  \
         sleep(0.05);\n}\n",
        &server,
        2,
        108,
    );
    assert!(out.stderr.contains("enough"), "{}", out.stderr);
    let paths = server.paths();
    let by = |vu: &str| paths.iter().filter(|p| p.as_str() == vu).count();
    assert_eq!(
        by("/vu/2"),
        3,
        "the aborting VU's last iteration: {paths:?}"
    );
    assert!(by("/vu/1") >= 1, "{paths:?}");
}

#[test]
fn a_paused_sharded_run_starts_every_shard_on_resume() {
    let server = Server::start();
    let test = probe_test(
        &server,
        "shard-paused",
        "[scenarios.main]\nexecutor = \"per-vu-iterations\"\nvus = 4\niterations = 3\n",
        "",
    );
    let (child, address) = crate::executors::start_paused(&test, &["--processes", "2"]);
    let status = run(&["status", "--address", &address]).expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["paused"], true, "{v}");
    assert_eq!(server.hits(), 0, "no shard starts before resume");
    run(&["resume", "--address", &address]).expect_code(0);
    child.finish().expect_code(0);
    assert_eq!(server.hits(), 12);
}
