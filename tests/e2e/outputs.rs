//! Streaming outputs: k6's NDJSON and CSV, whose counts equal the summary's.

use crate::support::{component, read_json, run, scratch, Probe, Server};

#[test]
fn json_and_csv_outputs_match_the_summary() {
    // Not through Probe::run: -q would leave out the banner this test reads.
    let probe = Probe::start("outputs");
    let (json, csv, export) = (
        probe.dir.join("out.json"),
        probe.dir.join("out.csv"),
        probe.dir.join("s.json"),
    );
    let out = run(&[
        "run",
        component("probe").to_str().unwrap(),
        "-e",
        &format!("BASE_URL={}", probe.server.url()),
        "-e",
        "REQUESTS=2",
        "--vus",
        "2",
        "--iterations",
        "5",
        "--out",
        &format!("json={}", json.display()),
        "-o",
        &format!("csv={}", csv.display()),
        "--summary-export",
        export.to_str().unwrap(),
    ])
    .expect_code(0);
    assert!(
        out.stderr.contains("output: json ("),
        "banner names the outputs: {}",
        out.stderr
    );
    let summary = read_json(&export);

    // NDJSON: a Metric line before the first Point of each metric, then one Point per sample.
    let mut declared = std::collections::HashSet::new();
    let mut points = std::collections::HashMap::<String, Vec<serde_json::Value>>::new();
    for line in std::fs::read_to_string(&json).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let metric = v["metric"].as_str().unwrap().to_string();
        match v["type"].as_str().unwrap() {
            "Metric" => {
                assert_eq!(v["data"]["name"], metric.as_str());
                assert!(declared.insert(metric), "one Metric line per metric");
            }
            "Point" => {
                assert!(
                    declared.contains(&metric),
                    "{metric}: Point before its Metric line"
                );
                assert!(v["data"]["time"].as_str().unwrap().ends_with('Z'));
                points.entry(metric).or_default().push(v);
            }
            other => panic!("unexpected line type {other}"),
        }
    }
    assert_eq!(points["http_reqs"].len(), 10);
    assert_eq!(
        points["http_reqs"].len() as f64,
        summary["metrics"]["http_reqs"]["values"]["count"]
            .as_f64()
            .unwrap()
    );
    assert_eq!(points["iterations"].len(), 5);
    assert_eq!(
        points["checks"].len(),
        15,
        "2 status checks + 1 setup check per iteration"
    );
    let req = &points["http_req_duration"][0]["data"];
    assert_eq!(req["tags"]["status"], "200");
    assert_eq!(req["tags"]["method"], "GET");
    assert_eq!(req["tags"]["scenario"], "default");
    let total: f64 = points["http_req_duration"]
        .iter()
        .map(|p| p["data"]["value"].as_f64().unwrap())
        .sum();
    let avg = summary["metrics"]["http_req_duration"]["values"]["avg"]
        .as_f64()
        .unwrap();
    assert!(
        (total / 10.0 - avg).abs() < 1e-6,
        "NDJSON values average to the summary's avg"
    );

    // CSV: k6's header, one row per sample.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "metric_name,timestamp,metric_value,check,error,error_code,expected_response,group,method,name,proto,scenario,service,status,subproto,tls_version,url,extra_tags,metadata"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.iter().filter(|r| r[0] == "http_reqs").count(), 10);
    assert_eq!(rows.iter().filter(|r| r[0] == "checks").count(), 15);
    let http = rows.iter().find(|r| r[0] == "http_reqs").unwrap();
    assert_eq!(
        (http[8], http[13], http[11]),
        ("GET", "200", "default"),
        "method, status, scenario columns"
    );
    assert!(
        http[1].parse::<u64>().unwrap() > 1_700_000_000,
        "unix seconds"
    );
    let check = rows
        .iter()
        .find(|r| r[0] == "checks" && r[3] == "status is 200")
        .unwrap();
    assert_eq!(check[2], "1");
}

#[test]
fn bad_output_specs_are_rejected() {
    let out = run(&["run", "--out", "statsd=127.0.0.1:8125", "--iterations", "1"]);
    assert_eq!(out.code, 104, "an invalid configuration");
    assert!(
        out.stderr
            .contains("unknown output 'statsd' (available: json, csv, prometheus-rw, influxdb)"),
        "{}",
        out.stderr
    );
}

