//! The Monte Carlo scenario written in JavaScript (k6 script), Python and C, each built from
//! source with its real toolchain, run with one test config against a local server: the same
//! requests, checks and embedded options as the Rust plugin.
//!
//! The toolchains are not optional here: `.ci/run` installs them, and a missing one fails the
//! test with a message naming it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::{check, root, run, run_with_summary, scratch, volley, Server};

/// VUs and iterations per VU of the shared test config.
const VUS: u64 = 2;
const ITERATIONS: u64 = 3;

/// The one test config every language runs: `plugin` (absent: the built-in Rust scenario).
/// The JS and Python engines import `wasi:filesystem` (and CPython `wasi:sockets`), unused:
/// nothing is preopened or reachable. The config allows them; that changes nothing for the Rust
/// and C components.
fn test_config(server: &Server, name: &str, plugin: Option<&Path>) -> PathBuf {
    let path = scratch(name).join(format!("{name}.toml"));
    let plugin = plugin
        .map(|p| format!("plugin = \"{}\"\n", p.display()))
        .unwrap_or_default();
    std::fs::write(
        &path,
        format!(
            r#"{plugin}
[env]
BASE_URL = "{}"

[scenarios.montecarlo]
executor = "per-vu-iterations"
vus = {VUS}
iterations = {ITERATIONS}

[sandbox]
allow-imports = ["wasi:filesystem/*", "wasi:sockets/*"]
max-memory-mib = 256
"#,
            server.url()
        ),
    )
    .unwrap();
    path
}

/// Request, check and iteration counts of one run, and the requests the server saw.
#[derive(Debug, PartialEq)]
struct Counts {
    http_reqs: f64,
    failed: u64,
    iterations: f64,
    check_passes: u64,
    check_fails: u64,
    server_hits: u64,
    paths: Vec<String>,
}

fn run_counts(name: &str, plugin: Option<&Path>) -> Counts {
    let server = Server::start();
    let test = test_config(&server, name, plugin);
    let (out, s) = run_with_summary(&test, &[], 0);
    assert!(
        s["iteration_errors"]
            .as_object()
            .is_none_or(|e| e.is_empty()),
        "{name}: iterations failed: {}\n{}",
        s["iteration_errors"],
        out.stderr
    );
    let status = check(&s, "is status 200");
    Counts {
        http_reqs: s["metrics"]["http_reqs"]["values"]["count"]
            .as_f64()
            .unwrap(),
        failed: s["metrics"]["http_req_failed"]["values"]["passes"]
            .as_u64()
            .unwrap(),
        iterations: s["metrics"]["iterations"]["values"]["count"]
            .as_f64()
            .unwrap(),
        check_passes: status["passes"].as_u64().unwrap(),
        check_fails: status["fails"].as_u64().unwrap(),
        server_hits: server.hits(),
        paths: server.paths(),
    }
}

/// The Rust plugin's counts under the shared config, computed once.
fn rust_counts() -> &'static Counts {
    static COUNTS: OnceLock<Counts> = OnceLock::new();
    COUNTS.get_or_init(|| {
        let c = run_counts("lang-rust", None);
        let n = VUS * ITERATIONS;
        assert_eq!(
            (c.http_reqs, c.iterations, c.check_passes, c.server_hits),
            (n as f64, n as f64, n, n),
            "the Rust reference run: {c:?}"
        );
        c
    })
}

