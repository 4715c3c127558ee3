//! `volley build`: turns a k6-style JavaScript scenario into a component.
//!
//! The script and its own modules are bundled with esbuild into a function run once per VU
//! (k6's init context, [`init_module`]), then with Volley's k6 shim (`sdk/js`: `k6`, `k6/http`,
//! `k6/metrics`, `k6/ws`, `k6/websockets`, `k6/encoding`, `k6/timers`, `k6/crypto`, `k6/execution`,
//! `k6/data`, `k6/html`,
//! `k6/net/grpc` with the `.proto` files the script loads, and the glue that exports
//! `options`/`setup`/`iteration`/`teardown`), then componentized against the WIT in `wit/` by
//! the engine's tool ([`engine`]: componentize-js for SpiderMonkey, componentize-qjs for
//! QuickJS). The files the script `open()`s ([`files`]) and where its lines came from
//! ([`source_map`]) are appended as custom sections. Both tools come from npm and run on node;
//! they are looked up in a `node_modules` folder (see [`find_toolchain`]), never installed
//! behind the user's back. `volley run script.js` builds through [`build_cached`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub mod engine;
mod files;
mod init_module;
mod protos;
pub mod remote;
mod source_map;

pub use engine::JsEngine;

/// The npm package that componentizes the bundle, and the version Volley is tested with.
pub const COMPONENTIZE_JS: (&str, &str) = ("@bytecodealliance/componentize-js", "0.23.0");
/// The npm package that componentizes the bundle on QuickJS, and the version Volley is tested with.
pub const COMPONENTIZE_QJS: (&str, &str) = ("componentize-qjs", "0.4.5");
/// The npm package that bundles the script with the shim, and the version Volley is tested with.
pub const ESBUILD: (&str, &str) = ("esbuild", "0.28.2");

/// The JS shim (`sdk/js`), written next to the bundle at build time.
const SHIM: &[(&str, &str)] = &[
    ("entry.js", include_str!("../../sdk/js/entry.js")),
    ("polyfills.js", include_str!("../../sdk/js/polyfills.js")),
    ("random.js", include_str!("../../sdk/js/random.js")),
    ("open.js", include_str!("../../sdk/js/open.js")),
    (
        "engine/spidermonkey.js",
        include_str!("../../sdk/js/engine/spidermonkey.js"),
    ),
    (
        "engine/quickjs.js",
        include_str!("../../sdk/js/engine/quickjs.js"),
    ),
    ("runtime.js", include_str!("../../sdk/js/runtime.js")),
    ("toml.js", include_str!("../../sdk/js/toml.js")),
    ("k6/index.js", include_str!("../../sdk/js/k6/index.js")),
    ("k6/http.js", include_str!("../../sdk/js/k6/http.js")),
    ("k6/metrics.js", include_str!("../../sdk/js/k6/metrics.js")),
    ("k6/ws.js", include_str!("../../sdk/js/k6/ws.js")),
    (
        "k6/encoding.js",
        include_str!("../../sdk/js/k6/encoding.js"),
    ),
    ("k6/timers.js", include_str!("../../sdk/js/k6/timers.js")),
    (
        "k6/websockets.js",
        include_str!("../../sdk/js/k6/websockets.js"),
    ),
    (
        "k6/experimental/websockets.js",
        include_str!("../../sdk/js/k6/experimental/websockets.js"),
    ),
    ("k6/crypto.js", include_str!("../../sdk/js/k6/crypto.js")),
    (
        "k6/execution.js",
        include_str!("../../sdk/js/k6/execution.js"),
    ),
    ("k6/data.js", include_str!("../../sdk/js/k6/data.js")),
    ("k6/html.js", include_str!("../../sdk/js/k6/html.js")),
    (
        "k6/html-absent.js",
        include_str!("../../sdk/js/k6/html-absent.js"),
    ),
    (
        "k6/net/grpc.js",
        include_str!("../../sdk/js/k6/net/grpc.js"),
    ),
];

