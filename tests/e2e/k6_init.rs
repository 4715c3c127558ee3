//! k6's init context on Volley: a script's top level (and its local modules') runs once per VU,
//! with `__ENV` and `__VU`, and once in the options pass (`__VU` 0), so options computed from
//! `__ENV` apply; an exception there fails the run with exit 107 (k6's); `open()` reads the files
//! the script names, embedded at build time; `k6/data`'s `SharedArray` is made once (its callback
//! runs in the options pass) and read by every VU. The scripts in `fixtures/k6-init/` give the
//! same results under the real k6 (`k6 run -e VUS=3 init.js`: 42 of 42 checks pass, one
//! "SharedArray callback ran in VU 0" line; `throw.js`: exit 107, "init failed in VU 2").

use std::path::PathBuf;

use crate::support::{check, read_json, root, scratch, volley_js, Run, Server};

fn fixture(name: &str) -> PathBuf {
    root().join("tests/e2e/fixtures/k6-init").join(name)
}

/// `volley run SCRIPT -q --summary-export … ARGS` with the JS toolchain.
fn run_script(script: &std::path::Path, name: &str, args: &[&str]) -> (Run, PathBuf) {
    let export = scratch(name).join("summary.json");
    let out = Run::from_output(
        volley_js()
            .args(["run", script.to_str().unwrap(), "-q", "--summary-export"])
            .arg(&export)
            .args(args)
            .output()
            .unwrap(),
    );
    (out, export)
}

#[test]
fn each_vu_runs_the_top_level_once_with_env_open_and_a_shared_array() {
    let server = Server::start();
    let base = format!("BASE_URL={}", server.url());
    let (out, export) = run_script(
        &fixture("init.js"),
        "k6-init",
        &["-e", "VUS=3", "-e", &base],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s = read_json(&export);
    // `vus: Number(__ENV.VUS || 10)` was evaluated with the run's -e VUS=3.
    assert_eq!(
        s["metrics"]["vus_max"]["values"]["value"], 3.0,
        "{}",
        out.stderr
    );
    for name in [
        "the top level ran once in this VU",
        "__VU at the top level is this VU",
        "open() reads text",
        "open(path, 'b') is an ArrayBuffer of the bytes",
        "SharedArray has every row",
        "SharedArray elements are read-only",
        "__ENV is fresh for iterations and keeps what they set",
    ] {
        let c = check(&s, name);
        assert_eq!(
            (&c["passes"], &c["fails"]),
            (&6.into(), &0.into()),
            "{name}"
        );
    }
    // Each VU's top level saw its own __VU (the request path carries it).
    let mut vus: Vec<String> = server.paths();
    vus.sort();
    assert_eq!(
        vus,
        ["/vu/1", "/vu/1", "/vu/2", "/vu/2", "/vu/3", "/vu/3"],
        "{vus:?}"
    );
    // The SharedArray's callback ran once per test, in the options pass.
    assert_eq!(
        out.stderr.matches("SharedArray callback ran in VU").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("SharedArray callback ran in VU 0"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_exception_in_a_vus_init_context_fails_the_run_with_107() {
    let server = Server::start();
    let base = format!("BASE_URL={}", server.url());
    let (out, _) = run_script(&fixture("throw.js"), "k6-init-throw", &["-e", &base]);
    assert_eq!(out.code, 107, "{}", out.stderr);
    assert!(out.stderr.contains("init failed in VU 2"), "{}", out.stderr);
    // Where, as k6 says it: the script's own file, line and column, not a line of the bundle.
    assert!(
        out.stderr.contains(&format!(
            "at file://{}:8:",
            fixture("throw.js").canonicalize().unwrap().display()
        )),
        "where: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("bundle.js"), "{}", out.stderr);
    assert_eq!(server.hits(), 0, "no iteration ran");
    // Thrown in the options pass (VU 0), it names the script too.
    let dir = scratch("k6-init-throw0");
    let script = dir.join("t0.js");
    std::fs::write(
        &script,
        "export default function () {}\nthrow new Error('init failed in VU ' + __VU);\n",
    )
    .unwrap();
    let (out, _) = run_script(&script, "k6-init-throw0", &[]);
    assert_eq!(out.code, 107, "{}", out.stderr);
    assert!(out.stderr.contains("init failed in VU 0"), "{}", out.stderr);
}

#[test]
fn open_names_what_it_cannot_read_at_build_and_at_run_time() {
    let dir = scratch("k6-init-open");
    // A literal naming a missing file: the build fails naming the script, the path and where
    // it looked.
    let script = dir.join("missing.js");
    std::fs::write(
        &script,
        "const data = open('./nope/users.csv');\nexport default function () {}\n",
    )
    .unwrap();
    let (out, _) = run_script(&script, "k6-init-open-missing", &[]);
    assert_eq!(out.code, 107, "{}", out.stderr);
    assert!(
        out.stderr.contains("missing.js")
            && out.stderr.contains("'./nope/users.csv'")
            && out.stderr.contains(&dir.display().to_string()),
        "{}",
        out.stderr
    );
    // A path computed at run time was not embedded: the init context fails naming it and why.
    let script = dir.join("computed.js");
    std::fs::write(
        &script,
        "const data = open(__ENV.FILE);\nexport default function () {}\n",
    )
    .unwrap();
    let (out, _) = run_script(&script, "k6-init-open-computed", &["-e", "FILE=users.csv"]);
    assert_eq!(out.code, 107, "{}", out.stderr);
    assert!(
        out.stderr.contains("open('users.csv')")
            && out
                .stderr
                .contains("not embedded when the script was built"),
        "{}",
        out.stderr
    );
}

#[test]
fn shared_arrays_are_bounded_and_made_only_by_the_first_init_context() {
    let dir = scratch("k6-init-hostile");
    // A script that keeps making shared arrays of 1 MiB: stopped at the limit, with a clear
    // error (8 MiB here, VOLLEY_MAX_SHARED_DATA_MIB; 1 GiB by default).
    let script = dir.join("hoard.js");
    std::fs::write(
        &script,
        "import { SharedArray } from 'k6/data';\n\
         const mib = 'x'.repeat(1 << 20);\n\
         for (let i = 0; i < 1000; i++) new SharedArray('a' + i, () => [mib]);\n\
         export default function () {}\n",
    )
    .unwrap();
    let out = Run::from_output(
        volley_js()
            .env("VOLLEY_MAX_SHARED_DATA_MIB", "8")
            .args(["run", script.to_str().unwrap(), "-q"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 107, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("shared arrays may hold at most 8 MiB in all"),
        "{}",
        out.stderr
    );
    // A SharedArray only VU 2 makes is refused: only the options pass makes them.
    let script = dir.join("late.js");
    std::fs::write(
        &script,
        "import { SharedArray } from 'k6/data';\n\
         export const options = { vus: 2, iterations: 2 };\n\
         if (__VU === 2) new SharedArray('late', () => [1]);\n\
         export default function () {}\n",
    )
    .unwrap();
    let (out, _) = run_script(&script, "k6-init-late", &[]);
    assert_eq!(out.code, 107, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("SharedArray 'late' was not made by the first init context"),
        "{}",
        out.stderr
    );
}
