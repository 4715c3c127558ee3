//! The live web dashboard (`--dashboard`): the page is loaded in headless Chromium while a real
//! run goes on, every update it receives is recorded, and the numbers it shows are compared
//! with the run's own summary; plus the port-taken error and the connection bound.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::{probe_test, read_until_line, required_tool, volley, Child, Server};

/// Two scenarios hitting two URLs at a modest rate, a threshold that holds and one that is
/// crossed.
const TEST: &str = r#"
[scenarios.main]
executor = "constant-vus"
vus = 2
duration = "8s"

[scenarios.side]
executor = "constant-arrival-rate"
exec = "alt"
rate = 20
duration = "8s"
preAllocatedVUs = 2
maxVUs = 2

[thresholds]
http_req_duration = ["p(95)<5000"]
http_reqs = ["count<1"]
"#;

/// A `volley run` with the dashboard on a port of its own choosing.
struct LiveRun {
    child: Child,
    /// `http://127.0.0.1:PORT`, as the run printed it.
    url: String,
    /// Every stderr line, read on a thread so the pipe never fills.
    stderr: mpsc::Receiver<String>,
}

impl LiveRun {
    fn start(test: &Path, extra: &[&str]) -> LiveRun {
        let mut cmd = volley();
        cmd.args(["run", test.to_str().unwrap(), "--dashboard"])
            .args(["--dashboard-address", "127.0.0.1:0"])
            .args(extra);
        for var in ["K6_WEB_DASHBOARD_PORT", "K6_WEB_DASHBOARD_HOST"] {
            cmd.env_remove(var);
        }
        let mut child = Child::spawn_piped(&mut cmd);
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = String::new();
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = stderr
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no dashboard address ({e}):\n{seen}"));
            if let Some(url) = line.strip_prefix("web dashboard: ") {
                break url.to_string();
            }
            seen.push_str(&line);
            seen.push('\n');
        };
        LiveRun { child, url, stderr }
    }

    /// Waits for the end: exit code, stdout and the rest of stderr.
    fn finish(self) -> (i32, String, String) {
        let out = self.child.finish();
        let stderr: Vec<String> = self.stderr.try_iter().collect();
        (out.code, out.stdout, stderr.join("\n"))
    }
}

/// Headless Chromium driven over the DevTools protocol, one page.
struct Browser {
    _process: Child,
    ws: tungstenite::WebSocket<TcpStream>,
    session: String,
    next: u64,
}

impl Browser {
    /// Starts Chromium with a blank page; `None` when Chromium is skipped on purpose.
    fn start(profile: &Path) -> Option<Browser> {
        let chromium = required_tool(
            "chromium",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
            "apt-get install chromium",
        )?;
        let mut process = Child::spawn(
            std::process::Command::new(chromium)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--no-first-run",
                    "--remote-debugging-port=0",
                ])
                .arg(format!("--user-data-dir={}", profile.display()))
                .arg("about:blank")
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let err = process.stderr.take().unwrap();
        let seen = read_until_line(err, "DevTools listening on ", Duration::from_secs(60));
        let ws_url = seen
            .lines()
            .find_map(|l| l.split("DevTools listening on ").nth(1))
            .unwrap()
            .trim()
            .to_string();
        let host = ws_url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let stream = TcpStream::connect(&host).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(90)))
            .unwrap();
        let (ws, _) = tungstenite::client::client(ws_url.as_str(), stream).unwrap();
        let mut b = Browser {
            _process: process,
            ws,
            session: String::new(),
            next: 0,
        };
        let target = b.call("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = b.call(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        Some(b)
    }

    /// One DevTools call (on the page once attached); its result. Events are skipped.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let mut msg = json!({ "id": self.next, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::text(msg.to_string())).unwrap();
        loop {
            let reply = match self.ws.read().unwrap() {
                Message::Text(t) => serde_json::from_str::<Value>(t.as_str()).unwrap(),
                _ => continue,
            };
            if reply["id"] == json!(self.next) {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page, awaiting the promise it returns.
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
        );
        assert!(r.get("exceptionDetails").is_none(), "{r}");
        r["result"]["value"].clone()
    }
}