/// The scenario world (`wit/`), which the componentize tool reads from disk.
const WIT: &[(&str, &str)] = &[
    ("world.wit", include_str!("../../wit/world.wit")),
    ("http.wit", include_str!("../../wit/http.wit")),
    ("checks.wit", include_str!("../../wit/checks.wit")),
    ("timing.wit", include_str!("../../wit/timing.wit")),
    ("vu.wit", include_str!("../../wit/vu.wit")),
    ("log.wit", include_str!("../../wit/log.wit")),
    ("metrics.wit", include_str!("../../wit/metrics.wit")),
    ("group.wit", include_str!("../../wit/group.wit")),
    ("websocket.wit", include_str!("../../wit/websocket.wit")),
    ("grpc.wit", include_str!("../../wit/grpc.wit")),
    ("tcp.wit", include_str!("../../wit/tcp.wit")),
    ("summary.wit", include_str!("../../wit/summary.wit")),
    ("init.wit", include_str!("../../wit/init.wit")),
    ("execution.wit", include_str!("../../wit/execution.wit")),
    ("cookies.wit", include_str!("../../wit/cookies.wit")),
    ("crypto.wit", include_str!("../../wit/crypto.wit")),
    ("test-status.wit", include_str!("../../wit/test-status.wit")),
    (
        "websocket-events.wit",
        include_str!("../../wit/websocket-events.wit"),
    ),
    (
        "grpc-streams.wit",
        include_str!("../../wit/grpc-streams.wit"),
    ),
];

/// The world a script is built against: `scenario` plus `handle-summary` (`wit/summary.wit`).
pub const WORLD: &str = "scenario-with-summary";

/// Imports a JS component has that Volley's sandbox refuses by default: both engines link
/// `wasi:filesystem` although a scenario never opens a file (nothing is preopened).
pub const JS_RUNTIME_IMPORTS: &[&str] = &["wasi:filesystem/*"];

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The script file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The script.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not a JavaScript file.
    #[error("{path}: volley build takes a JavaScript scenario (.js or .mjs); build Rust, Python and C scenarios with their own toolchains (see plugins/*/README.md)")]
    NotJavaScript {
        /// The file.
        path: PathBuf,
    },
    /// `node` is not on PATH.
    #[error("node was not found on PATH{npm}: building a JavaScript scenario needs Node.js 18 or newer (Debian: apt-get install nodejs npm)")]
    NodeMissing {
        /// Whether npm is missing too, as a phrase.
        npm: &'static str,
    },
    /// The npm packages are not installed where Volley looks.
    #[error("{missing} not found in node_modules of {searched} or $VOLLEY_JS_TOOLCHAIN: install {install} next to the script with `npm install --save-dev {install}`{npm}")]
    PackagesMissing {
        /// The missing packages.
        missing: String,
        /// The folders searched.
        searched: String,
        /// The `name@version` list to install.
        install: String,
        /// A note when npm itself is missing.
        npm: &'static str,
    },
    /// A tool ran and failed.
    #[error("{tool} failed ({status}) building {script}:\n{output}")]
    Tool {
        /// Which tool.
        tool: &'static str,
        /// The script.
        script: PathBuf,
        /// Its exit status.
        status: String,
        /// What it printed.
        output: String,
    },
    /// A tool could not be started.
    #[error("cannot run {path}: {source}")]
    Spawn {
        /// The program.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The built-scripts cache is in a directory others can write (they could swap the
    /// component the run loads).
    #[error("cache directory {} cannot be trusted (see the warning above): set VOLLEY_CACHE_DIR to a directory only you can write", .dir.display())]
    UntrustedCache {
        /// The directory.
        dir: PathBuf,
    },
    /// A `.proto` file the script loads was not found.
    #[error("{script} loads {name}, which is in none of: {searched} (k6/net/grpc's .proto files are embedded when the script is built; name them relative to the script or to a folder given to client.load)")]
    ProtoMissing {
        /// The script.
        script: PathBuf,
        /// The file as the script or an import names it.
        name: String,
        /// The folders searched.
        searched: String,
    },
    /// A file the script reads with `open()` was not found.
    #[error("{script}: {} opens '{name}', which is in none of: {searched} (volley build embeds the files a script names in open('...'), relative to the file naming them)", .module.display())]
    FileMissing {
        /// The script.
        script: PathBuf,
        /// The file as the script names it.
        name: String,
        /// The script or module that names it.
        module: PathBuf,
        /// The folders searched.
        searched: String,
    },
    /// The script imports a `k6/…` module Volley does not provide.
    #[error("{script} imports '{module}', a k6 module Volley does not provide (see docs/k6-compatibility.md for the modules it has)")]
    UnknownModule {
        /// The script.
        script: PathBuf,
        /// The module as the script names it.
        module: String,
    },
    /// `VOLLEY_JS_ENGINE` names no engine Volley knows.
    #[error("VOLLEY_JS_ENGINE='{value}' is not a JavaScript engine Volley builds on: use spidermonkey or quickjs")]
    UnknownEngine {
        /// What it says.
        value: String,
    },
    /// A remote module (`import … from 'https://…'`) could not be used.
    #[error(transparent)]
    Remote(#[from] remote::RemoteError),
    /// A file of the build could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct Built {
    /// The component file.
    pub output: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// How long the build took (zero when it came from the cache).
    pub elapsed: Duration,
    /// Whether an earlier build was reused.
    pub cached: bool,
}

/// Where the npm packages are: a folder holding `node_modules`.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// `…/node_modules`.
    pub node_modules: PathBuf,
    /// The engine whose tool it holds.
    pub engine: JsEngine,
}