#[test]
fn global_tags_system_tags_and_summary_modes() {
    let server = Server::start();
    let dir = scratch("tags");
    let json = dir.join("out.json");
    let base = format!("BASE_URL={}", server.url());
    let out = run(&[
        "run",
        component("probe").to_str().unwrap(),
        "-e",
        &base,
        "--iterations",
        "3",
        "-q",
        "--tag",
        "team=core",
        "--system-tags",
        "status,method,scenario,check",
        "--out",
        &format!("json={}", json.display()),
        "--summary-mode",
        "full",
        "--summary-time-unit",
        "us",
    ])
    .expect_code(0);
    for line in std::fs::read_to_string(&json).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] != "Point" {
            continue;
        }
        let tags = v["data"]["tags"].as_object().unwrap();
        assert_eq!(tags["team"], "core", "global tag on every sample: {v}");
        for key in tags.keys() {
            assert!(
                ["status", "method", "scenario", "check", "team"].contains(&key.as_str()),
                "{key} was not asked for: {v}"
            );
        }
    }
    assert!(out.stdout.contains("█ SCENARIO: default"), "{}", out.stdout);
    assert!(
        out.stdout.contains("http_req_waiting"),
        "full mode shows the timing phases"
    );
    assert!(
        out.stdout.lines().any(|l| l
            .split_whitespace()
            .any(|w| w.starts_with("avg=") && w.ends_with("µs"))),
        "times in µs: {}",
        out.stdout
    );

    let compact = run(&[
        "run",
        component("probe").to_str().unwrap(),
        "-e",
        &base,
        "--iterations",
        "1",
        "-q",
    ])
    .expect_code(0);
    assert!(!compact.stdout.contains("http_req_waiting") && !compact.stdout.contains("█ SCENARIO"));

    for (flag, value, error) in [
        (
            "--system-tags",
            "status,colour",
            "unknown system tag 'colour'",
        ),
        (
            "--summary-mode",
            "legacy",
            "summary.mode: unknown mode 'legacy'",
        ),
    ] {
        let probe = component("probe");
        let bad = run(&["run", probe.to_str().unwrap(), "-e", &base, flag, value]).expect_code(104);
        assert!(bad.stderr.contains(error), "{}", bad.stderr);
    }
}

#[test]
fn groups_tag_samples_and_time_themselves() {
    let server = Server::start();
    let dir = scratch("groups");
    let (json, export) = (dir.join("out.json"), dir.join("s.json"));
    let test = dir.join("groups.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"{}\"\niterations = 3\n[thresholds]\n\"group_duration{{group:::outer}}\" = [\"max<10000\"]\n\"http_reqs{{group:::outer::inner}}\" = [\"count==3\"]\n[env]\nBASE_URL = \"{}\"\nGROUPS = \"1\"\n",
            component("probe").display(),
            server.url()
        ),
    )
    .unwrap();
    let out = run(&[
        "run",
        test.to_str().unwrap(),
        "-q",
        "--summary-mode",
        "full",
        "--out",
        &format!("json={}", json.display()),
        "--summary-export",
        export.to_str().unwrap(),
    ])
    .expect_code(0);
    assert!(
        out.stdout.contains("█ GROUP: ::outer::inner"),
        "{}",
        out.stdout
    );
    let mut group_durations = Vec::new();
    for line in std::fs::read_to_string(&json).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] != "Point" {
            continue;
        }
        match v["metric"].as_str().unwrap() {
            "http_reqs" => assert_eq!(v["data"]["tags"]["group"], "::outer::inner", "{v}"),
            "group_duration" => {
                group_durations.push(v["data"]["tags"]["group"].as_str().unwrap().to_string())
            }
            "iterations" => assert!(
                v["data"]["tags"].get("group").is_none(),
                "iterations are in the root group"
            ),
            _ => {}
        }
    }
    group_durations.sort();
    assert_eq!(
        group_durations,
        [
            "::outer",
            "::outer",
            "::outer",
            "::outer::inner",
            "::outer::inner",
            "::outer::inner"
        ]
    );
    let s = read_json(&export);
    assert_eq!(
        s["metrics"]["http_reqs{group:::outer::inner}"]["values"]["count"],
        3.0
    );
}

