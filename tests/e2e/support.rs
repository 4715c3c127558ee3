//! Test support: a real hyper server on 127.0.0.1:0, real scenario components built from
//! `tests/components`, and the real `volley` binary.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the guest components once per test binary and returns the path of `name`.
pub fn component(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT
        .get_or_init(|| {
            let target_dir = root().join("target").join("guest");
            let out = Command::new(env!("CARGO"))
                .current_dir(root())
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "probe",
                    "-p",
                    "otherworld",
                    "-p",
                    "legacy",
                    "-p",
                    "hostile",
                    "-p",
                    "hostile-io",
                    "-p",
                    "chat",
                    "-p",
                    "redis",
                    "-p",
                    "grpc-probe",
                    "-p",
                    "hostile-options",
                    "-p",
                    "hostile-limits",
                    "-p",
                    "hostile-net",
                    "--target",
                    "wasm32-wasip2",
                ])
                .args(["--profile", "guest", "--target-dir"])
                .arg(&target_dir)
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
            Ok(target_dir.join("wasm32-wasip2").join("guest"))
        })
        .as_ref()
        .unwrap_or_else(|e| panic!("building test components failed:\n{e}"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The tool a test needs: the first of `paths`' file names found on PATH, else the first of
/// `paths` that exists (as `.ci/run` looks: `command -v`, then the Debian path). A missing tool
/// fails the test naming it and how to install it, unless the developer lists it in
/// `VOLLEY_TEST_SKIP` (comma-separated, e.g. `chromium,prometheus`): then the test says so and
/// returns `None`.
pub fn required_tool(name: &str, paths: &[&str], install: &str) -> Option<PathBuf> {
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let on_path = paths.iter().find_map(|p| {
        let file = Path::new(p).file_name()?;
        path_dirs.iter().map(|d| d.join(file)).find(|c| c.is_file())
    });
    if let Some(found) = on_path.or_else(|| paths.iter().map(PathBuf::from).find(|p| p.is_file())) {
        return Some(found);
    }
    let skipped = std::env::var("VOLLEY_TEST_SKIP").unwrap_or_default();
    if skipped.split(',').any(|t| t.trim() == name) {
        // Straight to the process's stderr: libtest hides eprintln! of a passing test, and a
        // skip must show in the test output.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {name} is absent and VOLLEY_TEST_SKIP names it"
        );
        return None;
    }
    panic!(
        "{name} is required and absent (looked for {}): {install}, or run ./.ci/run, \
         or set VOLLEY_TEST_SKIP={name} to skip what needs it",
        paths.join(", ")
    );
}

/// A fresh scratch directory under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = root().join("target").join("e2e-scratch").join(format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The result of one `volley` invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with both streams unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A child process (a long `volley` run, a server) that is killed and reaped when dropped, so a
/// failed assertion never leaves it running past its test.
pub struct Child(Option<std::process::Child>);

impl Child {
    /// Spawns `cmd` (its stdio as the caller set it).
    pub fn spawn(cmd: &mut Command) -> Child {
        Child(Some(
            cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")),
        ))
    }

    /// Spawns `cmd` with stdout and stderr piped, for [`Child::finish`].
    pub fn spawn_piped(cmd: &mut Command) -> Child {
        Child::spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()))
    }

    pub fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Sends SIGINT (k6's Ctrl-C).
    pub fn interrupt(&self) {
        // SAFETY: kill(2) on our own child's pid, which is not reaped while `self` holds it.
        unsafe { libc::kill(self.id() as i32, libc::SIGINT) };
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.0.as_mut().unwrap().try_wait().unwrap()
    }

    /// Waits for the end and collects what was piped.
    pub fn finish(mut self) -> Run {
        Run::from_output(self.0.take().unwrap().wait_with_output().unwrap())
    }
}

impl std::ops::Deref for Child {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        self.0.as_ref().unwrap()
    }
}

impl std::ops::DerefMut for Child {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        self.0.as_mut().unwrap()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback port that refuses connections and that nobody else can take while this lives: a
/// socket bound to 127.0.0.1:0 that never listens (a dropped listener's port can be reused by
/// anyone, possibly by a server of another test running in parallel).
pub struct RefusingPort {
    fd: i32,
    pub port: u16,
}

impl RefusingPort {
    pub fn new() -> RefusingPort {
        // SAFETY: plain socket(2)/bind(2)/getsockname(2) on a socket this function owns, with
        // properly sized sockaddr_in buffers.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let bound = libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len);
            assert_eq!(bound, 0, "bind: {}", std::io::Error::last_os_error());
            let mut got: libc::sockaddr_in = std::mem::zeroed();
            let mut got_len = len;
            let named =
                libc::getsockname(fd, &mut got as *mut _ as *mut libc::sockaddr, &mut got_len);
            assert_eq!(named, 0, "getsockname: {}", std::io::Error::last_os_error());
            RefusingPort {
                fd,
                port: u16::from_be(got.sin_port),
            }
        }
    }
}

