//! Executors end to end: arrival rates, dropped iterations, VU growth, several scenarios with
//! their own entry points, execution segments across processes, and the control API.

use std::time::Duration;

use crate::support::{
    check, component, on_a_free_port, probe_test, run, run_js_source, run_with_summary, volley,
    Child, Server,
};

/// A probe test file with `body` (see [`probe_test`]).
fn test_file(server: &Server, name: &str, body: &str) -> std::path::PathBuf {
    probe_test(server, name, body, "")
}

fn run_export(test: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    run_with_summary(test, extra, 0).1
}

fn count(s: &serde_json::Value, metric: &str) -> f64 {
    s["metrics"][metric]["values"]["count"]
        .as_f64()
        .unwrap_or(0.0)
}

#[test]
fn constant_arrival_rate_starts_every_scheduled_iteration() {
    let server = Server::start();
    let test = test_file(
        &server,
        "car",
        "[scenarios.car]\nexecutor = \"constant-arrival-rate\"\nrate = 20\nduration = \"2s\"\npreAllocatedVUs = 3\nmaxVUs = 10\n",
    );
    let s = run_export(&test, &[]);
    // What the schedule guarantees whatever the machine's load: every start happens, on a free
    // VU (an iteration) or dropped for want of one. With 3 to 10 VUs for 1 ms iterations a drop
    // takes a stall of the whole process, so none is expected, but none is asserted either.
    let done = count(&s, "iterations");
    assert_eq!(
        done + count(&s, "dropped_iterations"),
        41.0,
        "20/s for 2 s starts at 0, 50 ms, ..., 2 s (k6 v1.1.0 runs 41)"
    );
    assert!(done >= 1.0, "{s}");
    assert_eq!(
        server.hits() as f64,
        done,
        "each iteration sent its request"
    );
    // Coordinated-omission-corrected figures are reported beside k6's: the duration from the
    // scheduled start is the duration from the actual start plus the lateness, iteration by
    // iteration, so the averages add up too (a copy of iteration_duration would not: lateness
    // is never 0).
    let intended = &s["metrics"]["iteration_duration_intended"]["values"];
    let plain = &s["metrics"]["iteration_duration"]["values"];
    let lateness = &s["metrics"]["iteration_lateness"]["values"];
    assert_eq!(intended["count"].as_f64(), Some(done));
    assert_eq!(lateness["count"].as_f64(), Some(done));
    let (intended, plain, lateness) = (
        intended["avg"].as_f64().unwrap(),
        plain["avg"].as_f64().unwrap(),
        lateness["avg"].as_f64().unwrap(),
    );
    assert!(
        lateness > 0.0,
        "a start is never exactly on time: {lateness}"
    );
    assert!(
        (intended - (plain + lateness)).abs() <= 1e-6 * intended,
        "intended {intended} ms = duration {plain} ms + lateness {lateness} ms"
    );
}

#[test]
fn arrival_rate_drops_starts_without_a_free_vu() {
    let server = Server::start();
    let test = test_file(
        &server,
        "drops",
        "[scenarios.car]\nexecutor = \"constant-arrival-rate\"\nrate = 20\nduration = \"1s\"\npreAllocatedVUs = 1\nmaxVUs = 1\nenv = { SLEEP_MS = \"400\" }\n",
    );
    let s = run_export(&test, &[]);
    let (done, dropped) = (count(&s, "iterations"), count(&s, "dropped_iterations"));
    assert_eq!(
        done + dropped,
        21.0,
        "every scheduled start either ran or was dropped"
    );
    // One VU busy 400 ms per iteration starts at most at 0, 400 and 800 ms of a 1 s schedule.
    assert!(
        (1.0..=3.0).contains(&done),
        "one VU busy 400 ms per iteration cannot take 20/s: ran {done}, dropped {dropped}"
    );
}

#[test]
fn arrival_rate_grows_vus_up_to_max_vus() {
    let server = Server::start();
    let test = test_file(
        &server,
        "growth",
        "[scenarios.car]\nexecutor = \"constant-arrival-rate\"\nrate = 20\nduration = \"2s\"\npreAllocatedVUs = 0\nmaxVUs = 4\nenv = { SLEEP_MS = \"150\" }\n",
    );
    let s = run_export(&test, &[]);
    // Each iteration lasts 150 ms plus its request, so 3 VUs never cover 20 starts/s: every
    // 4th start finds none free, and each dropped start asks for one more VU, up to maxVUs.
    let vus_max = s["metrics"]["vus_max"]["values"]["max"].as_f64().unwrap();
    assert_eq!(vus_max, 4.0, "grew from 0 to exactly maxVUs");
    assert_eq!(
        count(&s, "iterations") + count(&s, "dropped_iterations"),
        41.0
    );
    assert!(
        count(&s, "iterations") >= 20.0,
        "grown VUs took most starts: {s}"
    );
}

