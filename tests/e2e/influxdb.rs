//! `--out influxdb` against a real InfluxDB 1.x (Debian's `influxdb`, started here on loopback
//! ports with a scratch data directory): the points its query API counts must match the run's
//! own summary; a server that is down or refuses the credentials costs a warning, not the run.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    component, on_a_free_port, port_free_now, read_json, scratch, try_read_until_line, volley,
    RefusingPort, Run, Server,
};

/// An InfluxDB server on free loopback ports, stopped on drop.
struct Influx {
    child: Child,
    port: u16,
}

impl Influx {
    /// Starts `influxd`; with `admin`, authentication is on and that user (name, password) is
    /// created as the server's first admin.
    fn start(admin: Option<(&str, &str)>) -> Option<Influx> {
        let binary = crate::support::required_tool(
            "influxd",
            &["/usr/bin/influxd"],
            "apt-get install influxdb",
        )?;
        // influxd cannot pick its ports and report them: it is given ports that were free a
        // moment ago; if another process took one in between it exits and others are tried.
        // Its own "Listening on HTTP" log line, printed once both listeners are bound, is the
        // signal that the ports are its own.
        let influx = on_a_free_port(|port| {
            let dir = scratch("influxdb");
            let config = dir.join("influxdb.conf");
            std::fs::write(
                &config,
                format!(
                    "reporting-enabled = false\n\
                     bind-address = \"127.0.0.1:{rpc}\"\n\
                     [meta]\n  dir = \"{d}/meta\"\n  logging-enabled = false\n\
                     [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
                     [monitor]\n  store-enabled = false\n\
                     [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n  \
                     auth-enabled = {auth}\n",
                    rpc = port_free_now(),
                    d = dir.display(),
                    auth = admin.is_some(),
                ),
            )
            .unwrap();
            let mut child = Command::new(&binary)
                .args(["run", "-config"])
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let log = child.stderr.take().unwrap();
            let influx = Influx { child, port };
            try_read_until_line(log, "Listening on HTTP", Duration::from_secs(30))
                .ok()
                .map(|_| influx)
        });
        if let Some((user, password)) = admin {
            let q = format!("CREATE USER {user} WITH PASSWORD '{password}' WITH ALL PRIVILEGES");
            let (status, body) = influx.request("POST", &format!("/query?q={}", encode(&q)), None);
            assert_eq!(status, 200, "{body}");
            // InfluxDB accepts the new user's credentials a moment after creating it; a run
            // started before that has its `CREATE DATABASE` refused, and every write then fails.
            use base64::Engine as _;
            let auth =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let (status, body) =
                    influx.request("POST", "/query?q=SHOW%20DATABASES", Some(&auth));
                if status == 200 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "credentials refused: {status} {body}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Some(influx)
    }

    /// An HTTP/1.0 request: status (0 when the server does not answer yet) and body.
    fn request(&self, method: &str, path: &str, auth: Option<&str>) -> (u16, String) {
        let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return (0, String::new());
        };
        let auth = auth.map_or(String::new(), |a| format!("Authorization: Basic {a}\r\n"));
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n{auth}\r\n"
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

    /// The one number an InfluxQL query on `db` returns (0 when it returns no series yet).
    fn number(&self, db: &str, influxql: &str, auth: Option<&str>) -> f64 {
        let path = format!("/query?db={db}&q={}", encode(influxql));
        let (status, body) = self.request("GET", &path, auth);
        assert_eq!(status, 200, "{influxql}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let result = &v["results"][0];
        assert!(result["error"].is_null(), "{influxql}: {body}");
        result["series"][0]["values"][0][1].as_f64().unwrap_or(0.0)
    }

    /// Polls `influxql` until it returns `expected` (bounded), and returns what it last returned.
    fn wait_for(&self, db: &str, influxql: &str, expected: f64, auth: Option<&str>) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.number(db, influxql, auth);
            if got == expected || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Influx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A probe run of 3 VUs x 40 iterations x 3 requests into `out`; the run and its summary.
fn probe_run(server: &Server, out: &str, env: &[(&str, &str)]) -> (Run, serde_json::Value) {
    let export = scratch("influx-run").join("summary.json");
    let mut cmd = volley();
    cmd.env("K6_INFLUXDB_PUSH_INTERVAL", "200ms");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = Run::from_output(
        cmd.args([
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
            out,
            "--summary-export",
            export.to_str().unwrap(),
        ])
        .output()
        .unwrap(),
    )
    .expect_code(0);
    let summary = read_json(&export);
    (run, summary)
}

fn count(summary: &serde_json::Value, metric: &str) -> f64 {
    summary["metrics"][metric]["values"]["count"]
        .as_f64()
        .unwrap_or_else(|| panic!("{metric} has no count in the summary"))
}

#[test]
fn points_land_in_a_real_influxdb() {
    let Some(influx) = Influx::start(None) else {
        return;
    };
    let server = Server::start();
    // The database does not exist yet: the output creates it, as k6's does.
    let db = "volley_e2e";
    let (run, summary) = probe_run(
        &server,
        &format!("influxdb=http://127.0.0.1:{}/{db}", influx.port),
        &[],
    );
    assert!(
        run.stderr.contains(&format!(
            "output: influxdb (http://127.0.0.1:{}/{db})",
            influx.port
        )),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("not written") && !run.stderr.contains("influxdb: write to"),
        "no write failed: {}",
        run.stderr
    );
    let reqs = count(&summary, "http_reqs");
    assert_eq!(reqs, 120.0);

    // Every sample is a point: counts agree exactly, even for samples taken in the same
    // millisecond with the same tags.
    let n = |q: &str, expected: f64| influx.wait_for(db, q, expected, None);
    assert_eq!(n("SELECT count(value) FROM http_reqs", reqs), reqs);
    assert_eq!(n("SELECT sum(value) FROM http_reqs", reqs), reqs);
    assert_eq!(n("SELECT count(value) FROM http_req_duration", reqs), reqs);
    let iterations = count(&summary, "iterations");
    assert_eq!(
        n("SELECT count(value) FROM iterations", iterations),
        iterations
    );
    assert_eq!(
        n(
            "SELECT count(value) FROM probe_requests WHERE kind = 'get'",
            reqs
        ),
        reqs
    );
    // Tags are tags; `url` is a field by default (k6's tagsAsFields = vu, iter, url).
    assert_eq!(
        n(
            "SELECT count(value) FROM http_reqs WHERE status = '200' AND method = 'GET' \
             AND scenario = 'default'",
            reqs
        ),
        reqs
    );
    assert_eq!(n("SELECT count(url) FROM http_reqs", reqs), reqs);
    let checks = &summary["metrics"]["checks"]["values"];
    let passes = checks["passes"].as_f64().unwrap();
    let all = passes + checks["fails"].as_f64().unwrap();
    assert_eq!(n("SELECT count(value) FROM checks", all), all);
    assert_eq!(n("SELECT sum(value) FROM checks", passes), passes);
    // Values are the samples': the sum of durations matches the summary's average.
    let avg_ms = summary["metrics"]["http_req_duration"]["values"]["avg"]
        .as_f64()
        .unwrap();
    let sum_ms = influx.number(db, "SELECT sum(value) FROM http_req_duration", None);
    assert!(
        (sum_ms - avg_ms * reqs).abs() <= 1e-6 * avg_ms * reqs + 1e-6,
        "influxdb sum {sum_ms}ms, summary avg {avg_ms}ms x {reqs}"
    );
}

#[test]
fn credentials_come_from_k6s_variables() {
    let Some(influx) = Influx::start(Some(("admin", "s3cret"))) else {
        return;
    };
    let server = Server::start();
    let url = format!("influxdb=http://127.0.0.1:{}/authed", influx.port);
    let (run, summary) = probe_run(
        &server,
        &url,
        &[
            ("K6_INFLUXDB_USERNAME", "admin"),
            ("K6_INFLUXDB_PASSWORD", "s3cret"),
        ],
    );
    // (A write slower than the push interval on a busy machine is a warning, not a failure.)
    assert!(!run.stderr.contains("not written"), "{}", run.stderr);
    let reqs = count(&summary, "http_reqs");
    // admin:s3cret
    let auth = Some("YWRtaW46czNjcmV0");
    assert_eq!(
        influx.wait_for("authed", "SELECT count(value) FROM http_reqs", reqs, auth),
        reqs
    );

    // A wrong password: the run goes on and says why nothing was written.
    let (run, _) = probe_run(
        &server,
        &url,
        &[
            ("K6_INFLUXDB_USERNAME", "admin"),
            ("K6_INFLUXDB_PASSWORD", "wrong"),
        ],
    );
    assert!(
        run.stderr.contains("answered 401 Unauthorized"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("points were not written"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_down_influxdb_is_reported_not_fatal() {
    let server = Server::start();
    let closed = RefusingPort::new();
    let out = Run::from_output(
        volley()
            .env("K6_INFLUXDB_PUSH_INTERVAL", "100ms")
            .args([
                "run",
                component("probe").to_str().unwrap(),
                "-e",
                &format!("BASE_URL={}", server.url()),
                "--iterations",
                "2",
                "--out",
                &format!("influxdb=http://127.0.0.1:{}/k6", closed.port),
            ])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    assert!(
        out.stderr.contains(&format!(
            "influxdb: write to http://127.0.0.1:{} failed",
            closed.port
        )),
        "{}",
        out.stderr
    );
    assert_eq!(server.hits(), 2);
}

#[test]
fn a_server_that_never_answers_is_timed_out() {
    let server = Server::start();
    // Accepts connections and reads nothing, answers nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().flatten() {
            held.push(conn);
        }
    });
    let started = Instant::now();
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
                &format!("influxdb=http://127.0.0.1:{port}/k6"),
            ])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    // One timed-out CREATE DATABASE (10 s), then timed-out writes within the 30 s drain bound;
    // the bound checked is far above that sum, so only a hang (not a busy machine) fails it.
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "{:?}",
        started.elapsed()
    );
    assert!(
        out.stderr.contains("points were not written"),
        "{}",
        out.stderr
    );
    assert_eq!(server.hits(), 2);
}
