//! Hostile plugins against the sandbox (issue 13): each test runs one attack and asserts the
//! observable defence.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{component, read_json, run, scratch, volley, Run, Server};

fn plugin() -> String {
    component("hostile_options").display().to_string()
}

/// Runs the plugin with its embedded options set to `options` and the given variables.
fn run_with_options(options: &str, extra: &[&str]) -> Run {
    let opts = format!("HOSTILE_OPTIONS={options}");
    let mut args = vec!["run", plugin_path(), "-e", &opts, "-q"];
    args.extend_from_slice(extra);
    run(&args)
}

fn plugin_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(plugin)
}

/// A `volley` child that is killed if the test fails before it exits.
struct Volley(Child);

impl Drop for Volley {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Volley {
    fn start(args: &[&str]) -> Volley {
        Volley(
            volley()
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start volley"),
        )
    }

    /// Blocks until the guest printed `line` on its log (stderr). The rest of stderr is drained
    /// by a thread, so the child never writes into a closed pipe.
    fn wait_for_log(&mut self, line: &str) {
        let stderr = self.0.stderr.take().expect("stderr is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let mut seen = String::new();
        for l in rx {
            if l.contains(line) {
                return;
            }
            seen.push_str(&l);
            seen.push('\n');
        }
        panic!("volley exited without logging {line:?}; stderr:\n{seen}");
    }

    /// Sends SIGTERM and waits; returns the exit code and how long the exit took.
    fn terminate(&mut self) -> (i32, Duration) {
        let asked = Instant::now();
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let status = self.0.wait().expect("wait for volley");
        (status.code().unwrap_or(-1), asked.elapsed())
    }
}

#[test]
fn a_plugins_hosts_remap_cannot_reach_a_server_outside_allowed_hosts() {
    let granted = Server::start();
    let other = Server::start();
    let options = format!(
        "iterations = 3\nhosts = {{ \"{}\" = \"{}\" }}",
        granted.addr, other.addr
    );
    let base = format!("BASE_URL={}", granted.url());
    let target = format!("TARGET_URL={}/", granted.url());
    let out = run_with_options(&options, &["-e", &base, "-e", &target]).expect_code(0);
    assert_eq!(other.accepted(), 0, "the remapped server was reached");
    assert_eq!(granted.hits(), 3, "the granted server serves every request");
    assert!(
        out.stderr
            .contains("the plugin's option 'hosts' is ignored"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_plugin_can_neither_write_the_summary_nor_switch_thresholds_off() {
    let other = Server::start();
    let dir = scratch("hostile-export");
    let export = dir.join("planted.json");
    // Every request goes outside allowed-hosts and fails: the plugin's own threshold on
    // failures must still count, and its export path must stay unwritten.
    let options = format!(
        "iterations = 2\nno-thresholds = true\n[summary]\nexport = {:?}\n[thresholds]\nhttp_req_failed = [\"rate<0.01\"]",
        export.display().to_string()
    );
    let target = format!("TARGET_URL={}/", other.url());
    let out = run_with_options(
        &options,
        &["-e", &target, "-e", "BASE_URL=http://127.0.0.1:9"],
    )
    .expect_code(99);
    assert!(!export.exists(), "the plugin chose where the summary went");
    assert_eq!(other.accepted(), 0);
    for key in ["no-thresholds", "summary.export"] {
        assert!(
            out.stderr
                .contains(&format!("the plugin's option '{key}' is ignored")),
            "no warning for {key}: {}",
            out.stderr
        );
    }
}

#[test]
fn a_plugins_env_base_url_grants_it_nothing() {
    let other = Server::start();
    let options = format!(
        "iterations = 1\n[env]\nBASE_URL = \"{0}\"\nTARGET_URL = \"{0}/\"",
        other.url()
    );
    // The user gave no BASE_URL and no allowed-hosts: the built-in target is all the plugin
    // may reach, and the plugin's TARGET_URL is not even set.
    let out = run_with_options(&options, &[]);
    assert_eq!(other.accepted(), 0, "the plugin's BASE_URL was granted");
    assert!(
        out.stderr.contains("the plugin's option 'env' is ignored"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("TARGET_URL is not set"),
        "{}",
        out.stderr
    );
}

#[test]
fn durations_that_cannot_be_held_are_refused_naming_the_key() {
    for bad in ["inf", "NaN", "1e30", "-inf", "99999999999h"] {
        let out = run(&["inspect", "--duration", bad]);
        assert_eq!(out.code, 104, "--duration {bad}: {}", out.stderr);
        // "-inf" reads as a flag, so clap finds --duration without its value.
        let named = if bad.starts_with('-') {
            "a value is required for '--duration <DURATION>' but none was supplied".to_string()
        } else {
            format!("for '--duration <DURATION>': invalid duration \"{bad}\": ")
        };
        assert!(out.stderr.contains(&named), "{}", out.stderr);
    }
    let out = Run::from_output(
        volley()
            .args(["inspect"])
            .env("VOLLEY_DURATION", "NaN")
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 104, "{}", out.stderr);
    let dir = scratch("hostile-durations");
    for (name, text, key) in [
        ("number", "duration = 1e300", "duration"),
        (
            "stage",
            "stages = [{ duration = 1e300, target = 1 }]",
            "stages",
        ),
        ("nan", "duration = nan", "duration"),
        ("setup", "setup-timeout = \"inf\"", "setup-timeout"),
    ] {
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, text).unwrap();
        let out = run(&["inspect", file.to_str().unwrap()]);
        assert_eq!(out.code, 104, "{text}: {}", out.stderr);
        assert!(out.stderr.contains(key), "{text}: {}", out.stderr);
    }
}

/// A test file running the plugin with `SPIN_IN=export` and `extra` options.
fn spinning_test(dir: &Path, export: &str, extra: &str) -> String {
    let file = dir.join("test.toml");
    std::fs::write(
        &file,
        format!(
            "plugin = {:?}\niterations = 1\nsandbox = {{ allowed-hosts = [\"http://127.0.0.1:9\"] }}\n{extra}\n[env]\nSPIN_IN = \"{export}\"\nTARGET_URL = \"http://127.0.0.1:9/\"\n",
            plugin()
        ),
    )
    .unwrap();
    file.display().to_string()
}

#[test]
fn setup_that_spins_is_ended_at_setup_timeout_with_k6s_exit_code() {
    let dir = scratch("hostile-setup");
    let test = spinning_test(&dir, "setup", "setup-timeout = \"1s\"");
    let out = run(&["run", &test, "-q"]).expect_code(100);
    assert!(
        out.stderr.contains("setup() did not finish within 1s"),
        "{}",
        out.stderr
    );
}

#[test]
fn teardown_that_spins_is_ended_at_teardown_timeout_and_the_summary_is_kept() {
    let dir = scratch("hostile-teardown");
    let test = spinning_test(&dir, "teardown", "teardown-timeout = \"1s\"");
    let export = dir.join("summary.json");
    let out = run(&[
        "run",
        &test,
        "-q",
        "--summary-export",
        export.to_str().unwrap(),
    ])
    .expect_code(101);
    assert!(
        out.stderr.contains("teardown() did not finish within 1s"),
        "{}",
        out.stderr
    );
    let summary = read_json(&export);
    assert_eq!(
        summary["metrics"]["iterations"]["values"]["count"], 1.0,
        "{summary}"
    );
}

#[test]
fn sigterm_ends_a_plugin_spinning_in_options_or_setup() {
    for export in ["options", "setup"] {
        let dir = scratch(&format!("hostile-sigterm-{export}"));
        let test = spinning_test(&dir, export, "");
        let mut child = Volley::start(&["run", &test]);
        child.wait_for_log(&format!("spinning in {export}"));
        let (code, took) = child.terminate();
        assert_eq!(code, 105, "spinning in {export}");
        assert!(
            took < Duration::from_secs(10),
            "SIGTERM took {took:?} to end a run spinning in {export}"
        );
    }
}

#[test]
fn inspect_prints_the_sandbox_the_run_enforces_not_the_plugins_wishes() {
    let out = run(&[
        "inspect",
        plugin_path(),
        "-e",
        "BASE_URL=http://127.0.0.1:5/api",
        "-e",
        "HOSTILE_OPTIONS=[sandbox]\nallowed-hosts = [\"*\"]\nmax-memory-mib = 4096",
    ])
    .expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let sandbox = &json["sandbox"];
    assert_eq!(
        sandbox["allowed_hosts"],
        serde_json::json!(["http://127.0.0.1:5"]),
        "{sandbox}"
    );
    assert_eq!(sandbox["max_memory_bytes"], 64 << 20, "{sandbox}");
    assert_eq!(sandbox["setup_timeout_ms"], 60_000, "{sandbox}");
    assert!(
        out.stderr
            .contains("the plugin's option 'sandbox' is ignored"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_reader_that_closes_stdout_and_stderr_does_not_crash_the_run() {
    let server = Server::start();
    let base = format!("BASE_URL={}", server.url());
    let mut child = volley()
        .args(["run", plugin_path(), "-e", &base, "-e"])
        .arg(format!("TARGET_URL={}/", server.url()))
        .args(["--iterations", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start volley");
    // Both pipes closed before volley writes its banner, log lines or summary.
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().expect("wait for volley");
    assert_eq!(status.code(), Some(0), "a closed pipe ended the run");
    assert_eq!(server.hits(), 3);
}

/// The options pass of the user's own script may grow to 1 GiB (a `SharedArray` parsing a large
/// file); a component's keeps the sandbox's memory cap: one that grows 256 MiB there fails the
/// run instead of holding it.
#[test]
fn a_plugins_options_pass_keeps_the_sandbox_memory_cap() {
    let out = run(&["run", plugin_path(), "-e", "GROW_IN_OPTIONS=256", "-i", "1"]);
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("grew 256 MiB"), "{}", out.stderr);
    assert!(!out.stdout.contains("grew 256 MiB"), "{}", out.stdout);
    // Within the cap, the same pass runs (the variable reaches it).
    let out = run(&["run", plugin_path(), "-e", "GROW_IN_OPTIONS=8", "-i", "1"]);
    assert!(out.stderr.contains("grew 8 MiB"), "{}", out.stderr);
}
