//! The sandbox against hostile components: each attack is contained, and a well-behaved
//! scenario in the same test keeps its request rate.

use crate::support::{check, component, read_json, run, run_with_summary, scratch, Server};

/// A test with a well-behaved scenario (`good`: 20 iterations/s for 3 s, 61 starts) beside a
/// hostile one running entry point `exec`, plus extra TOML, extra thresholds (lines of the
/// `[thresholds]` table) and variables. Returns (exit code, summary, stderr).
fn beside_good(
    server: &Server,
    name: &str,
    hostile: &str,
    extra: &str,
    env_extra: &str,
) -> (i32, serde_json::Value, String) {
    beside_good_with(server, name, hostile, extra, "", env_extra)
}

fn beside_good_with(
    server: &Server,
    name: &str,
    hostile: &str,
    extra: &str,
    thresholds: &str,
    env_extra: &str,
) -> (i32, serde_json::Value, String) {
    let dir = scratch(name);
    let test = dir.join("test.toml");
    std::fs::write(
        &test,
        format!(
            r#"plugin = "{plugin}"
{extra}
[scenarios.good]
executor = "constant-arrival-rate"
rate = 20
duration = "3s"
preAllocatedVUs = 4

[scenarios.bad]
executor = "constant-vus"
vus = 2
duration = "3s"
gracefulStop = "1s"
exec = "{hostile}"

[thresholds]
"iterations{{scenario:good}}" = ["count>=55"]
"http_req_failed{{scenario:good}}" = ["rate==0"]
{thresholds}

[env]
BASE_URL = "{base}"
{env_extra}
"#,
            plugin = component("hostile").display(),
            base = server.url(),
        ),
    )
    .unwrap();
    let export = dir.join("s.json");
    let out = run(&[
        "run",
        test.to_str().unwrap(),
        "--summary-export",
        export.to_str().unwrap(),
        "-q",
    ]);
    (out.code, read_json(&export), out.stderr)
}

fn error_count(s: &serde_json::Value, needle: &str) -> u64 {
    s["iteration_errors"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.contains(needle))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum()
}

#[test]
fn busy_loop_is_preempted_and_ended_at_the_iteration_deadline() {
    let server = Server::start();
    // Every bad iteration lasts at least the deadline; the shortest must end well before twice
    // it, which a deadline several times too long could not.
    let (code, s, stderr) = beside_good_with(
        &server,
        "busy",
        "busy",
        "[sandbox]\nmax-iteration-duration = \"500ms\"",
        "\"iteration_duration{scenario:bad}\" = [\"min>=500\", \"min<1000\"]",
        "",
    );
    assert_eq!(
        code, 0,
        "the good scenario kept its rate and the deadline held: {stderr}"
    );
    assert!(
        error_count(&s, "max-iteration-duration") >= 4,
        "{}",
        s["iteration_errors"]
    );
}

#[test]
fn cpu_budget_ends_a_spinning_iteration() {
    let server = Server::start();
    // A spinning guest uses one tick per millisecond it runs, so each bad iteration lasts at
    // least the budget. The shortest must end within 10x it: a budget read in the wrong unit
    // (50 s) or ten times too large could not, and a loaded machine that delays the epoch
    // ticker (3x was seen at load average 10 on 2 cores) still passes.
    let (code, s, stderr) = beside_good_with(
        &server,
        "cpu",
        "busy",
        "[sandbox]\ncpu-budget = \"50ms\"",
        "\"iteration_duration{scenario:bad}\" = [\"min>=50\", \"min<500\"]",
        "",
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        error_count(&s, "CPU budget exceeded") >= 4,
        "{}",
        s["iteration_errors"]
    );
}

