//! The Grafana dashboards, tested the way Grafana uses them: a real Prometheus (remote-write
//! receiver, native histograms) is fed by a real Volley run, then every panel query of
//! `dashboards/volley-prometheus.json`, and of k6's own native-histogram dashboard
//! (`fixtures/grafana/`), runs against Prometheus's HTTP API with the template variables
//! substituted, and what it returns is compared with the run's summary and the server's counts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::prometheus::{encode, Prometheus};
use crate::support::{probe_test, read_json, root, volley, Run, Server};

const TESTID: &str = "grafana-e2e";

/// Three scenarios, two URLs that answer 200 and one that answers 503 (failed requests and a
/// failing check), so every breakdown has more than one row.
const TEST: &str = r#"
[scenarios.main]
executor = "constant-vus"
vus = 2
duration = "6s"

[scenarios.side]
executor = "constant-arrival-rate"
exec = "alt"
rate = 20
duration = "6s"
preAllocatedVUs = 2
maxVUs = 2

[scenarios.broken]
executor = "constant-vus"
vus = 1
duration = "6s"
env = { REQ_PATH = "/status/503" }
"#;

/// Labels of one returned series, and its values (one for an instant query).
type Rows = Vec<(BTreeMap<String, String>, Vec<f64>)>;

/// The run that fed Prometheus, and what it should show.
struct Fed {
    prom: Prometheus,
    start: f64,
    end: f64,
    summary: Value,
    base: String,
    /// Requests per path, as the server counted them.
    paths: BTreeMap<String, f64>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

impl Fed {
    fn run() -> Option<Fed> {
        let prom = Prometheus::start()?;
        let server = Server::start();
        let test = probe_test(&server, "grafana", TEST, "SLEEP_MS = \"100\"");
        let export = test.with_extension("json");
        let start = now();
        Run::from_output(
            volley()
                .env("VOLLEY_PROMETHEUS_RW_PUSH_INTERVAL", "1s")
                .args(["run", test.to_str().unwrap(), "-q"])
                .args(["--tag", &format!("testid={TESTID}")])
                .args([
                    "--out",
                    &format!("prometheus-rw=http://127.0.0.1:{}/api/v1/write", prom.port),
                ])
                .args(["--summary-export", export.to_str().unwrap()])
                .output()
                .unwrap(),
        )
        .expect_code(0);
        let end = now();
        let mut paths = BTreeMap::new();
        for p in server.paths() {
            *paths.entry(p).or_insert(0.0) += 1.0;
        }
        Some(Fed {
            prom,
            start,
            end,
            summary: read_json(&export),
            base: server.url(),
            paths,
        })
    }

    fn metric(&self, name: &str, stat: &str) -> f64 {
        self.summary["metrics"][name]["values"][stat]
            .as_f64()
            .unwrap_or_else(|| panic!("no {name}.{stat} in the summary"))
    }

    fn path(&self, p: &str) -> f64 {
        self.paths.get(p).copied().unwrap_or(0.0)
    }

    /// Requests per scenario, per URL (`name` tag) and per status, from the server's counts.
    fn by(&self, label: &str) -> BTreeMap<String, f64> {
        let (ok, alt, broken) = (self.path("/"), self.path("/alt"), self.path("/status/503"));
        let b = &self.base;
        let pairs: Vec<(String, f64)> = match label {
            "scenario" => vec![
                ("main".into(), ok),
                ("side".into(), alt),
                ("broken".into(), broken),
            ],
            "name" => vec![
                (format!("{b}/"), ok),
                (format!("{b}/alt"), alt),
                (format!("{b}/status/503"), broken),
            ],
            "status" => vec![("200".into(), ok + alt), ("503".into(), broken)],
            _ => panic!("no expectation by {label}"),
        };
        pairs.into_iter().collect()
    }

    /// Durations the run saw, in seconds, widened by the native histogram's 2.2 % buckets.
    fn duration_bounds(&self) -> (f64, f64) {
        (
            self.metric("http_req_duration", "min") / 1000.0 * 0.97,
            self.metric("http_req_duration", "max") / 1000.0 * 1.03,
        )
    }

    fn query(&self, promql: &str, range: bool) -> Rows {
        let path = if range {
            format!(
                "/api/v1/query_range?query={}&start={:.3}&end={:.3}&step=1",
                encode(promql),
                self.start,
                self.end
            )
        } else {
            format!(
                "/api/v1/query?query={}&time={:.3}",
                encode(promql),
                self.end
            )
        };
        let (status, body) = self.prom.get(&path);
        assert_eq!(status, 200, "{promql}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let number = |p: &Value| p[1].as_str().unwrap().parse::<f64>().unwrap();
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                let values = if range {
                    r["values"].as_array().unwrap().iter().map(number).collect()
                } else {
                    vec![number(&r["value"])]
                };
                (labels, values)
            })
            .collect()
    }
}