/// `volley inspect` of a component (absent: the built-in one): its embedded stages and
/// thresholds. The JS and Python engines' WASI imports must be allowed for inspect too.
fn embedded_options(plugin: Option<&Path>) -> serde_json::Value {
    let mut args = vec!["inspect".to_string()];
    if let Some(plugin) = plugin {
        let toml = scratch("inspect-allow").join("inspect.toml");
        std::fs::write(
            &toml,
            format!(
                "plugin = \"{}\"\n[sandbox]\nallow-imports = [\"wasi:filesystem/*\", \"wasi:sockets/*\"]\nmax-memory-mib = 256\n",
                plugin.display()
            ),
        )
        .unwrap();
        args.push(toml.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args).expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    serde_json::json!({
        "stages": v["scenarios"][0]["stages"],
        "max_vus": v["max_vus"],
        "thresholds": v["thresholds"],
    })
}

/// Asserts that `plugin` does what the Rust plugin does: same counts, same embedded options.
fn assert_like_rust(name: &str, plugin: &Path) {
    let counts = run_counts(name, Some(plugin));
    assert_eq!(&counts, rust_counts(), "{name} vs the Rust plugin");
    assert_eq!(
        embedded_options(Some(plugin)),
        embedded_options(None),
        "{name}: the embedded options (stages, thresholds) match the Rust plugin's"
    );
}

/// Runs a plugin's build script; a missing tool fails with the script's message.
fn build_script(dir: &str, out: &Path) {
    let script = root().join("plugins").join(dir).join("build.sh");
    let res = Command::new("bash")
        .arg(&script)
        .arg(out)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        res.status.success() && out.is_file(),
        "{} failed ({}):\n{}{}",
        script.display(),
        res.status,
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
}

#[test]
fn javascript_k6_script_built_with_volley_build_runs_like_the_rust_plugin() {
    let script = root().join("plugins/montecarlo-js/montecarlo.js");
    let out = scratch("lang-js-build").join("montecarlo-js.wasm");
    let res = volley()
        .args([
            "build",
            script.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "volley build failed (the JS toolchain is installed by `npm ci --prefix plugins/montecarlo-js`):\n{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(
        String::from_utf8_lossy(&res.stderr).contains("built "),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert_like_rust("lang-js", &out);
    // `volley run script.js` builds (or reuses the cached build) and runs the script itself.
    let counts = run_counts("lang-js-run", Some(&script));
    assert_eq!(&counts, rust_counts(), "volley run montecarlo.js");
}

#[test]
fn volley_build_names_what_is_missing() {
    let dir = scratch("lang-js-missing");
    let script = dir.join("s.js");
    std::fs::write(&script, "export default function () {}\n").unwrap();
    // Each engine names its own componentize tool.
    for (engine, package) in [
        ("spidermonkey", "@bytecodealliance/componentize-js"),
        ("quickjs", "componentize-qjs"),
    ] {
        let res = volley()
            .current_dir(&dir)
            .env("VOLLEY_JS_TOOLCHAIN", dir.join("nothing-here"))
            .env("VOLLEY_JS_ENGINE", engine)
            .args(["build", script.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("{package} and esbuild not found"))
                && err.contains(&format!("npm install --save-dev {package}@")),
            "{engine}: {err}"
        );
    }
    // An engine Volley does not know is named, not silently replaced by the default.
    let res = crate::support::volley_js()
        .current_dir(&dir)
        .env("VOLLEY_JS_ENGINE", "v8")
        .args(["build", script.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(
        err.contains("VOLLEY_JS_ENGINE='v8'") && err.contains("spidermonkey or quickjs"),
        "{err}"
    );
    // No node at all: PATH without it.
    let res = volley()
        .current_dir(&dir)
        .env("PATH", dir.join("empty-path"))
        .args(["build", script.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        err.contains("node was not found on PATH (nor npm)"),
        "{err}"
    );
    // And `volley run` of the same script fails as a plugin that cannot load (107).
    let res = volley()
        .current_dir(&dir)
        .env("PATH", dir.join("empty-path"))
        .args(["run", script.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(res.status.code(), Some(107));
}

#[test]
fn python_scenario_built_with_componentize_py_runs_like_the_rust_plugin() {
    let out = scratch("lang-py-build").join("montecarlo-py.wasm");
    build_script("montecarlo-py", &out);
    assert_like_rust("lang-py", &out);
}

#[test]
fn c_scenario_built_with_wit_bindgen_and_zig_runs_like_the_rust_plugin() {
    let out = scratch("lang-c-build").join("montecarlo-c.wasm");
    build_script("montecarlo-c", &out);
    assert_like_rust("lang-c", &out);
}

/// A k6 script using more of the shim: setup data, `res.json()` and a selector, `body`,
/// `timings`, `headers`, a POST with a body inside `group`, a request the sandbox denies (status 0,
/// `error_code` 1400, no throw), a failing check, a custom `Counter` with a threshold declared in
/// `options`, and `__VU`.
#[test]
fn javascript_k6_shim_covers_responses_checks_groups_and_metrics() {
    shim_covers_responses_checks_groups_and_metrics("lang-js-shim", &[]);
}

/// The same script on the engine that is not the default: both stay usable
/// (`VOLLEY_JS_ENGINE`), and the shim stays engine-independent.
#[test]
fn javascript_k6_shim_runs_on_spidermonkey_too() {
    shim_covers_responses_checks_groups_and_metrics(
        "lang-js-shim-sm",
        &[("VOLLEY_JS_ENGINE", "spidermonkey")],
    );
}

fn shim_covers_responses_checks_groups_and_metrics(name: &str, env: &[(&str, &str)]) {
    let dir = scratch(name);
    std::fs::write(
        dir.join("data.json"),
        r#"{"items": ["a", "b"], "nested": {"value": 42}}"#,
    )
    .unwrap();
    let server = Server::with_files(&dir);
    let script = dir.join("shim.js");
    std::fs::write(
        &script,
        r#"import http from 'k6/http';
import { check, group } from 'k6';
import { Counter } from 'k6/metrics';

const orders = new Counter('orders');

export const options = {
  vus: 2,
  iterations: 4,
  discardResponseBodies: true,
  metrics: { orders: 'counter' },
  thresholds: { orders: ['count==4'], 'http_req_duration{name:data}': ['max<10000'] },
};

export function setup() {
  return { token: 'abc' };
}

export default function (data) {
  const res = http.get(`${__ENV.BASE_URL}/files/data.json`, { tags: { name: 'data' }, responseType: 'text' });
  check(res, {
    'json value': (r) => r.json().items[1] === 'b',
    'json selector': (r) => r.json('nested.value') === 42,
    'body is text': (r) => typeof r.body === 'string' && r.body.includes('items'),
    'timings': (r) => r.timings.duration >= 0 && r.timings.waiting >= 0 && r.timings.blocked >= 0,
    'headers': (r) => r.headers['Content-Length'] === String(r.body.length),
    'setup data': () => data.token === 'abc',
    'vu id': () => __VU >= 1 && __VU <= 2,
    'serialises': (r) => JSON.parse(JSON.stringify(r)).headers['Content-Length'] === r.headers['Content-Length'],
    'utf-8 round trip': () => new TextDecoder().decode(new TextEncoder().encode('h\u00e9 \u20ac \u{1F600}')) === 'h\u00e9 \u20ac \u{1F600}',
    'absent env is undefined': () => __ENV.NOT_SET === undefined && !('NOT_SET' in __ENV),
  });
  group('post', () => {
    const p = http.post(`${__ENV.BASE_URL}/status/201`, JSON.stringify({ a: 1 }), {
      headers: { 'Content-Type': 'application/json' },
      timeout: '5s',
    });
    check(p, { created: (r) => r.status === 201 });
  });
  const [first, missing, slow] = http.batch([
    `${__ENV.BASE_URL}/`,
    ['GET', `${__ENV.BASE_URL}/status/404`, null, { responseCallback: http.expectedStatuses(404) }],
    { method: 'GET', url: `${__ENV.BASE_URL}/slow/10` },
  ]);
  check(first, { 'batch: in order': (r) => r.status === 200 && missing.status === 404 && slow.status === 200 });
  check(first, { 'discardResponseBodies: no body by default': (r) => r.body === null });
  const denied = http.get('http://127.0.0.1:1/');
  check(denied, { 'denied: status 0, code 1400': (r) => r.status === 0 && r.error_code === 1400 });
  check(null, { 'a failing check': () => false });
  orders.add(1, { kind: 'test' });
}
"#,
    )
    .unwrap();
    let test = dir.join("shim.toml");
    std::fs::write(
        &test,
        format!(
            // A user's script reaches every host unless narrowed (issue 14): narrowed here to
            // the server, so the request to port 1 is denied.
            "plugin = \"shim.js\"\n[env]\nBASE_URL = \"{0}\"\n[sandbox]\nallowed-hosts = [\"{0}\"]\n",
            server.url()
        ),
    )
    .unwrap();
    let s = crate::support::run_js_test_with(&test, env);
    for name in [
        "json value",
        "json selector",
        "body is text",
        "timings",
        "headers",
        "setup data",
        "vu id",
        "serialises",
        "utf-8 round trip",
        "absent env is undefined",
        "created",
        "denied: status 0, code 1400",
        "batch: in order",
        "discardResponseBodies: no body by default",
    ] {
        let c = check(&s, name);
        assert_eq!(
            (c["passes"].as_u64(), c["fails"].as_u64()),
            (Some(4), Some(0)),
            "{name}"
        );
    }
    let failing = check(&s, "a failing check");
    assert_eq!(failing["fails"], 4);
    assert_eq!(s["metrics"]["http_reqs"]["values"]["count"], 24.0);
    assert_eq!(
        s["metrics"]["http_req_failed"]["values"]["passes"], 4,
        "only the denied requests failed: the batch's 404 was expected"
    );
    assert_eq!(s["metrics"]["orders"]["values"]["count"], 4.0);
    assert_eq!(s["thresholds_passed"], true);
    let paths = server.paths();
    assert_eq!(paths.iter().filter(|p| *p == "/status/201").count(), 4);
    assert_eq!(server.hits(), 20, "the denied requests never left the host");
}

/// The script's top level runs at build time: reading `__ENV` there fails the build, saying so.
#[test]
fn javascript_env_read_at_the_top_level_is_the_runs_env() {
    // The top level is k6's init context, run per VU (design note 011): it reads the run's -e.
    let server = Server::start();
    let dir = scratch("lang-js-top");
    let script = dir.join("top.js");
    std::fs::write(
        &script,
        "import http from 'k6/http';\nconst BASE = __ENV.BASE_URL;\nexport default function () { http.get(`${BASE}/top`); }\n",
    )
    .unwrap();
    let res = crate::support::volley_js()
        .args([
            "run",
            script.to_str().unwrap(),
            "-q",
            "--iterations",
            "2",
            "-e",
        ])
        .arg(format!("BASE_URL={}", server.url()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "{err}");
    assert_eq!(server.paths(), ["/top", "/top"], "{err}");
}

/// Each VU draws its own Math.random sequence (the engine's generator is part of the snapshot
/// every VU starts from: on QuickJS every VU drew the same numbers), `randomSeed` makes a VU's
/// draws repeatable, and `console.log` reaches the host's log as k6 prints it.
#[test]
fn javascript_vus_draw_their_own_random_numbers_and_console_logs() {
    let dir = scratch("lang-js-random");
    let script = dir.join("random.js");
    std::fs::write(
        &script,
        r#"import { randomSeed } from 'k6';
export const options = {
  scenarios: { each: { executor: 'per-vu-iterations', vus: 4, iterations: 1 } },
};
export default function () {
  const own = Math.random();
  randomSeed(7);
  console.log(`draw ${own} seeded ${Math.random()}`, { vu: __VU });
}
"#,
    )
    .unwrap();
    let out = crate::support::volley_js()
        .args(["run", script.to_str().unwrap(), "--no-summary"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("msg=\"draw ") && l.contains("source=console"))
        .collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    let field = |line: &str, key: &str| {
        let rest = &line[line.find(key).unwrap() + key.len()..];
        rest.split(' ').next().unwrap().to_string()
    };
    let own: std::collections::BTreeSet<String> = lines.iter().map(|l| field(l, "draw ")).collect();
    let seeded: std::collections::BTreeSet<String> =
        lines.iter().map(|l| field(l, "seeded ")).collect();
    assert_eq!(own.len(), 4, "every VU draws its own numbers: {lines:?}");
    assert_eq!(seeded.len(), 1, "randomSeed(7) repeats the draw: {lines:?}");
    assert!(lines.iter().all(|l| l.contains(r#"{\"vu\":"#)), "{lines:?}");
}
