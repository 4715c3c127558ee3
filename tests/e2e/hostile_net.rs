//! Hostile plugins against the sandbox (issue 13): each test runs one attack through the network
//! imports (`tests/components/hostile-net`) against real servers on 127.0.0.1 and asserts the
//! observable defence: the guest's documented refusal (a check in the JSON summary), the end of
//! the run, and where memory is the attack, the host's peak RSS.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use test_servers::grpc::GrpcServer;
use test_servers::ws::WsServer;

use crate::support::{check, component, read_json, scratch, volley, Child, Run, Server};

/// Longest any attack may keep the run going.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Writes `NAME.toml` running entry `exec` of hostile-net once on one VU, with `top` (options),
/// `allowed` hosts, the counters in `counters` and `env` lines.
fn attack(
    name: &str,
    exec: &str,
    top: &str,
    allowed: &[String],
    counters: &[&str],
    env: &str,
) -> PathBuf {
    let path = scratch(name).join(format!("{name}.toml"));
    let allowed: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
    let metrics: String = counters
        .iter()
        .map(|c| format!("{c} = \"counter\"\n"))
        .collect();
    std::fs::write(
        &path,
        format!(
            "plugin = \"{}\"\n{top}\n[scenarios.attack]\nexecutor = \"per-vu-iterations\"\nvus = 1\n\
             iterations = 1\nexec = \"{exec}\"\n[metrics]\n{metrics}[sandbox]\n\
             allowed-hosts = [{}]\nmax-memory-mib = 256\n[env]\n{env}\n",
            component("hostile_net").display(),
            allowed.join(", ")
        ),
    )
    .unwrap();
    path
}

/// The run's output, its summary and the child's peak RSS in MiB (`VmHWM`, read by polling
/// `/proc` while it runs: a measurement, the exit is what ends the loop).
fn run_measured(test: &Path, extra: &[&str]) -> (Run, serde_json::Value, u64) {
    let export = test.with_extension("json");
    let (out, err) = (test.with_extension("out"), test.with_extension("err"));
    let mut child = Child::spawn(
        volley()
            .args(["run", test.to_str().unwrap(), "-q", "--summary-export"])
            .arg(&export)
            .args(extra)
            .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&err).unwrap())),
    );
    let status_file = format!("/proc/{}/status", child.id());
    let started = Instant::now();
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait() {
            break status;
        }
        if let Some(kib) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|s| hwm_kib(&s))
        {
            peak_kib = peak_kib.max(kib);
        }
        // Dropping the child kills it.
        assert!(
            started.elapsed() <= RUN_LIMIT,
            "the run did not end within {RUN_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
    }
    .expect_code(0);
    let peak_mib = peak_kib >> 10;
    eprintln!("{}: peak RSS {peak_mib} MiB", test.display());
    (run, read_json(&export), peak_mib)
}