/// Grafana's substitutions: the test's id, every scenario, k6's quantile variable, and the rate
/// window Grafana computes when the data source's scrape interval is set to the push interval
/// (1 s here): `$__rate_interval` = max(step + scrape interval, 4 x scrape interval) = 4 s. (With
/// Grafana's default 15 s it would be 1 m: rates over a window longer than the data so far read
/// low, the README says so.)
fn substitute(expr: &str) -> String {
    let out = expr
        .replace("$testid", TESTID)
        .replace("$scenario", ".*")
        .replace("$__rate_interval", "4s")
        .replace("$quantile", "0.99");
    assert!(!out.contains('$'), "a variable left: {out}");
    out
}

/// Every (panel title, refId, expr, instant) in a dashboard, rows included.
fn targets(dashboard: &Value) -> Vec<(String, String, String, bool)> {
    fn walk(panels: &[Value], out: &mut Vec<(String, String, String, bool)>) {
        for p in panels {
            if let Some(inner) = p["panels"].as_array() {
                walk(inner, out);
            }
            for t in p["targets"].as_array().into_iter().flatten() {
                let instant = t["instant"] == true && t["range"] != true;
                out.push((
                    p["title"].as_str().unwrap_or("").to_string(),
                    t["refId"].as_str().unwrap_or("").to_string(),
                    t["expr"].as_str().unwrap().to_string(),
                    instant,
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dashboard["panels"].as_array().unwrap(), &mut out);
    out
}

fn load(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap()
}

/// The one value of a single-series result.
fn single(rows: &Rows) -> f64 {
    assert_eq!(rows.len(), 1, "{rows:?}");
    *rows[0].1.last().unwrap()
}

/// Each series' last value by `label`.
fn last_by(rows: &Rows, label: &str) -> BTreeMap<String, f64> {
    rows.iter()
        .map(|(l, v)| {
            (
                l.get(label)
                    .unwrap_or_else(|| panic!("no {label} in {l:?}"))
                    .clone(),
                *v.last().unwrap(),
            )
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// A rate series averages to `expected` per second within 40 % (the rate window starts at the
/// first push, and the run's first and last seconds are partial).
fn assert_rate(what: &str, values: &[f64], expected: f64) {
    let m = mean(values);
    assert!(
        (m - expected).abs() <= 0.4 * expected,
        "{what}: mean {m}/s, the run's {expected}/s"
    );
}

fn assert_within(what: &str, rows: &Rows, (lo, hi): (f64, f64)) {
    for (labels, values) in rows {
        for v in values {
            assert!(
                (lo..=hi).contains(v),
                "{what} {labels:?}: {v} outside [{lo}, {hi}]"
            );
        }
    }
}

/// The `vus` gauge as pushed: at least the constant scenarios' 3 VUs (main 2, broken 1), at most
/// the summary's maximum (a push samples the gauge, the summary sees every change).
fn assert_vus(what: &str, values: &[f64], fed: &Fed) {
    let max = values.iter().copied().fold(0.0, f64::max);
    assert!(
        (3.0..=fed.metric("vus", "max")).contains(&max),
        "{what}: max {max}, summary {}",
        fed.metric("vus", "max")
    );
}

/// The rate per second the run kept up for a share `count` of its requests.
fn per_second(fed: &Fed, count: f64) -> f64 {
    fed.metric("http_reqs", "rate") * count / fed.metric("http_reqs", "count")
}

#[test]
fn every_panel_of_the_volley_dashboard_agrees_with_the_summary() {
    let Some(fed) = Fed::run() else {
        return;
    };
    let dashboard = load("dashboards/volley-prometheus.json");
    let vars: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "testid", "scenario"]);
    assert_eq!(
        dashboard["templating"]["list"][0]["query"], "prometheus",
        "a Prometheus datasource variable"
    );
    let reqs = fed.metric("http_reqs", "count");
    let iterations = fed.metric("iterations", "count");
    let failed = fed.path("/status/503");
    let durations = fed.duration_bounds();
    let checks: Vec<(String, f64, f64)> = fed.summary["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["passes"].as_f64().unwrap(),
                c["fails"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(reqs, fed.paths.values().sum::<f64>());
    assert!(failed > 0.0 && fed.path("/alt") > 0.0);
    let all = targets(&dashboard);
    assert_eq!(all.len(), 29, "every query is checked below");
    for (title, ref_id, expr, instant) in &all {
        let promql = substitute(expr);
        let rows = fed.query(&promql, !instant);
        assert!(!rows.is_empty(), "{title}/{ref_id}: no data for {promql}");
        let what = format!("{title}/{ref_id}");
        match (title.as_str(), ref_id.as_str()) {
            ("Requests", "A") => assert_eq!(single(&rows), reqs, "{what}"),
            ("Failed requests", "A") => {
                let rate = fed.metric("http_req_failed", "rate");
                assert!((single(&rows) - rate).abs() < 1e-9, "{what} vs {rate}");
                assert!((rate - failed / reqs).abs() < 1e-9);
            }
            ("Iterations", "A") => assert_eq!(single(&rows), iterations, "{what}"),
            ("Request duration p(95) over the run", "A") => {
                let p95 = fed.metric("http_req_duration", "p(95)") / 1000.0;
                let v = single(&rows);
                assert!((v - p95).abs() <= 0.03 * p95, "{what}: {v} vs {p95}");
            }
            ("Lowest check pass rate", "A") => {
                // The broken scenario fails its check every time.
                assert_eq!(single(&rows), 0.0, "{what}");
            }
            ("Max VUs", "A") => assert_eq!(single(&rows), fed.metric("vus_max", "max")),
            ("Virtual users", "A") => {
                assert_eq!(rows.len(), 1, "{what}");
                assert_vus(&what, &rows[0].1, &fed);
            }
            ("Virtual users", "B") => {
                let max = rows[0].1.iter().copied().fold(0.0, f64::max);
                assert_eq!(rows.len(), 1, "{what}");
                assert_eq!(max, fed.metric("vus_max", "max"), "{what}");
            }
            ("Requests per second", "A") => {
                assert_rate(&what, &rows[0].1, fed.metric("http_reqs", "rate"))
            }
            ("Requests per second", "B") => {
                assert_rate(&what, &rows[0].1, per_second(&fed, failed))
            }
            ("Iterations per second", "A") => {
                assert_rate(&what, &rows[0].1, fed.metric("iterations", "rate"))
            }
            ("Request duration", _) => {
                assert_within(&what, &rows, durations);
            }
            ("Failure rate", "A") => {
                let rate = failed / reqs;
                let last = *rows[0].1.last().unwrap();
                assert!((last - rate).abs() <= 0.1, "{what}: {last} vs {rate}");
            }
            ("Checks pass rate", "A") => {
                let last = last_by(&rows, "check");
                let names: BTreeSet<&String> = checks.iter().map(|c| &c.0).collect();
                assert_eq!(last.keys().collect::<BTreeSet<_>>(), names, "{what}");
                for (name, passes, fails) in &checks {
                    let share = passes / (passes + fails);
                    assert!(last[name] <= share + 1e-9, "{what} {name}");
                    if *fails == 0.0 {
                        assert_eq!(last[name], 1.0, "{what} {name}");
                    }
                }
            }
            (
                "Requests per second by scenario"
                | "Requests per second by URL"
                | "Requests per second by status",
                "A",
            ) => {
                let label = match title.rsplit(' ').next().unwrap() {
                    "URL" => "name",
                    other => other,
                };
                let expected = fed.by(label);
                let got = last_by(&rows, label);
                assert_eq!(
                    got.keys().collect::<Vec<_>>(),
                    expected.keys().collect::<Vec<_>>(),
                    "{what}"
                );
                for (labels, values) in &rows {
                    let n = expected[&labels[label]];
                    assert_rate(&format!("{what} {labels:?}"), values, per_second(&fed, n));
                }
            }
            ("Request duration p(95) by scenario" | "Request duration p(95) by URL", "A") => {
                let label = if title.ends_with("URL") {
                    "name"
                } else {
                    "scenario"
                };
                assert_eq!(
                    last_by(&rows, label).keys().collect::<Vec<_>>(),
                    fed.by(label).keys().collect::<Vec<_>>(),
                    "{what}"
                );
                assert_within(&what, &rows, durations);
            }
            ("Statuses", "A") => assert_eq!(last_by(&rows, "status"), fed.by("status")),
            ("Scenarios", "A" | "B") => {
                // One request per iteration in every scenario.
                assert_eq!(last_by(&rows, "scenario"), fed.by("scenario"), "{what}")
            }
            ("URLs", "A") => assert_eq!(last_by(&rows, "name"), fed.by("name"), "{what}"),
            ("Scenarios", "C") | ("URLs", "B") => assert_within(&what, &rows, durations),
            ("Checks", "A") => {
                for (name, passes, fails) in &checks {
                    let shares: Vec<f64> = rows
                        .iter()
                        .filter(|(l, _)| l["check"] == *name)
                        .map(|(_, v)| v[0])
                        .collect();
                    let share = passes / (passes + fails);
                    let lo = shares.iter().copied().fold(1.0, f64::min);
                    let hi = shares.iter().copied().fold(0.0, f64::max);
                    assert!(
                        lo - 1e-9 <= share && share <= hi + 1e-9,
                        "{what} {name}: {shares:?} vs {share}"
                    );
                }
            }
            _ => panic!("{what}: no expectation for this query in the test: add one"),
        }
    }
}

/// k6's own dashboard for native histograms, unchanged: every query returns data (but the
/// dropped-iterations one when nothing was dropped: k6 writes that series only when it is),
/// and what it shows agrees with the summary.
#[test]
fn every_query_of_k6s_native_histogram_dashboard_works_unchanged() {
    let Some(fed) = Fed::run() else {
        return;
    };
    let dashboard = load("tests/e2e/fixtures/grafana/k6-prometheus-native-histogram.json");
    let reqs = fed.metric("http_reqs", "count");
    let failed = fed.path("/status/503");
    let durations = fed.duration_bounds();
    let all = targets(&dashboard);
    assert_eq!(all.len(), 32);
    for (title, ref_id, expr, instant) in &all {
        let what = format!("{title}/{ref_id}: {expr}");
        let promql = substitute(expr);
        // k6's targets do not all say whether they are instant: run both, as a panel might.
        let range = fed.query(&promql, true);
        let at_end = fed.query(&promql, false);
        if expr.contains("k6_dropped_iterations_total") {
            // Written only when iterations were dropped (the arrival-rate scenario may drop some
            // on a loaded machine); then it holds the summary's count.
            match fed.summary["metrics"]["dropped_iterations"]["values"]["count"].as_f64() {
                None => assert!(range.is_empty(), "{what}"),
                Some(n) => assert_eq!(single(&at_end), n, "{what}"),
            }
            continue;
        }
        assert!(!range.is_empty() && !at_end.is_empty(), "{what}: no data");
        let _ = instant;
        let values = || range.iter().flat_map(|(_, v)| v.iter().copied());
        if expr.starts_with("sum(k6_http_reqs_total") {
            let expected = if expr.contains("expected_response=\"false\"") {
                failed
            } else {
                reqs
            };
            assert_eq!(single(&at_end), expected, "{what}");
        } else if expr.starts_with("sum(k6_vus") {
            assert_vus(&what, &values().collect::<Vec<_>>(), &fed);
        } else if expr.contains("k6_http_req_duration_seconds") {
            assert_within(&what, &range, durations);
            if expr.contains("sum by(le, name, method, status)") {
                let names: BTreeSet<String> =
                    range.iter().map(|(l, _)| l["name"].clone()).collect();
                let expected: BTreeSet<String> = fed.by("name").into_keys().collect();
                assert_eq!(names, expected, "{what}");
            }
        } else if expr.contains("k6_checks_rate") {
            assert!(values().all(|v| (0.0..=100.0).contains(&v)), "{what}");
            if expr.starts_with("round(") {
                let names: BTreeSet<String> =
                    range.iter().map(|(l, _)| l["check"].clone()).collect();
                let expected: BTreeSet<String> = fed.summary["checks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["name"].as_str().unwrap().to_string())
                    .collect();
                assert_eq!(names, expected, "{what}");
            }
        } else if expr.contains("k6_http_req_failed_rate") {
            // avg of per-series shares rounded to 0.1, in %: the broken scenario's series is 100.
            assert!(values().all(|v| (0.0..=100.0).contains(&v)), "{what}");
            assert!(values().any(|v| v > 0.0), "{what}");
        } else if expr.contains("irate(") {
            assert!(
                values().all(|v| v >= 0.0) && values().any(|v| v > 0.0),
                "{what}"
            );
        } else if expr.contains("histogram_quantile(") {
            // Other timings and iteration_duration: a non-negative time in seconds.
            assert!(values().all(|v| v.is_finite() && v >= 0.0), "{what}");
        } else {
            panic!("{what}: no expectation for this query in the test: add one");
        }
    }
}