impl Drop for RefusingPort {
    fn drop(&mut self) {
        // SAFETY: closes the socket this value owns, once.
        unsafe { libc::close(self.fd) };
    }
}

/// Starts a server that takes its port on the command line and cannot report one it picked
/// itself: `start(port)` spawns it on a port that was free a moment ago and returns it once it
/// answers as itself, or `None` when it exited (another process took the port in between). Up to
/// five ports are tried, so losing that race costs a retry, never a test.
pub fn on_a_free_port<T>(mut start: impl FnMut(u16) -> Option<T>) -> T {
    for _ in 0..5 {
        if let Some(started) = start(port_free_now()) {
            return started;
        }
    }
    panic!("no free port held for five attempts in a row");
}

/// A loopback port that was free a moment ago. Only for servers started through
/// [`on_a_free_port`], which retries when another process took it in between.
pub fn port_free_now() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Reads `stream` line by line on a thread until it ends, and returns what it read up to and
/// including the first line that contains `needle` (the rest is drained, so the writer never
/// blocks on a full pipe). Panics, showing what was read, if the stream ends first or `limit`
/// passes: a server's own log line is the signal that it is ready, no polling needed.
pub fn read_until_line(
    stream: impl std::io::Read + Send + 'static,
    needle: &str,
    limit: Duration,
) -> String {
    try_read_until_line(stream, needle, limit).unwrap_or_else(|seen| panic!("{seen}"))
}

/// [`read_until_line`], with `Err(what was read)` when the stream ends before the line.
pub fn try_read_until_line(
    stream: impl std::io::Read + Send + 'static,
    needle: &str,
    limit: Duration,
) -> Result<String, String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + limit;
    let mut seen = String::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(needle) {
                    return Ok(seen);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Err(seen),
            Err(e) => panic!("no line with {needle:?} within {limit:?} ({e}):\n{seen}"),
        }
    }
}

/// A `volley` command with its compile cache in the target dir.
pub fn volley() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_volley"));
    cmd.env("VOLLEY_CACHE_DIR", root().join("target").join("e2e-cache"));
    for var in [
        "VOLLEY_VUS",
        "VOLLEY_DURATION",
        "VOLLEY_ITERATIONS",
        "VOLLEY_STAGES",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// `volley` with the JavaScript toolchain the repository pins (`plugins/montecarlo-js`).
pub fn volley_js() -> Command {
    let mut cmd = volley();
    cmd.env("VOLLEY_JS_TOOLCHAIN", root().join("plugins/montecarlo-js"));
    cmd
}

/// Runs a test whose plugin is a JavaScript script (`volley run TEST -q --summary-export
/// TEST.json`), expects exit 0, and returns the summary.
pub fn run_js_test(test: &Path) -> serde_json::Value {
    run_js_test_with(test, &[])
}

/// [`run_js_test`] with extra environment variables (e.g. `VOLLEY_JS_ENGINE`).
pub fn run_js_test_with(test: &Path, env: &[(&str, &str)]) -> serde_json::Value {
    let export = test.with_extension("json");
    let out = volley_js()
        .envs(env.iter().copied())
        .args(["run", test.to_str().unwrap(), "-q", "--summary-export"])
        .arg(&export)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    read_json(&export)
}

/// `volley run SCRIPT -q -e NAME=VALUE… --summary-export EXPORT ARGS` with the repository's JS
/// toolchain: the run and its summary export (`Null` when none was written).
pub fn run_js_exported(
    script: &Path,
    env: &[(&str, String)],
    args: &[&str],
    export: &Path,
) -> (Run, serde_json::Value) {
    let mut cmd = volley_js();
    cmd.args(["run", script.to_str().unwrap(), "-q"]);
    for (name, value) in env {
        cmd.arg("-e").arg(format!("{name}={value}"));
    }
    cmd.arg("--summary-export").arg(export).args(args);
    let out = Run::from_output(cmd.output().unwrap());
    let summary = if export.is_file() {
        read_json(export)
    } else {
        serde_json::Value::Null
    };
    (out, summary)
}

/// [`run_js_exported`] of `source` (a script's text), written to `NAME.js` in a scratch
/// directory named `name`, its summary exported beside it.
pub fn run_js_source(name: &str, source: &str, env: &[(&str, String)]) -> (Run, serde_json::Value) {
    let dir = scratch(name);
    let path = dir.join(format!("{name}.js"));
    std::fs::write(&path, source).unwrap();
    run_js_exported(&path, env, &[], &dir.join("summary.json"))
}

/// `k6 run --no-color -q -e NAME=VALUE… --summary-export EXPORT ARGS SCRIPT` with the real k6
/// at `k6` (the fixture recorders'; `K6_NO_USAGE_REPORT=true`): its summary export, once it
/// succeeded.
pub fn run_k6_exported(
    k6: &str,
    script: &Path,
    env: &[(&str, String)],
    args: &[String],
    export: &Path,
) -> serde_json::Value {
    let mut cmd = std::process::Command::new(k6);
    cmd.env("K6_NO_USAGE_REPORT", "true")
        .args(["run", "--no-color", "-q"]);
    for (name, value) in env {
        cmd.arg("-e").arg(format!("{name}={value}"));
    }
    let out = cmd
        .arg("--summary-export")
        .arg(export)
        .args(args)
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    read_json(export)
}

/// The checks of a summary export as `{ name: [passes, fails] }`: Volley's export lists them,
/// k6's `--summary-export` nests them in `root_group`.
pub fn checks_by_name(
    summary: &serde_json::Value,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let pair = |c: &serde_json::Value| serde_json::json!([c["passes"], c["fails"]]);
    match summary["checks"].as_array() {
        Some(list) => list
            .iter()
            .map(|c| (c["name"].as_str().unwrap().to_string(), pair(c)))
            .collect(),
        None => summary["root_group"]["checks"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, c)| (name.clone(), pair(c)))
            .collect(),
    }
}

