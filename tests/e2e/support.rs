//! Test support: a real hyper server on 127.0.0.1:0, real scenario components built from
//! `tests/components`, and the real `volley` binary.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
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

/// The first of `paths` that exists, for a test that needs that tool. A missing tool fails the
/// test naming it and how to install it, unless the developer lists it in `VOLLEY_TEST_SKIP`
/// (comma-separated, e.g. `chromium,prometheus`): then the test says so and returns `None`.
pub fn required_tool(name: &str, paths: &[&str], install: &str) -> Option<PathBuf> {
    if let Some(found) = paths.iter().map(PathBuf::from).find(|p| p.exists()) {
        return Some(found);
    }
    let skipped = std::env::var("VOLLEY_TEST_SKIP").unwrap_or_default();
    if skipped.split(',').any(|t| t.trim() == name) {
        eprintln!("SKIPPED: {name} is absent and VOLLEY_TEST_SKIP names it");
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
    let export = test.with_extension("json");
    let out = volley_js()
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

/// Writes `NAME/NAME.toml` running the probe component: `body`, then `[env]` with `BASE_URL` of
/// `server` and `env_extra`. Returns its path.
pub fn probe_test(server: &Server, name: &str, body: &str, env_extra: &str) -> PathBuf {
    let path = scratch(name).join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "plugin = \"{}\"\n{body}\n[env]\nBASE_URL = \"{}\"\n{env_extra}\n",
            component("probe").display(),
            server.url()
        ),
    )
    .unwrap();
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
    // Read the whole request body before answering: a server that answers first and closes
    // races the client still writing a large body (a broken pipe on a busy machine).
    let _ = http_body_util::BodyExt::collect(req.into_body()).await;
    paths.lock().unwrap().push(path.clone());
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
