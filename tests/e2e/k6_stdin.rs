//! k6 scripts as their authors run them: `cat script.js | sed … | volley run -` (k6's `k6 run -`),
//! reaching the hosts the script names (a user's own script gets the network, as under k6),
//! narrowed by `--allow-host`; a component piped in is recognised by its magic and keeps the
//! component default (only BASE_URL's origin). The built-in target never stands in for a
//! script's own URL.

use std::path::Path;
use std::process::Command;

use crate::support::{check, component, read_json, root, scratch, Run, Server};

/// `sh -c PIPELINE` with `$VOLLEY` the binary, the JS toolchain and cache of `volley_js()`, and
/// `$URL` the server's URL.
fn pipeline(script: &str, url: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .env("VOLLEY", env!("CARGO_BIN_EXE_volley"))
        .env("URL", url)
        .env("VOLLEY_CACHE_DIR", root().join("target").join("e2e-cache"))
        .env("VOLLEY_JS_TOOLCHAIN", root().join("plugins/montecarlo-js"));
    for var in [
        "VOLLEY_VUS",
        "VOLLEY_DURATION",
        "VOLLEY_ITERATIONS",
        "VOLLEY_STAGES",
        "VOLLEY_ALLOW_HOSTS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn seed() -> String {
    root()
        .join("tests/e2e/fixtures/seed-k6-script.js")
        .display()
        .to_string()
}

/// The seed script piped through sed into `volley run -`, its 10-minute stages replaced by
/// `--vus 2 --duration 2s` as k6's flags replace them; `extra` flags, summary exported to `export`.
fn run_seed(server_url: &str, extra: &str, export: &Path) -> Run {
    let script = format!(
        "cat '{}' | sed \"s|#BASE_URL#|$URL|g\" | \"$VOLLEY\" run - --vus 2 --duration 2s --summary-export '{}' {extra}",
        seed(),
        export.display()
    );
    Run::from_output(pipeline(&script, server_url).output().unwrap())
}

#[test]
fn the_seed_script_piped_into_run_dash_reaches_the_server_written_in_it() {
    let server = Server::start();
    let export = scratch("k6-stdin-seed").join("summary.json");
    let out = run_seed(&server.url(), "", &export).expect_code(0);
    let s = read_json(&export);
    let reqs = s["metrics"]["http_reqs"]["values"]["count"]
        .as_f64()
        .unwrap() as u64;
    assert!(reqs >= 2, "{reqs} requests:\n{}", out.stderr);
    assert_eq!(
        server.hits(),
        reqs,
        "every request reached the script's server"
    );
    let status = check(&s, "is status 200");
    assert_eq!(status["fails"], 0, "{}", out.stderr);
    assert_eq!(status["passes"].as_u64(), Some(reqs));
    assert_eq!(
        s["metrics"]["http_req_failed"]["values"]["passes"], 0,
        "no request failed"
    );
    assert!(
        out.stderr
            .contains("network: unrestricted (your own script; narrow it with --allow-host"),
        "the header says the script may reach any host:\n{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("built-in Monte Carlo target"),
        "the built-in target was started for a script:\n{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("✓ is status 200"),
        "summary:\n{}",
        out.stdout
    );
}

#[test]
fn allow_host_narrows_a_script_and_a_denied_request_never_connects() {
    let server = Server::start();
    let other = Server::start();
    let export = scratch("k6-stdin-narrow").join("summary.json");
    let allow = format!("--allow-host {}", other.url());
    // The thresholds fail (every request is denied): exit 99.
    let out = run_seed(&server.url(), &allow, &export).expect_code(99);
    assert_eq!(
        server.accepted(),
        0,
        "a host outside --allow-host was reached"
    );
    let s = read_json(&export);
    assert_eq!(check(&s, "is status 200")["passes"], 0);
    assert!(
        out.stderr.contains(&format!("network: {}", other.url())),
        "{}",
        out.stderr
    );
}

/// `volley run - ARGS < COMPONENT` with `$URL` as BASE_URL; the summary goes to `export`.
fn run_piped_component(name: &str, url: &str, args: &str, export: &Path) -> Run {
    let script = format!(
        "\"$VOLLEY\" run - -e BASE_URL=$URL -i 2 -q --summary-export '{}' {args} < '{}'",
        export.display(),
        component(name).display()
    );
    Run::from_output(pipeline(&script, url).output().unwrap())
}

#[test]
fn a_component_piped_in_is_sniffed_and_keeps_the_component_default() {
    let server = Server::start();
    let other = Server::start();
    let dir = scratch("k6-stdin-wasm");
    let export = dir.join("probe.json");
    run_piped_component("probe", &server.url(), "", &export).expect_code(0);
    assert_eq!(
        read_json(&export)["metrics"]["iterations"]["values"]["count"],
        2.0
    );
    assert_eq!(server.hits(), 2, "BASE_URL's origin is granted");
    // hostile-options GETs TARGET_URL: another origin is denied without a grant ...
    let target = format!("-e TARGET_URL={}/", other.url());
    let export = dir.join("denied.json");
    run_piped_component("hostile_options", &server.url(), &target, &export);
    assert_eq!(
        other.accepted(),
        0,
        "a component got the network by default"
    );
    assert_eq!(check(&read_json(&export), "status is 200")["passes"], 0);
    // ... and reached once --allow-host grants it.
    let granted = format!("{target} --allow-host {}", other.url());
    let export = dir.join("granted.json");
    run_piped_component("hostile_options", &server.url(), &granted, &export).expect_code(0);
    assert_eq!(other.hits(), 2, "--allow-host grants a component the host");
    assert_eq!(check(&read_json(&export), "status is 200")["passes"], 2);
}

#[test]
fn empty_standard_input_is_a_clear_error() {
    let out = Run::from_output(
        pipeline("\"$VOLLEY\" run - < /dev/null", "http://127.0.0.1:9")
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 107, "{}", out.stderr);
    assert!(
        out.stderr.contains("standard input is empty"),
        "{}",
        out.stderr
    );
}
