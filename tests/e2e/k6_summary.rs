//! k6's `handleSummary(data)` and jslib's `textSummary`, against the real k6's data and text for
//! the same script (`fixtures/k6-handle-summary.js`), recorded in `fixtures/k6-handle-summary.json`
//! (re-record: `record_k6_handle_summary`), so CI needs no k6.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{read_json, root, scratch, volley_js, Run, Server};

fn fixture(name: &str) -> PathBuf {
    root().join("tests/e2e/fixtures").join(name)
}

/// k6's recording: `data` (what its handleSummary got), `text` and `color` (what jslib's
/// textSummary made of it, without and with colours).
fn recorded() -> Value {
    read_json(&fixture("k6-handle-summary.json"))
}

/// `volley run SCRIPT -q ARGS` in `dir` (where handleSummary's files go).
fn run_in(dir: &Path, script: &Path, args: &[&str]) -> Run {
    Run::from_output(
        volley_js()
            .current_dir(dir)
            .args(["run", script.to_str().unwrap(), "-q"])
            .args(args)
            .output()
            .unwrap(),
    )
}

/// Writes `name` in `dir` with `text`; returns its path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn text_summary_prints_what_k6s_prints_for_the_same_data() {
    let k6 = recorded();
    let dir = scratch("k6-text-summary");
    let script = write(
        &dir,
        "text.js",
        &format!(
            "import {{ textSummary }} from 'https://jslib.k6.io/k6-summary/0.0.2/index.js';\n\
             const DATA = {};\n\
             export const options = {{ vus: 1, iterations: 1 }};\n\
             export default function () {{}}\n\
             export function handleSummary() {{\n\
               return {{ stdout: textSummary(DATA, {{ indent: ' ', enableColors: false }}),\n\
                        'color.txt': textSummary(DATA, {{ enableColors: true }}) }};\n\
             }}\n",
            k6["data"]
        ),
    );
    let out = run_in(&dir, &script, &[]).expect_code(0);
    assert_eq!(out.stdout, k6["text"].as_str().unwrap(), "left: Volley's");
    let color = std::fs::read_to_string(dir.join("color.txt")).unwrap();
    assert_eq!(color, k6["color"].as_str().unwrap(), "left: Volley's");
}

/// The keys of an object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