/// Records what the page shows after each update until the final report has arrived, then
/// resolves with those readings and the text of the report the download link holds.
const RECORD: &str = r#"new Promise((resolve) => {
  const rows = (id) => [...document.querySelectorAll('#' + id + ' tr[data-name]')]
    .map((r) => ({ name: r.dataset.name, requests: +r.dataset.requests }));
  const read = () => {
    const f = document.getElementById('facts').dataset;
    return {
      seq: +document.body.dataset.seq,
      done: document.body.dataset.done === 'true',
      elapsed_ms: +f.elapsedMs, requests: +f.requests, iterations: +f.iterations,
      thresholds: [...document.querySelectorAll('#thresholds td.pass, #thresholds td.fail')].map((td) => td.className),
      scenarios: rows('scenarios'), urls: rows('urls'),
      lines: document.querySelectorAll('svg.chart polyline.series').length,
      summary: document.getElementById('summary').textContent,
    };
  };
  const seen = [];
  document.addEventListener('volley-update', () => {
    const now = read();
    seen.push(now);
    if (now.done) {
      fetch(document.getElementById('download').href).then((r) => r.text())
        .then((report) => resolve({ seen, report }));
    }
  });
})"#;

fn u(v: &Value) -> u64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")) as u64
}

/// A count from the summary export.
fn count(summary: &Value, metric: &str) -> u64 {
    u(&summary["metrics"][metric]["values"]["count"])
}

/// Loads the page mid-run in Chromium and checks each update against the final summary: the
/// counts only grow, the last live update is within one update interval (plus the run's
/// shutdown) of the final figures, the final page shows exactly the summary's counts, its
/// thresholds and its text, per-scenario and per-URL rows add up to the total, and the report
/// the page offers is byte for byte the file `--report` wrote.
#[test]
fn live_page_in_chromium_matches_the_final_summary() {
    let server = Server::start();
    let test = probe_test(&server, "dashboard-live", TEST, "SLEEP_MS = \"50\"");
    let dir = test.parent().unwrap().to_path_buf();
    let Some(mut browser) = Browser::start(&dir.join("chromium-profile")) else {
        return;
    };
    let report = dir.join("report.html");
    let export = dir.join("summary.json");
    let run = LiveRun::start(
        &test,
        &[
            "--report",
            report.to_str().unwrap(),
            "--summary-export",
            export.to_str().unwrap(),
        ],
    );
    browser.call("Page.navigate", json!({ "url": run.url }));
    let recorded = browser.eval(RECORD);
    let (code, stdout, stderr) = run.finish();
    assert_eq!(code, 99, "http_reqs count<1 is crossed:\n{stderr}");
    let summary = crate::support::read_json(&export);
    let seen = recorded["seen"].as_array().unwrap();
    let (last, live) = seen.split_last().unwrap();
    assert!(last["done"] == json!(true));
    assert!(
        live.len() >= 2,
        "at least two live updates before the end: {seen:#?}"
    );

    // Live updates: numbered in order, counts that only grow, thresholds evaluated as they go.
    for pair in live.windows(2) {
        assert!(u(&pair[1]["seq"]) > u(&pair[0]["seq"]), "{pair:?}");
        for key in ["elapsed_ms", "requests", "iterations"] {
            assert!(u(&pair[1][key]) >= u(&pair[0][key]), "{key}: {pair:?}");
        }
    }
    for update in live {
        assert_eq!(update["lines"], 8, "the report's eight chart lines");
        assert_eq!(update["thresholds"], json!(["pass", "fail"]), "{update}");
        assert!(u(&update["requests"]) > 0, "{update}");
    }

    // The final page shows the summary's numbers exactly.
    let requests = count(&summary, "http_reqs");
    let iterations = count(&summary, "iterations");
    assert_eq!(u(&last["requests"]), requests);
    assert_eq!(u(&last["iterations"]), iterations);
    assert_eq!(last["thresholds"], json!(["pass", "fail"]));
    assert_eq!(
        last["summary"].as_str().unwrap().trim(),
        stdout.trim(),
        "the page's summary is the one printed"
    );
    let by_name = |rows: &Value, name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map_or(0, |r| u(&r["requests"]))
    };
    let base = server.url();
    let (root, alt) = (format!("{base}/"), format!("{base}/alt"));
    assert_eq!(
        by_name(&last["urls"], &root) + by_name(&last["urls"], &alt),
        requests,
        "{}",
        last["urls"]
    );
    assert!(by_name(&last["urls"], &alt) > 0);
    assert_eq!(
        by_name(&last["scenarios"], "main") + by_name(&last["scenarios"], "side"),
        requests,
        "{}",
        last["scenarios"]
    );

    // Updates kept coming to the end: the last live one is no further from the end than the
    // widest gap between live ones plus the run's shutdown (3 s on a loaded machine); and what
    // happened after it is no more than the run's average rate over that time (plus one interval
    // of merge slack).
    let latest = live.last().unwrap();
    let end_ms = u(&last["elapsed_ms"]);
    // The last live update may be stamped a moment after the final one (0: no gap).
    let gap_ms = end_ms.saturating_sub(u(&latest["elapsed_ms"]));
    let widest = live
        .windows(2)
        .map(|p| u(&p[1]["elapsed_ms"]) - u(&p[0]["elapsed_ms"]))
        .max()
        .unwrap_or(0);
    assert!(
        gap_ms <= widest + 3_000,
        "last live update {gap_ms} ms before the end (widest gap {widest} ms)"
    );
    let rate_per_ms = requests as f64 / end_ms as f64;
    let allowed = (rate_per_ms * (gap_ms + 1_000) as f64).ceil() as u64;
    assert!(
        requests - u(&latest["requests"]) <= allowed,
        "live {} vs final {requests} ({gap_ms} ms apart, {allowed} allowed)",
        latest["requests"]
    );

    // The report the page offers is the one `--report` wrote.
    assert_eq!(
        recorded["report"].as_str().unwrap(),
        std::fs::read_to_string(&report).unwrap()
    );
}

