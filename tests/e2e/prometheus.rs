//! `--out prometheus-rw` against a real Prometheus (Debian's `prometheus`, started here with the
//! remote-write receiver and native histograms on a loopback port): what its query API returns must
//! match the run's own summary.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{
    component, read_json, read_until_line, scratch, volley, Child, RefusingPort, Run, Server,
};

/// A Prometheus server on a free loopback port, stopped on drop (also used by `grafana.rs`).
pub struct Prometheus {
    _child: Child,
    pub port: u16,
}

impl Prometheus {
    pub fn start() -> Option<Prometheus> {
        let binary = crate::support::required_tool(
            "prometheus",
            &["/usr/bin/prometheus"],
            "apt-get install prometheus",
        )?;
        let dir = scratch("prometheus");
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, "scrape_configs: []\n").unwrap();
        // Prometheus picks its own port and logs it: no port changes hands.
        let mut child = Child::spawn(
            Command::new(binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg("--web.listen-address=127.0.0.1:0")
                .args([
                    "--web.enable-remote-write-receiver",
                    "--enable-feature=native-histograms",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let log = read_until_line(
            child.stderr.take().unwrap(),
            "Server is ready to receive web requests",
            Duration::from_secs(30),
        );
        let port = log
            .split_once("msg=\"Listening on\" address=127.0.0.1:")
            .and_then(|(_, p)| p.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no listening port in:\n{log}"));
        let prom = Prometheus {
            _child: child,
            port,
        };
        let (status, body) = prom.get("/-/ready");
        assert_eq!(status, 200, "{body}");
        Some(prom)
    }

    /// A GET on the server: status (0 when it does not answer yet) and body.
    pub fn get(&self, path_and_query: &str) -> (u16, String) {
        let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return (0, String::new());
        };
        let request = format!(
            "GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n",
            self.port
        );
        let mut response = String::new();
        if conn.write_all(request.as_bytes()).is_err()
            || conn.read_to_string(&mut response).is_err()
        {
            return (0, String::new());
        }
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string();
        (status, body)
    }

    /// An instant PromQL query that yields one sample; its value.
    fn scalar(&self, promql: &str) -> f64 {
        let (status, body) = self.get(&format!("/api/v1/query?query={}", encode(promql)));
        assert_eq!(status, 200, "{promql}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let result = v["data"]["result"].as_array().unwrap();
        assert_eq!(result.len(), 1, "{promql}: {body}");
        result[0]["value"][1].as_str().unwrap().parse().unwrap()
    }
}

/// Percent-encodes a query parameter.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn remote_write_lands_in_a_real_prometheus() {
    let Some(prom) = Prometheus::start() else {
        return;
    };
    let server = Server::start();
    let dir = scratch("prom-rw");
    let (export, stream) = (dir.join("summary.json"), dir.join("samples.json"));
    let out = Run::from_output(
        volley()
            .env("VOLLEY_PROMETHEUS_RW_PUSH_INTERVAL", "200ms")
            .args([
                "run",
                component("probe").to_str().unwrap(),
                "-e",
                &format!("BASE_URL={}", server.url()),
                "-e",
                "REQUESTS=3",
                "-e",
                "CUSTOM_METRICS=1",
                "--vus",
                "3",
                "--iterations",
                "40",
                "--out",
                &format!("prometheus-rw=http://127.0.0.1:{}/api/v1/write", prom.port),
                "--summary-export",
                export.to_str().unwrap(),
                "--out",
                &format!("json={}", stream.display()),
            ])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    assert!(
        out.stderr
            .contains("output: prometheus-rw (http://127.0.0.1:"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("prometheus-rw:"),
        "no push failed: {}",
        out.stderr
    );
    let summary = read_json(&export);
    let reqs = summary["metrics"]["http_reqs"]["values"]["count"]
        .as_f64()
        .unwrap();
    assert_eq!(reqs, 120.0);

    // Counters and histogram counts are exact.
    assert_eq!(prom.scalar("sum(k6_http_reqs_total)"), reqs);
    assert_eq!(
        prom.scalar(r#"sum(k6_http_reqs_total{method="GET",status="200",scenario="default"})"#),
        reqs
    );
    assert_eq!(
        prom.scalar("sum(histogram_count(k6_http_req_duration_seconds))"),
        reqs
    );
    assert_eq!(
        prom.scalar(r#"sum(k6_probe_requests_total{kind="get"})"#),
        reqs
    );
    assert_eq!(
        prom.scalar("sum(histogram_count(k6_probe_duration_seconds))"),
        reqs
    );
    assert_eq!(
        prom.scalar("sum(k6_iterations_total)"),
        summary["metrics"]["iterations"]["values"]["count"]
            .as_f64()
            .unwrap()
    );
    // Rates are shares; every check passed.
    assert_eq!(
        prom.scalar(r#"min(k6_checks_rate{check="status is 200"})"#),
        1.0
    );

    // Sums agree, and Prometheus's quantile from the native histogram is close to the exact one.
    let duration = &summary["metrics"]["http_req_duration"]["values"];
    let avg_ms = duration["avg"].as_f64().unwrap();
    let prom_sum_s = prom.scalar("sum(histogram_sum(k6_http_req_duration_seconds))");
    assert!(
        (prom_sum_s * 1000.0 - avg_ms * reqs).abs() <= 1e-6 * avg_ms * reqs + 1e-6,
        "sum: prometheus {prom_sum_s}s, summary avg {avg_ms}ms x {reqs}"
    );
    // The README promises about 2 %: schema 5 buckets grow by 2^(1/32) (2.19 %), and
    // histogram_quantile interpolates inside the bucket that holds the sample of rank q x count,
    // so its answer is within one bucket's width of that exact sample (from the NDJSON stream).
    let mut samples: Vec<f64> = std::fs::read_to_string(&stream)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "Point" && v["metric"] == "http_req_duration")
        .map(|v| v["data"]["value"].as_f64().unwrap() / 1000.0)
        .collect();
    assert_eq!(samples.len() as f64, reqs);
    samples.sort_by(f64::total_cmp);
    let growth = 2f64.powf(1.0 / 32.0);
    // The buckets Prometheus holds are schema 5's: each bound 2^(1/32) above the one below.
    let (status, body) = prom.get(&format!(
        "/api/v1/query?query={}",
        encode("sum(k6_http_req_duration_seconds)")
    ));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let buckets = v["data"]["result"][0]["histogram"][1]["buckets"]
        .as_array()
        .unwrap_or_else(|| panic!("no native histogram: {body}"));
    assert!(!buckets.is_empty(), "{body}");
    for b in buckets {
        let bound = |i: usize| b[i].as_str().unwrap().parse::<f64>().unwrap();
        let ratio = bound(2) / bound(1);
        assert!(
            (ratio - growth).abs() < 1e-9,
            "bucket {b} grows by {ratio}, not 2^(1/32)"
        );
    }
    for q in [0.5, 0.95, 0.99] {
        let exact = samples[(q * reqs).ceil() as usize - 1];
        let theirs = prom.scalar(&format!(
            "histogram_quantile({q}, sum(k6_http_req_duration_seconds))"
        ));
        assert!(
            theirs >= exact / growth && theirs <= exact * growth,
            "p{q}: prometheus {theirs}s, exact sample {exact}s (bucket growth {growth})"
        );
    }
}

#[test]
fn a_missing_receiver_is_reported_not_fatal() {
    let server = Server::start();
    let refusing = RefusingPort::new();
    let closed = refusing.port;
    let out = Run::from_output(
        volley()
            .args([
                "run",
                component("probe").to_str().unwrap(),
                "-e",
                &format!("BASE_URL={}", server.url()),
                "--iterations",
                "2",
                "--out",
                &format!("prometheus-rw=http://127.0.0.1:{closed}/api/v1/write"),
            ])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    assert!(
        out.stderr.contains(&format!(
            "prometheus-rw: push to http://127.0.0.1:{closed}/api/v1/write failed"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(server.hits(), 2);
}
