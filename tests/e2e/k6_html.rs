//! k6's `k6/html` (`parseHTML`, `res.html()`, Selection and Element methods), run as a k6
//! script against a page the test server serves and compared with the real k6's results on the
//! same script and page, recorded in `fixtures/k6-html.json` (re-record: `record_k6_html`), so
//! CI needs no k6. The parser runs inside the guest: the bounds tested here are the sandbox's.

use std::path::PathBuf;

use crate::support::{
    checks_by_name, read_json, root, run_js_exported, run_k6_exported, scratch, Run, Server,
};

fn fixtures() -> PathBuf {
    root().join("tests/e2e/fixtures")
}

/// The checks of a summary export as `{ name: [passes, fails] }` (Volley's export lists them;
/// k6's nests them in `root_group`), with the requests sent.
fn results(summary: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "checks": checks_by_name(summary),
        "http_reqs": summary["metrics"]["http_reqs"]["values"]["count"]
            .as_f64()
            .or_else(|| summary["metrics"]["http_reqs"]["count"].as_f64()),
    })
}

/// Runs `script` (a path) with Volley against `server`, `-q`, summary exported; returns the run
/// and the summary (`Null` when none was written).
fn run_volley(script: &std::path::Path, server: &Server) -> (Run, serde_json::Value) {
    let export = scratch("k6-html").join("summary.json");
    run_js_exported(script, &[("BASE_URL", server.url())], &[], &export)
}

/// Every check of `k6-html.js` is named after the value it saw (text, HTML, attributes, form
/// values, selector matches, Element properties): a parser, renderer or selector result that
/// differs from k6's changes a check's name and fails the comparison.
#[test]
fn selections_and_elements_give_k6s_results() {
    let server = Server::with_files(&fixtures().join("k6-html"));
    let (out, summary) = run_volley(&fixtures().join("k6-html.js"), &server);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        summary["iteration_errors"]
            .as_object()
            .is_none_or(|e| e.is_empty()),
        "{}",
        summary["iteration_errors"]
    );
    let k6 = read_json(&fixtures().join("k6-html.json"));
    let volley = results(&summary);
    let (ours, theirs) = (&volley["checks"], &k6["checks"]);
    let names =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let only_volley: Vec<_> = names(ours)
        .into_iter()
        .filter(|n| theirs.get(n).is_none())
        .collect();
    let only_k6: Vec<_> = names(theirs)
        .into_iter()
        .filter(|n| ours.get(n).is_none())
        .collect();
    assert!(
        only_volley.is_empty() && only_k6.is_empty(),
        "values differ from k6's:\n  Volley: {only_volley:#?}\n  k6: {only_k6:#?}"
    );
    assert_eq!(
        ours, theirs,
        "the passes and fails differ from k6's (left: Volley)"
    );
    assert_eq!(volley["http_reqs"], k6["http_reqs"]);
    assert!(theirs.as_object().unwrap().len() > 150, "{k6}");
    assert_eq!(server.hits() as f64, k6["http_reqs"].as_f64().unwrap());
}