#[test]
fn memory_bomb_traps_at_the_cap() {
    let server = Server::start();
    // The bomb records the MiB it holds after each chunk: at a 16 MiB cap (code and data
    // included) it never holds 16 chunks, and it must have held several before the trap.
    let (code, s, stderr) = beside_good_with(
        &server,
        "membomb",
        "membomb",
        "[sandbox]\nmax-memory-mib = 16\n[metrics]\nmembomb_mib = \"trend\"",
        "membomb_mib = [\"max<16\", \"max>=8\"]",
        "",
    );
    assert_eq!(code, 0, "the cap held at 16 MiB: {stderr}");
    assert!(error_count(&s, "trap") >= 2, "{}", s["iteration_errors"]);
}

#[test]
fn trapping_every_iteration_does_not_stop_the_run() {
    let server = Server::start();
    let (code, s, stderr) = beside_good(&server, "trap", "trap", "", "");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        error_count(&s, "unreachable") >= 10,
        "{}",
        s["iteration_errors"]
    );
    assert_eq!(
        stderr.matches("iteration failed: trap").count(),
        1,
        "logged once: {stderr}"
    );
}

#[test]
fn log_spam_is_rate_limited() {
    let server = Server::start();
    let (code, _, stderr) = beside_good(&server, "spam", "spam", "", "");
    assert_eq!(code, 0, "{stderr}");
    let lines = stderr.matches("spam line").count();
    assert!(
        lines <= 250,
        "at most ~50 guest lines per second reach the log, saw {lines}"
    );
    assert!(
        stderr.contains("guest log lines were dropped by the rate limit"),
        "{stderr}"
    );
}

#[test]
fn hosts_outside_allowed_hosts_are_denied_without_connecting() {
    let server = Server::start();
    let other = Server::start();
    let (code, s, stderr) = beside_good(
        &server,
        "denied",
        "denied",
        "",
        &format!("OTHER_URL = \"{}\"", other.url()),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(other.accepted(), 0, "no connection reached the other host");
    let denied = check(&s, "other host denied");
    assert!(denied["passes"].as_u64().unwrap() > 0);
    assert_eq!(denied["fails"], 0);
    // Denied requests are failed requests with their own error code.
    let failed = &s["metrics"]["http_req_failed"]["values"];
    assert_eq!(
        failed["passes"], denied["passes"],
        "each denied request counts as failed"
    );
}

#[test]
fn the_host_environment_is_invisible() {
    let server = Server::start();
    let (code, s, stderr) = beside_good(&server, "env", "env", "", "");
    assert_eq!(code, 0, "{stderr}");
    let env = check(&s, "host env invisible");
    assert!(env["passes"].as_u64().unwrap() > 0);
    assert_eq!(env["fails"], 0);
}

#[test]
fn filesystem_and_socket_imports_are_refused_unless_allowed() {
    let server = Server::start();
    let plugin = component("hostile_io");
    let out = run(&[
        "run",
        plugin.to_str().unwrap(),
        "-e",
        &format!("BASE_URL={}", server.url()),
    ])
    .expect_code(107);
    assert!(
        out.stderr
            .contains("wants imports the sandbox does not grant"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("wasi:filesystem/"), "{}", out.stderr);
    assert!(out.stderr.contains("wasi:sockets/"), "{}", out.stderr);

    // Allowed, the imports link — but nothing is preopened and no socket may connect.
    let dir = scratch("io");
    let test = dir.join("io.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"{}\"\n[sandbox]\nallow-imports = [\"wasi:filesystem/*\", \"wasi:sockets/*\"]\n[scenarios.file]\nexecutor = \"shared-iterations\"\niterations = 2\n[scenarios.socket]\nexecutor = \"shared-iterations\"\niterations = 2\nexec = \"socket\"\n[env]\nBASE_URL = \"{}\"\nSOCKET_ADDR = \"{}\"\n",
            plugin.display(),
            server.url(),
            server.addr
        ),
    )
    .unwrap();
    let (_, s) = run_with_summary(&test, &[], 0);
    for name in ["host file unreadable", "socket refused"] {
        let c = check(&s, name);
        assert_eq!(
            (c["passes"].as_u64(), c["fails"].as_u64()),
            (Some(2), Some(0)),
            "{name}"
        );
    }
    assert_eq!(server.accepted(), 0, "the socket never reached the server");
}