/// `VmHWM` of a `/proc/PID/status` text, in KiB.
fn hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn counter(s: &serde_json::Value, name: &str) -> f64 {
    s["metrics"][name]["values"]["count"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {name} in {}", s["metrics"]))
}

fn passes(s: &serde_json::Value, name: &str) {
    let c = check(s, name);
    assert_eq!(
        (c["passes"].as_u64(), c["fails"].as_u64()),
        (Some(1), Some(0)),
        "{name}: {c}"
    );
}

/// Regression: the queue of messages arriving while `ping` waits grew without bound (4,096
/// echoed 64 KiB messages: 256 MiB held by the host). Now `ping` fails at 16 MiB.
#[test]
fn a_websocket_flood_during_ping_is_refused_and_memory_stays_bounded() {
    let server = WsServer::start(1).unwrap();
    let test = attack(
        "net-ws-flood",
        "ws-flood",
        "",
        &[format!("http://{}", server.addr)],
        &[],
        &format!("WS_URL = \"{}\"\nFLOOD = \"4096\"", server.url()),
    );
    let (_, s, peak_mib) = run_measured(&test, &[]);
    passes(&s, "ping refused past the queue cap");
    assert!(peak_mib < 200, "peak RSS {peak_mib} MiB");
}

/// Regression: WebSocket sessions per VU were not capped.
#[test]
fn websocket_sessions_are_capped_per_vu() {
    let server = WsServer::start(1).unwrap();
    let test = attack(
        "net-ws-hoard",
        "ws-hoard",
        "",
        &[format!("http://{}", server.addr)],
        &["ws_hoard_opened"],
        &format!("WS_URL = \"{}\"", server.url()),
    );
    let (_, s, _) = run_measured(&test, &[]);
    passes(&s, "sessions refused past the per-VU cap");
    assert_eq!(counter(&s, "ws_hoard_opened"), 64.0);
    assert_eq!(WsServer::count(&server.stats.sessions), 64);
}

/// Regression: gRPC clients per VU were not capped.
#[test]
fn grpc_clients_are_capped_per_vu() {
    let test = attack(
        "net-grpc-hoard",
        "grpc-hoard",
        "",
        &[],
        &["grpc_hoard_loaded"],
        "",
    );
    let (_, s, _) = run_measured(&test, &[]);
    passes(&s, "clients refused past the per-VU cap");
    assert_eq!(counter(&s, "grpc_hoard_loaded"), 64.0);
}

/// Regression: a stream of small messages was kept whole (150,000 replies); now it ends with
/// RESOURCE_EXHAUSTED at 100,000 messages.
#[test]
fn grpc_streams_are_cut_at_the_message_cap() {
    let server = GrpcServer::start(1).unwrap();
    let target = server.target();
    let test = attack(
        "net-grpc-flood",
        "grpc-flood",
        "",
        &[format!("http://{target}")],
        &["grpc_flood_kept"],
        &format!("GRPC_TARGET = \"{target}\"\nCOUNT = \"150000\""),
    );
    let (_, s, _) = run_measured(&test, &[]);
    passes(&s, "stream cut at the message cap");
    assert_eq!(counter(&s, "grpc_flood_kept"), 100_000.0);
}

/// Regression: every distinct `.proto` set was compiled (and cached for good), whatever its size.
#[test]
fn proto_compilation_is_capped_per_run() {
    let test = attack(
        "net-proto-churn",
        "proto-churn",
        "",
        &[],
        &["proto_sets_compiled"],
        "",
    );
    let (_, s, _) = run_measured(&test, &[]);
    passes(&s, "distinct sets refused past the per-run cap");
    passes(&s, "oversized sources refused");
    assert_eq!(counter(&s, "proto_sets_compiled"), 32.0);
}

/// Regression: a batch of any length was sent (1,001 requests); now none is.
#[test]
fn a_batch_longer_than_the_cap_sends_nothing() {
    let server = Server::start();
    let test = attack(
        "net-batch-long",
        "batch-long",
        "",
        &[server.url()],
        &[],
        &format!("BASE_URL = \"{}\"", server.url()),
    );
    let (_, s, _) = run_measured(&test, &[]);
    passes(&s, "long batch refused");
    assert_eq!(server.accepted(), 0);
}

/// Regression: a batch held every response (400 bodies of 1 MiB); now at most 64 MiB of them.
#[test]
fn a_batch_holds_bounded_bytes_and_memory_stays_bounded() {
    let files = scratch("net-batch-files");
    std::fs::write(files.join("big"), vec![b'v'; 1 << 20]).unwrap();
    let server = Server::with_files(&files);
    let test = attack(
        "net-batch-hoard",
        "batch-hoard",
        "",
        &[server.url()],
        &["batch_bodies_kept"],
        &format!("BASE_URL = \"{}\"\nCOUNT = \"400\"", server.url()),
    );
    let (_, s, peak_mib) = run_measured(&test, &[]);
    passes(&s, "responses past the batch's bytes refused");
    assert_eq!(counter(&s, "batch_bodies_kept"), 64.0);
    assert!(peak_mib < 400, "peak RSS {peak_mib} MiB");
}

/// Regression: compression stages were unbounded and ran before the sandbox check (32 MiB
/// compressed twice for a host that was then refused).
#[test]
fn compression_is_capped_and_denied_requests_cost_nothing() {
    let server = Server::start();
    let other = Server::start();
    let test = attack(
        "net-compress",
        "compress",
        "",
        &[server.url()],
        &["denied_compress_ms"],
        &format!(
            "BASE_URL = \"{}\"\nOTHER_URL = \"{}\"",
            server.url(),
            other.url()
        ),
    );
    let (_, s, _) = run_measured(&test, &[]);
    passes(&s, "three stages refused");
    passes(&s, "denied request refused");
    assert_eq!((server.accepted(), other.accepted()), (0, 0));
    // Compressing 32 MiB of noise twice takes seconds; a refusal takes well under 200 ms.
    let ms = counter(&s, "denied_compress_ms");
    assert!(ms < 200.0, "{ms} ms");
}

/// Regression: `--http-debug=full` printed whole bodies (1 MiB each way) with their control
/// characters.
#[test]
fn http_debug_output_is_escaped_and_bounded() {
    let files = scratch("net-debug-files");
    let mut evil = b"\x1b]0;got\x07\x1b[2J".to_vec();
    evil.extend(std::iter::repeat_n(b'v', 1 << 20));
    std::fs::write(files.join("evil"), evil).unwrap();
    let server = Server::with_files(&files);
    let test = attack(
        "net-debug",
        "debug",
        "",
        &[server.url()],
        &[],
        &format!("BASE_URL = \"{}\"", server.url()),
    );
    let (out, s, _) = run_measured(&test, &["--http-debug=full"]);
    passes(&s, "debugged requests succeed");
    let head = &out.stderr[..out.stderr.len().min(2000)];
    assert!(out.stderr.contains("\\u{1b}]0;sent\\u{7}"), "{head}");
    assert!(out.stderr.contains("\\u{1b}]0;got\\u{7}"), "{head}");
    assert!(
        !out.stderr.contains('\x1b') && !out.stderr.contains('\x07'),
        "{head}"
    );
    assert!(out.stderr.len() < 128 << 10, "{} bytes", out.stderr.len());
}