/// A taken port is a clear error naming the address and the flag, before the test runs.
#[test]
fn a_taken_port_names_the_address_and_the_flag() {
    let server = Server::start();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let test = probe_test(
        &server,
        "dashboard-taken",
        "vus = 1\nduration = \"1s\"\n",
        "",
    );
    let out = crate::support::run(&[
        "run",
        test.to_str().unwrap(),
        "--dashboard",
        "--dashboard-address",
        &addr,
        "-q",
    ])
    .expect_code(1);
    assert!(
        out.stderr.contains(&addr) && out.stderr.contains("--dashboard-address"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(server.hits(), 0, "the test did not start");
}

/// At most `MAX_CONNECTIONS` (16) connections are served: event streams that never read hold
/// their slots, the next connection gets a 503, and the run still ends on time with the
/// streams open (each holds one event, never a queue).
#[test]
fn connections_are_bounded_and_silent_readers_do_not_hold_the_run() {
    let server = Server::start();
    let test = probe_test(
        &server,
        "dashboard-bound",
        "vus = 2\nduration = \"4s\"\n",
        "SLEEP_MS = \"50\"",
    );
    let run = LiveRun::start(&test, &["-q"]);
    let addr = run.url.trim_start_matches("http://").to_string();
    let mut silent = Vec::new();
    for _ in 0..16 {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
        // Read the response head, so the server has taken this connection's slot.
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        silent.push(s);
    }
    let mut extra = TcpStream::connect(&addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // Nothing is sent: the refusal is written as soon as the connection is accepted (and a
    // request left unread would turn the close into a reset).
    let mut reply = String::new();
    let _ = extra.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    let started = Instant::now();
    let (code, _, stderr) = run.finish();
    assert_eq!(code, 0, "{stderr}");
    // 4 s of test plus at most the 3 s drain for pages that never read the final event.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the run waited for silent pages: {:?}",
        started.elapsed()
    );
    drop(silent);
}