impl Toolchain {
    fn bin(&self, name: &str) -> PathBuf {
        self.node_modules.join(".bin").join(name)
    }

    /// The installed version of the engine's componentize tool.
    fn componentize_version(&self) -> String {
        let manifest = self
            .node_modules
            .join(self.engine.package().0)
            .join("package.json");
        std::fs::read_to_string(manifest)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["version"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// Whether `path` names a script `volley build` (and `volley run`) can build.
pub fn is_script(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("js") || e.eq_ignore_ascii_case("mjs"))
}

fn found(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Finds node and the npm packages: `$VOLLEY_JS_TOOLCHAIN` (a folder holding `node_modules`, or
/// a `node_modules` folder), else the nearest `node_modules` above the script, else above the
/// current directory, that holds both the engine's componentize tool and esbuild.
pub fn find_toolchain(script: &Path, engine: JsEngine) -> Result<Toolchain, BuildError> {
    let tool = engine.package();
    if !found("node") {
        return Err(BuildError::NodeMissing {
            npm: if found("npm") { "" } else { " (nor npm)" },
        });
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("VOLLEY_JS_TOOLCHAIN").map(PathBuf::from) {
        if dir.file_name().is_some_and(|n| n == "node_modules") {
            candidates.push(dir);
        } else {
            candidates.push(dir.join("node_modules"));
        }
    }
    let script_dir = std::path::absolute(script)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let cwd = std::env::current_dir().ok();
    let mut searched = Vec::new();
    for start in [script_dir, cwd].into_iter().flatten() {
        searched.push(start.display().to_string());
        candidates.extend(start.ancestors().map(|d| d.join("node_modules")));
    }
    let has = |nm: &Path, pkg: &str| nm.join(pkg).join("package.json").is_file();
    if let Some(nm) = candidates
        .iter()
        .find(|nm| has(nm, tool.0) && has(nm, ESBUILD.0))
    {
        return Ok(Toolchain {
            node_modules: nm.clone(),
            engine,
        });
    }
    // Name what is missing from the best candidate: one that holds either package.
    let partial = candidates
        .iter()
        .find(|nm| has(nm, tool.0) || has(nm, ESBUILD.0));
    let missing: Vec<(&str, &str)> = [tool, ESBUILD]
        .into_iter()
        .filter(|(pkg, _)| partial.is_none_or(|nm| !has(nm, pkg)))
        .collect();
    Err(BuildError::PackagesMissing {
        missing: missing
            .iter()
            .map(|(p, _)| *p)
            .collect::<Vec<_>>()
            .join(" and "),
        searched: searched.join(" and "),
        install: missing
            .iter()
            .map(|(p, v)| format!("{p}@{v}"))
            .collect::<Vec<_>>()
            .join(" "),
        npm: if found("npm") {
            ""
        } else {
            " (npm is not installed either: apt-get install npm)"
        },
    })
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, BuildError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "volley-build-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|source| BuildError::Write {
            path: dir.clone(),
            source,
        })?;
        Ok(Scratch(dir))
    }

    fn write(&self, rel: &str, text: &str) -> Result<PathBuf, BuildError> {
        let path = self.0.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| BuildError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, text).map_err(|source| BuildError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_tool(
    tool: &'static str,
    program: &Path,
    args: &[&std::ffi::OsStr],
    cwd: &Path,
    script: &Path,
) -> Result<(), BuildError> {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .map_err(|source| BuildError::Spawn {
            path: program.to_path_buf(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stdout));
    Err(BuildError::Tool {
        tool,
        script: script.to_path_buf(),
        status: out.status.to_string(),
        output: output.trim_end().to_string(),
    })
}

/// A bundled script: the scratch dir, the bundle, the files it opens (see [`files`]) and where
/// its lines came from (see [`source_map`]).
struct Bundle {
    scratch: Scratch,
    path: PathBuf,
    files: Vec<(String, Vec<u8>)>,
    locations: Vec<u8>,
}

/// Bundles `script` with the shim into one ES module.
/// `volley-engine` (what differs between engines at the WIT boundary) is the toolchain engine's.
/// `volley-html` (what `res.html()` parses with) is [`html_module`]'s choice.
///
/// Two esbuild passes: the script and its own modules into a function run once per VU (k6's
/// init context, [`init_module`]), then the shim's entry module, which imports that function,
/// into the bundle the engine snapshots.
fn bundle(tc: &Toolchain, script: &Path) -> Result<Bundle, BuildError> {
    let abs = std::path::absolute(script).map_err(|source| BuildError::Read {
        path: script.to_path_buf(),
        source,
    })?;
    if !abs.is_file() {
        return Err(BuildError::Read {
            path: script.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let scratch = Scratch::new()?;
    let mut entry = PathBuf::new();
    let version = wit_version();
    for (rel, text) in SHIM {
        // The shim imports `volley:scenario/…@0.1.1`; import the embedded WIT's version instead.
        let text = text.replace("@0.1.1'", &format!("@{version}'"));
        let p = scratch.write(&format!("js/{rel}"), &text)?;
        if *rel == "entry.js" {
            entry = p;
        }
    }
    let text = std::fs::read_to_string(&abs).map_err(|source| BuildError::Read {
        path: script.to_path_buf(),
        source,
    })?;
    let protos: serde_json::Map<String, serde_json::Value> = protos::embedded(&abs, &text)?
        .into_iter()
        .map(|(name, source)| (name, serde_json::Value::String(source)))
        .collect();
    let protos = serde_json::Value::Object(protos);
    scratch.write(
        "js/protos.js",
        &format!(
            "// .proto files the script loads, read by `volley build`.\nexport default {protos};\n"
        ),
    )?;
    // From the scratch dir, so the paths esbuild writes into the bundle's comments do not
    // depend on its (random) name and the bundle's hash is stable.
    let user = with_remote_modules(tc, &scratch, &abs, script)?;
    let args = init_module::esbuild_args(&user, &scratch.0);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    run_tool("esbuild", &tc.bin("esbuild"), &args, &scratch.0, script)?;
    let shim: Vec<&str> = SHIM.iter().map(|(rel, _)| *rel).collect();
    let modules = init_module::write(&scratch.0, script, &shim)?;
    let opened = files::embedded(&abs, &modules)?;
    let out = scratch.0.join("bundle.js");
    let k6 = format!("--alias:k6={}", scratch.0.join("js").join("k6").display());
    let engine = format!(
        "--alias:volley-engine={}",
        scratch
            .0
            .join("js")
            .join("engine")
            .join(format!("{}.js", tc.engine.name()))
            .display()
    );
    let html = format!(
        "--alias:volley-html={}",
        scratch.0.join("js").join(html_module(&scratch.0)).display()
    );
    let outfile = format!("--outfile={}", out.display());
    let args: Vec<&std::ffi::OsStr> = vec![
        entry.as_os_str(),
        "--bundle".as_ref(),
        "--format=esm".as_ref(),
        "--platform=neutral".as_ref(),
        "--main-fields=module,main".as_ref(),
        "--external:volley:*".as_ref(),
        "--log-level=warning".as_ref(),
        "--sourcemap".as_ref(),
        // QuickJS keeps each function's source text beside its bytecode in the snapshot heap, so
        // a smaller bundle is a smaller heap: ~64 KB less RSS per VU (design note 008). Names
        // are kept (stack traces); the source map still points errors at the user's lines.
        "--minify-whitespace".as_ref(),
        "--minify-syntax".as_ref(),
        k6.as_ref(),
        engine.as_ref(),
        html.as_ref(),
        outfile.as_ref(),
    ];
    run_tool("esbuild", &tc.bin("esbuild"), &args, &scratch.0, script)?;
    let map = std::fs::read_to_string(scratch.0.join("bundle.js.map")).unwrap_or_default();
    let locations = source_map::section(&map, &scratch.0);
    Ok(Bundle {
        scratch,
        path: out,
        files: opened,
        locations,
    })
}

/// The module `res.html()` parses with (`volley-html` in `k6/http`): `k6/html` for a script that
/// imports it or calls `.html(`, else a stub that throws saying so. Every byte of the bundle is in
/// every VU's memory (docs/design/013-k6-html.md), and most scripts never parse HTML.
fn html_module(scratch: &Path) -> &'static str {
    let uses = ["js/user.js", "js/modules.js"].iter().any(|f| {
        std::fs::read_to_string(scratch.join(f))
            .is_ok_and(|t| t.contains(".html(") || t.contains("k6/html"))
    });
    if uses {
        "k6/html.js"
    } else {
        "k6/html-absent.js"
    }
}

/// The script to bundle: `abs` itself, or, when it (or a local module it imports) imports
/// remote modules, a bundle of it whose URL imports point at their mirrored copies
/// ([`remote::mirror`]).
fn with_remote_modules(
    tc: &Toolchain,
    scratch: &Scratch,
    abs: &Path,
    script: &Path,
) -> Result<PathBuf, BuildError> {
    let pre = scratch.0.join("script.js");
    let outfile = format!("--outfile={}", pre.display());
    let args: Vec<&std::ffi::OsStr> = vec![
        abs.as_os_str(),
        "--bundle".as_ref(),
        "--format=esm".as_ref(),
        "--platform=neutral".as_ref(),
        "--main-fields=module,main".as_ref(),
        "--external:k6".as_ref(),
        "--external:k6/*".as_ref(),
        "--external:volley:*".as_ref(),
        "--log-level=error".as_ref(),
        outfile.as_ref(),
    ];
    run_tool("esbuild", &tc.bin("esbuild"), &args, &scratch.0, script)?;
    let text = std::fs::read_to_string(&pre).map_err(|source| BuildError::Read {
        path: pre.clone(),
        source,
    })?;
    match remote::mirror(&text, abs, &scratch.0.join("remote"))? {
        Some(text) => scratch.write("script.js", &text),
        None => Ok(abs.to_path_buf()),
    }
}

/// The version of the embedded `volley:scenario` package (`package volley:scenario@X;`).
fn wit_version() -> &'static str {
    WIT.iter()
        .flat_map(|(_, text)| text.lines())
        .find_map(|l| l.trim().strip_prefix("package volley:scenario@"))
        .map(|v| v.trim_end_matches(';').trim())
        .unwrap_or("0.1.1")
}

/// Componentizes `bundle` into `out` with the toolchain's engine.
fn componentize(
    tc: &Toolchain,
    scratch: &Scratch,
    bundle: &Path,
    script: &Path,
    out: &Path,
) -> Result<(), BuildError> {
    for (name, text) in WIT {
        scratch.write(&format!("wit/{name}"), text)?;
    }
    let wit = scratch.0.join("wit");
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| BuildError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let args = tc.engine.args(bundle, &wit, out);
    run_tool(
        tc.engine.tool(),
        &tc.bin(tc.engine.tool()),
        &args,
        &scratch.0,
        script,
    )
}

/// Appends `section` (a custom section: the files `open()` reads) to the component `path`.
fn append(path: &Path, section: &[u8]) -> Result<(), BuildError> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(section))
        .map_err(|source| BuildError::Write {
            path: path.to_path_buf(),
            source,
        })
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Builds `script` into the component `out` (through the cache of [`build_cached`], so building
/// an unchanged script again only bundles it).
pub fn build(script: &Path, out: &Path) -> Result<Built, BuildError> {
    let built = build_cached(script)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| BuildError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::copy(&built.output, out).map_err(|source| BuildError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(Built {
        output: out.to_path_buf(),
        ..built
    })
}

/// `volley build`: builds `script` into `output` (default: the script's path with `.wasm`),
/// saying on stderr what it builds and, once done, what it wrote.
pub fn command(script: &Path, output: Option<&Path>) -> Result<Built, BuildError> {
    let out = output.map_or_else(|| script.with_extension("wasm"), Path::to_path_buf);
    let engine = JsEngine::from_env()?;
    eprintln!(
        "building {} with {} ({})...",
        script.display(),
        engine.tool(),
        match engine {
            JsEngine::SpiderMonkey => "about a minute",
            JsEngine::QuickJs => "a few seconds",
        }
    );
    let built = build(script, &out)?;
    let how = if built.cached {
        "from the cache".to_string()
    } else {
        format!("in {:.1} s", built.elapsed.as_secs_f64())
    };
    eprintln!(
        "built {} ({:.1} MB) {how}",
        built.output.display(),
        built.bytes as f64 / 1e6,
    );
    Ok(built)
}

/// Builds `script` unless a component of the same bundle was built before; returns the cached
/// component. The key is the sha256 of the bundle (the script, what it imports and the shim),
/// the WIT, the engine and its tool's version, so changing any of them rebuilds. The engine is
/// `VOLLEY_JS_ENGINE`'s ([`JsEngine::from_env`]).
pub fn build_cached(script: &Path) -> Result<Built, BuildError> {
    if !is_script(script) {
        return Err(BuildError::NotJavaScript {
            path: script.to_path_buf(),
        });
    }
    let started = Instant::now();
    let tc = find_toolchain(script, JsEngine::from_env()?)?;
    let Bundle {
        scratch,
        path: bundled,
        files: opened,
        locations,
    } = bundle(&tc, script)?;
    let mut h = Sha256::new();
    h.update(std::fs::read(&bundled).map_err(|source| BuildError::Read {
        path: bundled.clone(),
        source,
    })?);
    let mut section = files::section(&opened);
    section.extend(locations);
    h.update(&section);
    for (name, text) in WIT {
        h.update(name.as_bytes());
        h.update(text.as_bytes());
    }
    h.update(tc.engine.name().as_bytes());
    h.update(tc.componentize_version().as_bytes());
    let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let dir = crate::cache::dir("scripts").ok_or_else(|| BuildError::UntrustedCache {
        dir: crate::cache::location("scripts"),
    })?;
    let path = dir.join(format!("{key}.wasm"));
    if path.is_file() {
        return Ok(Built {
            bytes: size(&path),
            output: path,
            elapsed: Duration::ZERO,
            cached: true,
        });
    }
    let tmp = dir.join(format!("{key}.{}.tmp.wasm", std::process::id()));
    componentize(&tc, &scratch, &bundled, script, &tmp)?;
    append(&tmp, &section)?;
    std::fs::rename(&tmp, &path).map_err(|source| BuildError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(Built {
        bytes: size(&path),
        output: path,
        elapsed: started.elapsed(),
        cached: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_javascript_is_built() {
        assert!(is_script(Path::new("a/b.js")));
        assert!(is_script(Path::new("b.MJS")));
        assert!(!is_script(Path::new("b.wasm")));
        let e = build(Path::new("x.py"), Path::new("x.wasm")).unwrap_err();
        assert!(e.to_string().contains("takes a JavaScript scenario"), "{e}");
    }

    #[test]
    fn the_shim_and_the_wit_are_embedded() {
        assert!(SHIM
            .iter()
            .any(|(n, t)| *n == "k6/http.js" && t.contains("'volley:scenario/http@0.1.1'")));
        assert!(WIT
            .iter()
            .any(|(_, t)| t.contains(&format!("package volley:scenario@{};", wit_version()))));
        assert!(wit_version().starts_with("0.1."), "{}", wit_version());
    }
}