/// k6 makes at most one VU at a time mid-test: a start dropped while a VU is being made asks
/// for no other. Each VU's init context here logs its start and end around a few tens of ms of
/// CPU (the guest yields every ms, so inits made at once would interleave); each VU sleeps past
/// the test, so every start finds none idle and a new VU is wanted every 10 ms.
#[test]
fn arrival_rate_makes_one_vu_at_a_time() {
    let script = r#"
import { sleep } from 'k6';
console.log(`init-start ${__VU}`);
let x = 0;
for (let i = 0; i < 400000; i++) x += i;
console.log(`init-end ${__VU}`);
export const options = {
  scenarios: {
    car: {
      executor: 'constant-arrival-rate', rate: 100, timeUnit: '1s', duration: '1s',
      preAllocatedVUs: 0, maxVUs: 10, gracefulStop: '0s',
    },
  },
};
export default function () { sleep(5); }
"#;
    let (out, _) = run_js_source("one-vu-at-a-time", script, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // (event, VU) for the VUs made during the run (VU 0 is the options pass).
    let events: Vec<(&str, u32)> = out
        .stderr
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once("msg=\"init-")?;
            let (event, rest) = rest.split_once(' ')?;
            let vu: u32 = rest.split('"').next()?.parse().ok()?;
            (vu > 0).then_some((event, vu))
        })
        .collect();
    let ends = events.iter().filter(|(e, _)| *e == "end").count();
    assert!(ends >= 2, "at least two VUs were made mid-test: {events:?}");
    // Each init ends before the next begins (the last may be cut off by the end of the test).
    for (i, pair) in events.chunks(2).enumerate() {
        match pair {
            [("start", a), ("end", b)] if a == b => {}
            [("start", _)] if i == events.len() / 2 => {}
            _ => panic!("VU inits overlapped: {events:?}"),
        }
    }
}

#[test]
fn ramping_arrival_rate_follows_the_integral_of_the_rate() {
    let server = Server::start();
    // 0 → 7/s over 3 s: the rate's integral is 10.5, so iterations 1..=10 start.
    let test = test_file(
        &server,
        "rar",
        "[scenarios.rar]\nexecutor = \"ramping-arrival-rate\"\nstartRate = 0\nstages = [{ duration = \"3s\", target = 7 }]\npreAllocatedVUs = 2\nmaxVUs = 5\n",
    );
    let s = run_export(&test, &[]);
    let done = count(&s, "iterations");
    assert_eq!(done + count(&s, "dropped_iterations"), 10.0);
    assert!(done >= 1.0, "{s}");
    assert_eq!(server.hits() as f64, done);
}

#[test]
fn scenarios_run_their_own_entry_points() {
    let server = Server::start();
    let test = test_file(
        &server,
        "exec",
        "[scenarios.main]\nexecutor = \"per-vu-iterations\"\nvus = 2\niterations = 2\n\n[scenarios.side]\nexecutor = \"shared-iterations\"\nexec = \"alt\"\nvus = 1\niterations = 3\n",
    );
    let s = run_export(&test, &[]);
    let paths = server.paths();
    assert_eq!(paths.iter().filter(|p| *p == "/").count(), 4);
    assert_eq!(paths.iter().filter(|p| *p == "/alt").count(), 3);
    let alt = check(&s, "alt status is 200");
    assert_eq!(alt["passes"], 3);
    // An entry point the plugin does not have fails those iterations, not the run.
    let missing = test_file(
        &server,
        "exec-missing",
        "[scenarios.x]\nexecutor = \"shared-iterations\"\nexec = \"nope\"\n",
    );
    let out = run(&["run", missing.to_str().unwrap(), "-q"]).expect_code(0);
    assert!(
        out.stderr.contains("probe has no entry point 'nope'"),
        "{}",
        out.stderr
    );
}

/// The same test as one process and as three segment processes: the totals match exactly.
#[test]
fn execution_segments_add_up_to_the_single_run() {
    let server = Server::start();
    let test = test_file(
        &server,
        "segments",
        "[scenarios.si]\nexecutor = \"shared-iterations\"\nvus = 5\niterations = 50\n\n[scenarios.car]\nexecutor = \"constant-arrival-rate\"\nrate = 30\nduration = \"1s\"\npreAllocatedVUs = 31\n",
    );
    // A VU for every arrival: however late a loaded machine runs them, none is dropped.
    let whole = run_export(&test, &[]);
    assert_eq!(count(&whole, "iterations"), 81.0, "50 shared + 31 arrivals");
    let sequence = "0,1/4,3/4,1";
    let mut total = 0.0;
    let mut per_segment = Vec::new();
    for segment in ["0:1/4", "1/4:3/4", "3/4:1"] {
        let s = run_export(
            &test,
            &[
                "--execution-segment",
                segment,
                "--execution-segment-sequence",
                sequence,
            ],
        );
        assert_eq!(s["segment"], segment, "the JSON summary names its segment");
        per_segment.push(count(&s, "iterations"));
        total += count(&s, "iterations");
    }
    assert_eq!(
        total, 81.0,
        "segments {per_segment:?} add up to the single run"
    );
    assert!(
        per_segment[1] > per_segment[0] && per_segment[1] > per_segment[2],
        "{per_segment:?}"
    );
    assert_eq!(server.hits(), 162);
}