/// Runs `volley` with `args`.
pub fn run(args: &[&str]) -> Run {
    Run::from_output(volley().args(args).output().expect("run volley"))
}

/// The JSON summary's entry for check `name` (`passes`, `fails`); panics if absent.
pub fn check(summary: &serde_json::Value, name: &str) -> serde_json::Value {
    summary["checks"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no check {name:?} in {}", summary["checks"]))
}

/// The preamble most tests share: a fresh [`Server`], a scratch directory, and the probe
/// component run against that server with a JSON summary export.
pub struct Probe {
    pub server: Server,
    pub dir: PathBuf,
}

impl Probe {
    pub fn start(name: &str) -> Probe {
        Probe {
            server: Server::start(),
            dir: scratch(name),
        }
    }

    /// `volley run PROBE -e BASE_URL=SERVER ARGS --summary-export DIR/summary.json -q`: expects
    /// exit `code`, returns the output and the summary.
    pub fn run(&self, args: &[&str], code: i32) -> (Run, serde_json::Value) {
        let plugin = component("probe");
        let base = format!("BASE_URL={}", self.server.url());
        let export = self.dir.join("summary.json");
        let _ = std::fs::remove_file(&export);
        let mut all = vec!["run", plugin.to_str().unwrap(), "-e", &base];
        all.extend_from_slice(args);
        all.extend(["--summary-export", export.to_str().unwrap(), "-q"]);
        let out = run(&all).expect_code(code);
        (out, read_json(&export))
    }

    /// A test file `NAME.toml` in the scratch directory running the probe: `body`, then `[env]`
    /// with `BASE_URL` and `env_extra`.
    pub fn test(&self, name: &str, body: &str, env_extra: &str) -> PathBuf {
        let path = self.dir.join(format!("{name}.toml"));
        write_probe_test(&path, &self.server, body, env_extra);
        path
    }
}

fn write_probe_test(path: &Path, server: &Server, body: &str, env_extra: &str) {
    std::fs::write(
        path,
        format!(
            "plugin = \"{}\"\n{body}\n[env]\nBASE_URL = \"{}\"\n{env_extra}\n",
            component("probe").display(),
            server.url()
        ),
    )
    .unwrap();
}

/// Writes `NAME/NAME.toml` running the probe component: `body`, then `[env]` with `BASE_URL` of
/// `server` and `env_extra`. Returns its path.
pub fn probe_test(server: &Server, name: &str, body: &str, env_extra: &str) -> PathBuf {
    let path = scratch(name).join(format!("{name}.toml"));
    write_probe_test(&path, server, body, env_extra);
    path
}

/// Runs `volley run TEST --summary-export TEST.json -q EXTRA`, expects exit `code`, and returns
/// the output with the parsed JSON summary.
pub fn run_with_summary(test: &Path, extra: &[&str], code: i32) -> (Run, serde_json::Value) {
    let export = test.with_extension("json");
    let mut args = vec![
        "run",
        test.to_str().unwrap(),
        "--summary-export",
        export.to_str().unwrap(),
        "-q",
    ];
    args.extend_from_slice(extra);
    let out = run(&args).expect_code(code);
    let summary = read_json(&export);
    (out, summary)
}

/// Reads a JSON summary export.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// A real HTTP/1.1 server on 127.0.0.1:0 that counts requests.
/// Routes: `/` → 200 "ok"; `/status/N` → status N; `/slow/MS` → 200 after MS milliseconds;
/// `/files/NAME` → the file NAME from the directory given to [`Server::with_files`].
pub struct Server {
    pub addr: SocketAddr,
    hits: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
    paths: Arc<Mutex<Vec<String>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    pub fn start() -> Server {
        Server::serve(None)
    }

    /// A server that also serves the files of `dir` under `/files/`.
    pub fn with_files(dir: &Path) -> Server {
        Server::serve(Some(dir.to_path_buf()))
    }

    fn serve(files: Option<PathBuf>) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let hits = Arc::new(AtomicU64::new(0));
        let accepted = Arc::new(AtomicU64::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (h, p, a) = (hits.clone(), paths.clone(), accepted.clone());
        let files = Arc::new(files);
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                a.fetch_add(1, Ordering::SeqCst);
                let (h, p, f) = (h.clone(), p.clone(), files.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (h, p, f) = (h.clone(), p.clone(), f.clone());
                        async move {
                            Ok::<_, Infallible>(respond(req, &h, &p, f.as_ref().as_deref()).await)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server {
            addr,
            hits,
            accepted,
            paths,
            _runtime: runtime,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// TCP connections accepted, whether or not a request followed (a sandbox test asserts
    /// that a denied plugin never reached the socket at all).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    /// Blocks until at least `n` requests arrived (bounded by `limit`).
    pub fn wait_for_hits(&self, n: u64, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if self.hits() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

async fn respond(
    req: Request<hyper::body::Incoming>,
    hits: &AtomicU64,
    paths: &Mutex<Vec<String>>,
    files: Option<&Path>,
) -> Response<Full<Bytes>> {
    hits.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_string();
    let (head, body) = req.into_parts();
    // Read the whole request body before answering: a server that answers first and closes
    // races the client still writing a large body (a broken pipe on a busy machine).
    let body = http_body_util::BodyExt::collect(body)
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    paths.lock().unwrap().push(path.clone());
    if let Some(r) = echo_or_set_cookie(&head, &body) {
        return r;
    }
    if let (Some(dir), Some(name)) = (files, path.strip_prefix("/files/")) {
        return match std::fs::read(dir.join(name)) {
            Ok(bytes) => Response::new(Full::new(Bytes::from(bytes))),
            Err(_) => Response::builder()
                .status(404)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        };
    }
    let mut status = 200u16;
    if let Some(code) = path.strip_prefix("/status/") {
        status = code.parse().unwrap_or(400);
    } else if let Some(ms) = path.strip_prefix("/slow/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
    }
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(b"ok\n")))
        .unwrap()
}

/// `/echo`: the request's method, headers (names lower-case, repeated ones joined with `, `)
/// and body (UTF-8, lossy) as JSON. `/set-cookie?a=1&b=2`: one `Set-Cookie: NAME=VALUE; Path=/`
/// per pair, and `/set-cookie/raw?TEXT`: `Set-Cookie: TEXT` (percent-decoded).
fn echo_or_set_cookie(
    head: &hyper::http::request::Parts,
    body: &Bytes,
) -> Option<Response<Full<Bytes>>> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                    i += 3;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    let query = head.uri.query().unwrap_or("");
    match head.uri.path() {
        "/echo" => {
            let mut headers = serde_json::Map::new();
            for (name, value) in &head.headers {
                let value = value.to_str().unwrap_or("").to_string();
                let joined = match headers.get(name.as_str()).and_then(|v| v.as_str()) {
                    Some(old) => format!("{old}, {value}"),
                    None => value,
                };
                headers.insert(name.as_str().to_string(), joined.into());
            }
            let doc = serde_json::json!({
                "method": head.method.as_str(),
                "headers": headers,
                "body": String::from_utf8_lossy(body),
            });
            Some(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(doc.to_string())))
                    .unwrap(),
            )
        }
        "/set-cookie" => {
            let mut r = Response::builder();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                r = r.header("set-cookie", format!("{}; Path=/", decode(pair)));
            }
            Some(r.body(Full::new(Bytes::from_static(b"ok\n"))).unwrap())
        }
        "/set-cookie/raw" => Some(
            Response::builder()
                .header("set-cookie", decode(query))
                .body(Full::new(Bytes::from_static(b"ok\n")))
                .unwrap(),
        ),
        _ => None,
    }
}