#[test]
fn html_report_is_self_contained_with_charts_thresholds_and_summary() {
    let server = Server::start();
    let dir = scratch("report");
    let report = dir.join("report.html");
    let test = dir.join("report.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"{}\"\nvus = 2\nduration = \"3s\"\n[thresholds]\nhttp_req_duration = [\"p(95)<5000\"]\n[env]\nBASE_URL = \"{}\"\nSLEEP_MS = \"50\"\n",
            component("probe").display(),
            server.url()
        ),
    )
    .unwrap();
    run(&[
        "run",
        test.to_str().unwrap(),
        "-q",
        "--report",
        report.to_str().unwrap(),
    ])
    .expect_code(0);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(
        html.matches("<svg class=\"chart\"").count(),
        5,
        "VUs, req/s, latency, failures, checks"
    );
    let polylines: Vec<&str> = html.split("<polyline class=\"series\"").skip(1).collect();
    assert_eq!(polylines.len(), 8, "latency has p50, p90, p95, p99");
    for p in &polylines {
        let points = p
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            points.split(' ').count() >= 3,
            "a line over the seconds of the run: {points}"
        );
    }
    assert!(
        html.contains("<td>http_req_duration</td><td>p(95)&lt;5000</td>"),
        "thresholds table"
    );
    assert!(html.contains("✓ passed"));
    assert!(html.contains("TOTAL RESULTS"), "the summary is embedded");
    // Self-contained: nothing to fetch.
    for banned in ["<script", "<link", "src=", "url(", "https://"] {
        assert!(!html.contains(banned), "report references {banned}");
    }
    // The only URLs are the SVG namespace and the per-URL table's text (a row's name and cell).
    let url = format!("{}/", server.url());
    assert_eq!(
        html.matches("http://").count(),
        html.matches("http://www.w3.org/2000/svg").count()
            + html.matches(&format!("\"{url}\"")).count()
            + html.matches(&format!("<td>{url}</td>")).count()
    );
    // Per-scenario and per-URL tables, with every request.
    let requests = html.split("data-requests=\"").nth(1).unwrap();
    let requests = &requests[..requests.find('"').unwrap()];
    assert!(
        html.contains(&format!(
            "<tr data-name=\"default\" data-requests=\"{requests}\""
        )) && html.contains(&format!(
            "<tr data-name=\"{url}\" data-requests=\"{requests}\""
        )),
        "scenario and URL rows with {requests} requests"
    );

    // Rendered in headless Chromium when it is installed (bench/report-screenshot.sh takes a picture).
    let Some(chromium) = crate::support::required_tool(
        "chromium",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        "apt-get install chromium",
    ) else {
        return;
    };
    let dom = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join("chromium-profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(
        dom.matches("<polyline").count(),
        8,
        "Chromium parsed every chart line: {dom}"
    );
    assert!(dom.contains("Request duration"));
}

/// The per-second series feeds the live progress: the plain block (printed every 5 s off a
/// terminal, and once more at the end) shows the newest closed second's request rate and latency.
/// The final block is the one the schedule guarantees, so that is the one read: a 3 s run has
/// closed seconds with requests when it ends, whatever the machine's load.
#[test]
fn live_progress_shows_the_newest_second() {
    let server = Server::start();
    let out = run(&[
        "run",
        component("probe").to_str().unwrap(),
        "-e",
        &format!("BASE_URL={}", server.url()),
        "-e",
        "SLEEP_MS=50",
        "--vus",
        "2",
        "--duration",
        "3s",
        "--no-summary",
    ])
    .expect_code(0);
    let last_block = out
        .stderr
        .rsplit_once("\nrunning (")
        .unwrap_or_else(|| panic!("no progress block: {}", out.stderr))
        .1;
    let line = last_block
        .lines()
        .nth(1)
        .filter(|l| l.starts_with("  second "))
        .unwrap_or_else(|| panic!("no live line under the final running line: {}", out.stderr));
    let rate: u64 = line
        .split(": ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(rate > 0 && rate <= 45, "2 VUs sleeping 50 ms: {line}");
    assert!(
        line.contains("p(95)=") && line.contains("0.00% failed"),
        "{line}"
    );
}