#[test]
fn inspect_shows_the_segment_share_and_requirements() {
    let out = run(&[
        "inspect",
        component("probe").to_str().unwrap(),
        "--vus",
        "10",
        "--duration",
        "10s",
        "--execution-segment",
        "0:1/3",
        "--execution-segment-sequence",
        "0,1/3,2/3,1",
    ])
    .expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["execution_segment"], "0:1/3");
    assert_eq!(
        v["scenarios"][0]["segment"]["max_vus"], 4,
        "10 VUs in thirds: 4, 3, 3"
    );
    let req = v["execution_requirements"].as_array().unwrap();
    assert_eq!(req[0]["vus"], 4);
    assert_eq!(req.last().unwrap()["vus"], 0);
    assert_eq!(
        req.last().unwrap()["at_ms"],
        40_000,
        "10 s + 30 s graceful stop"
    );
}

#[test]
fn executor_options_are_validated_before_the_start() {
    let server = Server::start();
    let cases = [
        ("[scenarios.a]\nexecutor = \"constant-arrival-rate\"\nrate = 5\nduration = \"1s\"\npreAllocatedVUs = 5\nmaxVUs = 2\n", "max-vus: 2 is less than pre-allocated-vus (5)"),
        ("[scenarios.a]\nexecutor = \"constant-arrival-rate\"\nduration = \"1s\"\npreAllocatedVUs = 1\n", "scenarios.a.rate: is required"),
        ("[scenarios.a]\nexecutor = \"constant-arrival-rate\"\nrate = 0\nduration = \"1s\"\npreAllocatedVUs = 1\n", "scenarios.a.rate: must be at least 1"),
        ("[scenarios.a]\nexecutor = \"ramping-arrival-rate\"\npreAllocatedVUs = 1\nstages = [{ duration = \"1s\", target = -1 }]\n", "scenarios.a.stages[0].target: must be 0..=10000000, got -1"),
        ("[scenarios.a]\nexecutor = \"externally-controlled\"\nduration = \"1s\"\ngracefulStop = \"1s\"\n", "graceful-stop: not an option"),
        ("[scenarios.a]\nexecutor = \"per-vu-iterations\"\nrate = 3\n", "scenarios.a.rate: not an option of executor per-vu-iterations"),
    ];
    for (i, (body, needle)) in cases.iter().enumerate() {
        let test = test_file(&server, &format!("bad{i}"), body);
        let out = run(&["run", test.to_str().unwrap()]).expect_code(104);
        assert!(
            out.stderr.contains(needle),
            "case {i}: {needle:?} not in {}",
            out.stderr
        );
    }
    let ok = test_file(&server, "segbad", "vus = 1\niterations = 1\n");
    let out = run(&[
        "run",
        ok.to_str().unwrap(),
        "--execution-segment",
        "2/3:1/3",
    ])
    .expect_code(104);
    assert!(
        out.stderr
            .contains("execution segment '2/3:1/3': from (2/3) must be below to (1/3)"),
        "{}",
        out.stderr
    );
    let ext = test_file(
        &server,
        "extseg",
        "[scenarios.e]\nexecutor = \"externally-controlled\"\nduration = \"1s\"\n",
    );
    let out = run(&["run", ext.to_str().unwrap(), "--execution-segment", "0:1/2"]).expect_code(104);
    assert!(out.stderr.contains("cannot be split"), "{}", out.stderr);
}