#[test]
fn handle_summary_gets_k6s_data_and_replaces_the_default_summary() {
    let k6 = &recorded()["data"];
    let server = Server::start();
    let dir = scratch("k6-handle-summary");
    let base = format!("BASE_URL={}", server.url());
    // my_counter's threshold is crossed on purpose (the ✗ mark): exit 99, as k6's.
    let out = run_in(&dir, &fixture("k6-handle-summary.js"), &["-e", &base]).expect_code(99);
    assert!(!out.stdout.contains("TOTAL RESULTS"), "{}", out.stdout);
    let volley = read_json(&dir.join("summary.json"));
    assert_eq!(keys(&volley), keys(k6));
    assert_eq!(volley["options"], k6["options"]);
    assert_eq!(keys(&volley["state"]), keys(&k6["state"]));
    assert_eq!(keys(&volley["metrics"]), keys(&k6["metrics"]));
    for name in keys(&k6["metrics"]) {
        let (v, k) = (&volley["metrics"][&name], &k6["metrics"][&name]);
        assert_eq!(keys(v), keys(k), "{name}");
        assert_eq!(v["type"], k["type"], "{name}");
        assert_eq!(v["contains"], k["contains"], "{name}");
        assert_eq!(keys(&v["values"]), keys(&k["values"]), "{name}");
        assert_eq!(v["thresholds"], k["thresholds"], "{name}");
    }
    // What is counted, not timed, is the same number.
    for (metric, value) in [
        ("http_reqs", "count"),
        ("iterations", "count"),
        ("my_counter", "count"),
        ("checks", "passes"),
        ("checks", "fails"),
        ("http_req_failed", "passes"),
        ("http_req_failed", "fails"),
        ("vus_max", "max"),
        ("my_trend{a:b}", "max"),
    ] {
        assert_eq!(
            volley["metrics"][metric]["values"][value], k6["metrics"][metric]["values"][value],
            "{metric} {value}"
        );
    }
    assert_eq!(volley["root_group"], k6["root_group"]);
    assert_eq!(server.hits(), 3);
    // The groups and checks part of the text is all counts: the same lines as k6's.
    let k6_text = recorded()["text"].as_str().unwrap().to_string();
    let checks_part = |t: &str| -> String {
        t.lines()
            .take_while(|l| !l.contains("checks...."))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(checks_part(&out.stdout), checks_part(&k6_text));
    assert!(dir.join("summary-color.txt").is_file());
}

/// A script whose handleSummary does what `MODE` says, built once.
fn modes_script(dir: &Path) -> PathBuf {
    write(
        dir,
        "modes.js",
        "export const options = { vus: 1, iterations: 1, handleSummaryTimeout: __ENV.HS_TIMEOUT || '2m' };\n\
         export default function () {}\n\
         export function handleSummary(data) {\n\
           switch (__ENV.MODE) {\n\
             case 'throw': throw new Error('summary went wrong');\n\
             case 'spin': for (;;) {}\n\
             case 'huge': return { stdout: 'x'.repeat(17 * 1024 * 1024) };\n\
             case 'many': { const o = {}; for (let i = 0; i < 65; i++) o[`f${i}.txt`] = 'x'; return o; }\n\
             case 'files': return { stdout: 'printed\\n', stderr: 'to stderr\\n', 'out.txt': 'written', 'bin.dat': new Uint8Array([0, 1, 255]) };\n\
             default: return {};\n\
           }\n\
         }\n",
    )
}

#[test]
fn a_failing_or_hostile_handle_summary_falls_back_to_the_default_summary() {
    let dir = scratch("k6-summary-modes");
    let script = modes_script(&dir);
    let out = run_in(&dir, &script, &["-e", "MODE=throw"]).expect_code(0);
    assert!(out.stdout.contains("TOTAL RESULTS"), "{}", out.stdout);
    assert!(
        out.stderr.contains("handleSummary") && out.stderr.contains("summary went wrong"),
        "{}",
        out.stderr
    );
    // More than the host holds or writes: nothing of it is printed or written. (With the
    // default 64 MiB of guest memory the guest traps first: its memory cap bounds it too.)
    let roomy = write(
        &dir,
        "roomy.toml",
        "plugin = \"modes.js\"\n[sandbox]\nmax-memory-mib = 256\n[env]\nMODE = \"huge\"\n",
    );
    let out = run_in(&dir, &roomy, &[]).expect_code(0);
    assert!(out.stdout.contains("TOTAL RESULTS"), "{}", out.stdout);
    assert!(!out.stdout.contains("xxxx"));
    assert!(
        out.stderr.contains("more than the 16777216 bytes"),
        "{}",
        out.stderr
    );
    let out = run_in(&dir, &script, &["-e", "MODE=many"]).expect_code(0);
    assert!(
        out.stderr.contains("65 outputs, more than the 64"),
        "{}",
        out.stderr
    );
    assert!(!dir.join("f0.txt").exists());
    // A handleSummary that never returns is ended after `handleSummaryTimeout` (k6's option;
    // 2 minutes by default), and the default summary is printed.
    let out = run_in(&dir, &script, &["-e", "MODE=spin", "-e", "HS_TIMEOUT=1s"]).expect_code(0);
    assert!(out.stdout.contains("TOTAL RESULTS"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("handleSummary() did not finish within 1s"),
        "{}",
        out.stderr
    );
    // Files of the user's own script are written, binary ones byte for byte.
    let out = run_in(&dir, &script, &["-e", "MODE=files"]).expect_code(0);
    assert_eq!(out.stdout, "printed\n");
    assert!(out.stderr.contains("to stderr"), "{}", out.stderr);
    assert_eq!(std::fs::read(dir.join("out.txt")).unwrap(), b"written");
    assert_eq!(std::fs::read(dir.join("bin.dat")).unwrap(), [0, 1, 255]);
}

#[test]
fn a_component_may_not_write_summary_files() {
    let dir = scratch("k6-summary-component");
    let script = modes_script(&dir);
    let wasm = dir.join("modes.wasm");
    Run::from_output(
        volley_js()
            .args([
                "build",
                script.to_str().unwrap(),
                "-o",
                wasm.to_str().unwrap(),
            ])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    std::fs::remove_file(&script).unwrap();
    // The JS engine's unused wasi:filesystem import is granted as a user would grant it.
    let test = write(
        &dir,
        "component.toml",
        "plugin = \"modes.wasm\"\n[sandbox]\nallow-imports = [\"wasi:filesystem/*\"]\n[env]\nMODE = \"files\"\n",
    );
    let out = run_in(&dir, &test, &[]).expect_code(0);
    assert_eq!(out.stdout, "printed\n");
    assert!(!dir.join("out.txt").exists() && !dir.join("bin.dat").exists());
    let warning: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("were not written"))
        .collect();
    assert_eq!(warning.len(), 1, "{}", out.stderr);
    assert!(warning[0].contains("bin.dat, out.txt"), "{}", warning[0]);
    // A component's own options cannot lengthen its handleSummary's time: the user's can
    // shorten it, and a spinning one is ended.
    let spin = write(
        &dir,
        "spin.toml",
        "plugin = \"modes.wasm\"\nhandle-summary-timeout = \"1s\"\n[sandbox]\nallow-imports = [\"wasi:filesystem/*\"]\n[env]\nMODE = \"spin\"\nHS_TIMEOUT = \"10h\"\n",
    );
    let out = run_in(&dir, &spin, &[]).expect_code(0);
    assert!(out.stdout.contains("TOTAL RESULTS"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("handleSummary() did not finish within 1s"),
        "{}",
        out.stderr
    );
}

/// Records `fixtures/k6-handle-summary.json` from the real k6: `VOLLEY_RECORD_K6=$(command -v
/// k6)` and `VOLLEY_RECORD_K6_SUMMARY=PATH` of jslib's k6-summary 0.0.2 (k6 imports it as a
/// file: this machine has no internet), then `cargo test --release --test e2e -- --ignored
/// record_k6_handle_summary`. K6_NO_USAGE_REPORT=true.
#[test]
#[ignore = "records the fixture with a real k6 named by VOLLEY_RECORD_K6"]
fn record_k6_handle_summary() {
    let k6 = std::env::var("VOLLEY_RECORD_K6").expect("VOLLEY_RECORD_K6=path of a k6 binary");
    let jslib = std::env::var("VOLLEY_RECORD_K6_SUMMARY")
        .expect("VOLLEY_RECORD_K6_SUMMARY=path of jslib's k6-summary 0.0.2");
    let jslib = std::path::absolute(jslib).unwrap();
    let dir = scratch("k6-record-summary");
    let text = std::fs::read_to_string(fixture("k6-handle-summary.js"))
        .unwrap()
        .replace(
            "https://jslib.k6.io/k6-summary/0.0.2/index.js",
            &format!("file://{}", jslib.display()),
        );
    let script = write(&dir, "script.js", &text);
    let server = Server::start();
    let out = Command::new(&k6)
        .current_dir(&dir)
        .env("K6_NO_USAGE_REPORT", "true")
        .args(["run", "-q", "-e"])
        .arg(format!("BASE_URL={}", server.url()))
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(99),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = serde_json::json!({
        "data": read_json(&dir.join("summary.json")),
        "text": String::from_utf8(out.stdout).unwrap(),
        "color": std::fs::read_to_string(dir.join("summary-color.txt")).unwrap(),
    });
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    std::fs::write(fixture("k6-handle-summary.json"), text).unwrap();
}