/// A document nested 20,000 deep: the guest's traversal, text and rendering must not recurse
/// (a recursive walk overflows the engine's stack and kills the iteration).
#[test]
fn a_deeply_nested_document_is_walked_without_recursion() {
    let server = Server::start();
    let dir = scratch("k6-html-deep");
    let script = dir.join("deep.js");
    std::fs::write(
        &script,
        r#"
import { check } from 'k6';
import { parseHTML } from 'k6/html';
export const options = { iterations: 1 };
export default function () {
  const depth = 20000;
  const doc = parseHTML('<div>'.repeat(depth) + '<b>x</b>' + '</div>'.repeat(depth));
  check(doc, {
    'every div is found': (d) => d.find('div').size() === depth,
    'the innermost is found by a descendant selector': (d) => d.find('div div b').size() === 1,
    'text reaches the bottom': (d) => d.text() === 'x',
    'html renders every level': (d) => d.find('body').html().length === depth * 11 + 8,
    'parents climb every level': (d) => d.find('b').parents().size() === depth + 2,
  });
}
"#,
    )
    .unwrap();
    let (out, summary) = run_volley(&script, &server);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let checks = summary["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 5, "{summary}");
    for c in checks {
        assert_eq!(c["fails"], 0, "check failed: {c}");
    }
}

/// A script keeping every document it parses (~10 MB each here) grows only its own VU's linear
/// memory: the sandbox's cap (`max-memory-mib`, 64 MiB) ends that iteration with an error naming
/// the memory, the VU is made again, and the run goes on to its end.
#[test]
fn documents_a_script_keeps_are_bounded_by_the_vus_memory_cap() {
    let server = Server::start();
    let dir = scratch("k6-html-hoard");
    let script = dir.join("hoard.js");
    std::fs::write(
        &script,
        r#"
import { parseHTML } from 'k6/html';
import http from 'k6/http';
export const options = { iterations: 12 };
const page = '<ul>' + '<li class="x" data-n="1">item</li>'.repeat(10000) + '</ul>';
const kept = [];
export default function () {
  http.get(`${__ENV.BASE_URL}/`);
  kept.push(parseHTML(page).find('li'));
}
"#,
    )
    .unwrap();
    let (out, summary) = run_volley(&script, &server);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let errors = summary["iteration_errors"].to_string();
    assert!(
        errors.contains("memory"),
        "no memory error: {errors}\n{}",
        out.stderr
    );
    // Every iteration ran (a VU whose instance trapped is re-instantiated for the next).
    assert_eq!(server.hits(), 12);
}

/// The parser is bundled only into scripts that use it (every byte of a bundle is in every VU's
/// memory): a script that never names `k6/html` or `.html(` gets the stub, whose error says how
/// to get the parser; the same call in a script that names it parses.
#[test]
fn only_scripts_that_use_html_carry_the_parser() {
    let server = Server::with_files(&fixtures().join("k6-html"));
    let dir = scratch("k6-html-absent");
    let script = |name: &str, extra: &str| {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!(
                r#"
import http from 'k6/http';
import {{ check }} from 'k6';
{extra}
export const options = {{ iterations: 1 }};
export default function () {{
  const res = http.get(`${{__ENV.BASE_URL}}/files/page.html`);
  let outcome;
  try {{ outcome = res['ht' + 'ml']('title').text(); }} catch (e) {{ outcome = String(e.message); }}
  check(outcome, {{ [outcome]: () => true }});
}}
"#
            ),
        )
        .unwrap();
        path
    };
    let checks = |summary: &serde_json::Value| -> Vec<String> {
        summary["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (out, summary) = run_volley(&script("without.js", ""), &server);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let names = checks(&summary);
    assert!(
        names.len() == 1 && names[0].contains("add import 'k6/html'"),
        "{names:?}"
    );
    let (out, summary) = run_volley(&script("with.js", "import 'k6/html';"), &server);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(checks(&summary), ["Shop & Co \u{2014} Products"]);
}

/// Records `fixtures/k6-html.json` from a run of the real k6 on the same script and page
/// (`VOLLEY_RECORD_K6=$(command -v k6) cargo test --release -p volley --test e2e -- --ignored
/// record_k6_html`), with K6_NO_USAGE_REPORT=true.
#[test]
#[ignore = "records the fixture with a real k6 named by VOLLEY_RECORD_K6"]
fn record_k6_html() {
    let k6 = std::env::var("VOLLEY_RECORD_K6").expect("VOLLEY_RECORD_K6=path of a k6 binary");
    let server = Server::with_files(&fixtures().join("k6-html"));
    let export = scratch("k6-html-record").join("summary.json");
    let summary = run_k6_exported(
        &k6,
        &fixtures().join("k6-html.js"),
        &[("BASE_URL", server.url())],
        &[],
        &export,
    );
    let version = std::process::Command::new(&k6)
        .arg("version")
        .output()
        .unwrap();
    let mut doc = results(&summary);
    assert_eq!(doc["http_reqs"].as_f64(), Some(server.hits() as f64));
    doc["recorded_with"] = serde_json::json!(format!(
        "{} run k6-html.js against Server::with_files(k6-html/) by record_k6_html",
        String::from_utf8_lossy(&version.stdout).trim()
    ));
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    std::fs::write(fixtures().join("k6-html.json"), text).unwrap();
}