#[test]
fn externally_controlled_vus_change_through_the_control_api() {
    let server = Server::start();
    let test = test_file(
        &server,
        "external",
        "[scenarios.ext]\nexecutor = \"externally-controlled\"\nvus = 1\nmaxVUs = 4\nduration = \"60s\"\nenv = { SLEEP_MS = \"20\" }\n",
    );
    // Volley binds the control API before setup(), so once requests arrive it holds the port;
    // a run that lost the port to another process exits first, and another port is tried.
    let (child, address) = on_a_free_port(|port| {
        let address = format!("127.0.0.1:{port}");
        let mut child = Child::spawn_piped(volley().args([
            "run",
            test.to_str().unwrap(),
            "-q",
            "--address",
            &address,
        ]));
        let limit = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            assert!(std::time::Instant::now() < limit, "the run did not start");
            if server.wait_for_hits(3, Duration::from_millis(50)) {
                return Some((child, address));
            }
            if child.try_wait().is_some() {
                let out = child.finish();
                assert!(out.stderr.contains("in use"), "{}", out.stderr);
                return None;
            }
        }
    });
    let status = run(&["status", "--address", &address]).expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["scenarios"]["ext"]["vus"], 1);
    let scaled = run(&["scale", "--vus", "3", "--address", &address]).expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&scaled.stdout).unwrap();
    assert_eq!(v["scenarios"]["ext"]["vus"], 3);
    let refused = run(&["scale", "--vus", "9", "--address", &address]).expect_code(1);
    assert!(
        refused.stderr.contains("above its max-vus 4"),
        "{}",
        refused.stderr
    );
    // 3 VUs now send requests: the request rate rises (observed, not timed).
    let before = server.hits();
    assert!(server.wait_for_hits(before + 30, Duration::from_secs(30)));
    child.interrupt();
    let out = child.finish().expect_code(105);
    assert!(out.stdout.contains("TOTAL RESULTS"));
}

/// Starts `volley run TEST --paused` with `extra` flags on a free control port; returns the run
/// once it says it is paused, and the address.
pub fn start_paused(test: &std::path::Path, extra: &[&str]) -> (Child, String) {
    on_a_free_port(|port| {
        let address = format!("127.0.0.1:{port}");
        let mut child = Child::spawn_piped(
            volley()
                .args(["run", test.to_str().unwrap(), "-q", "--paused", "--address"])
                .arg(&address)
                .args(extra),
        );
        let stderr = child.stderr.take().unwrap();
        match crate::support::try_read_until_line(stderr, "paused:", Duration::from_secs(60)) {
            Ok(_) => Some((child, address)),
            Err(seen) => {
                assert!(seen.contains("in use"), "{seen}");
                None
            }
        }
    })
}

#[test]
fn a_paused_test_waits_for_resume_before_setup_and_load() {
    let server = Server::start();
    let test = test_file(
        &server,
        "paused",
        "[scenarios.main]\nexecutor = \"shared-iterations\"\nvus = 2\niterations = 6\n",
    );
    let (child, address) = start_paused(&test, &[]);
    let status = run(&["status", "--address", &address]).expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["paused"], true, "{v}");
    assert_eq!(
        server.hits(),
        0,
        "VUs are ready, nothing is sent before resume"
    );
    let refused = run(&["scale", "--vus", "3", "--address", &address]).expect_code(1);
    assert!(
        refused.stderr.contains("no externally-controlled scenario"),
        "{}",
        refused.stderr
    );
    let resumed = run(&["resume", "--address", &address]).expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&resumed.stdout).unwrap();
    assert_eq!(v["paused"], false, "{v}");
    child.finish().expect_code(0);
    assert_eq!(server.hits(), 6);
}

/// k6's `minIterationDuration`: a VU waits out the rest of a short iteration (in closed and
/// arrival-rate executors), and `iteration_duration` does not count the wait. The shortest
/// iteration (10 s) is far longer than either scenario, so the counts are exact however late a
/// loaded machine runs the schedule: the end of each scenario cuts the wait.
#[test]
fn min_iteration_duration_pads_short_iterations() {
    let server = Server::start();
    let test = test_file(
        &server,
        "min-iteration",
        "min-iteration-duration = \"10s\"\n\n\
         [scenarios.closed]\nexecutor = \"constant-vus\"\nvus = 1\nduration = \"2s\"\ngracefulStop = \"0s\"\n\n\
         [scenarios.open]\nexecutor = \"constant-arrival-rate\"\nrate = 10\nduration = \"1s\"\n\
         preAllocatedVUs = 2\nmaxVUs = 2\ngracefulStop = \"0s\"\n\n\
         [thresholds]\n\"iterations{scenario:closed}\" = [\"count>=0\"]\n\
         \"iterations{scenario:open}\" = [\"count>=0\"]\n\
         \"iteration_duration{scenario:closed}\" = [\"max<1000\"]\n",
    );
    let s = run_export(&test, &[]);
    let iterations = |scenario: &str| {
        s["metrics"][format!("iterations{{scenario:{scenario}}}")]["values"]["count"]
            .as_f64()
            .unwrap()
    };
    // Unpadded, one VU against a local server runs hundreds of iterations in 2 s; padded, one,
    // and its 2 s of waiting are not in `iteration_duration` (the threshold above).
    assert_eq!(iterations("closed"), 1.0);
    // Two VUs, each busy 10 s from its first start: the other 9 of the 11 starts (0 s to 1 s,
    // both ends, as k6) are dropped.
    assert_eq!(iterations("open"), 2.0);
    assert_eq!(count(&s, "dropped_iterations"), 9.0, "{}", s["metrics"]);
}
