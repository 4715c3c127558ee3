//! `volley run` and `volley inspect`: load the plugin, merge the option layers, start the
//! built-in target when no BASE_URL is given, run, print the summary and pick the exit code.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use crate::cli::RunArgs;
use crate::config::{self, ConfigError, Options, TestConfig};
use crate::engine::{self, Abort, EngineError, RunSettings};
use crate::logging::{self, Level};
use crate::metrics::{Aggregate, Registry, Tags};
use crate::output::dashboard::{self, Dashboard, DashboardError};
use crate::output::stream::{OutSpec, Stream};
use crate::output::{export, report, summary, Results, RunFacts};
use crate::plan::executor::{Closed, Drive};
use crate::plan::segment::{parse_sequence, ExecutionTuple, Segment, SegmentError};
use crate::plan::Step;
use crate::registry::{self, lock::Lock, RegistryError, ScenarioRef};
use crate::sandbox::{NetworkDefault, Sandbox};
use crate::target::montecarlo::{self, RunningTarget, TargetConfig, TargetError};
use crate::transport::{HttpConfig, HttpSettings};
use crate::vu::{GuestError, Plugin, PluginError, PoolSize, Vu, VuSetup};

mod handle_summary;
mod stdin;

/// The Monte Carlo scenario component, built from `plugins/montecarlo` by build.rs.
pub const MONTECARLO_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/montecarlo.wasm"));

/// k6's exit codes.
pub mod exit {
    /// Thresholds crossed.
    pub const THRESHOLDS_FAILED: i32 = 99;
    /// Invalid configuration.
    pub const INVALID_CONFIG: i32 = 104;
    /// Stopped by a signal.
    pub const EXTERNAL_ABORT: i32 = 105;
    /// `setup` did not finish within `setup-timeout`.
    pub const SETUP_TIMEOUT: i32 = 100;
    /// `teardown` did not finish within `teardown-timeout`.
    pub const TEARDOWN_TIMEOUT: i32 = 101;
    /// The scenario failed to load or its setup failed.
    pub const SCRIPT_EXCEPTION: i32 = 107;
    /// The script called `test.abort()` (k6's ScriptAborted).
    pub const SCRIPT_ABORTED: i32 = 108;
    /// The host itself failed during the run (k6's GoPanic).
    pub const HOST_PANIC: i32 = 109;
    /// The script called `test.fail()` (k6's MarkedAsFailed).
    pub const MARKED_AS_FAILED: i32 = 110;
}

/// Why `run` or `inspect` failed before producing results.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Invalid options.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The plugin cannot be used.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The test could not run.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The built-in target did not start.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The plugin's `options` export failed.
    #[error("{origin}: options() failed: {message}")]
    Options {
        /// The plugin.
        origin: String,
        /// What failed.
        message: String,
    },
    /// A registry scenario could not be resolved, verified or pinned.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The TLS configuration is invalid.
    #[error(transparent)]
    Tls(#[from] crate::transport::tls::TlsConfigError),
    /// Summaries could not be merged.
    #[error(transparent)]
    Merge(#[from] crate::output::merge::MergeError),
    /// An output could not start.
    #[error("cannot start output {output}: {source}")]
    Output {
        /// The output, e.g. `json (out.json)`.
        output: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A JavaScript scenario could not be built.
    #[error(transparent)]
    Build(#[from] crate::script_build::BuildError),
    /// `volley run -` got no test from standard input.
    #[error(transparent)]
    Stdin(#[from] stdin::StdinError),
    /// Ctrl-C or SIGTERM arrived while the test was being prepared.
    #[error("stopped before the test started")]
    Interrupted,
    /// A shard of a run split into processes failed.
    #[error(transparent)]
    Shard(#[from] crate::shard::ShardError),
    /// The live web dashboard could not start.
    #[error(transparent)]
    Dashboard(#[from] crate::output::dashboard::DashboardError),
    /// Writing an output file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl AppError {
    /// The process exit code for this error (k6's where k6 has one).
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Config(_)
            | AppError::Merge(_)
            | AppError::Tls(_)
            | AppError::Dashboard(DashboardError::Setting { .. }) => exit::INVALID_CONFIG,
            AppError::Engine(EngineError::Setup(GuestError::Timeout { .. })) => exit::SETUP_TIMEOUT,
            AppError::Engine(EngineError::Setup(GuestError::Aborted(_))) => exit::SCRIPT_ABORTED,
            AppError::Engine(EngineError::Interrupted) | AppError::Interrupted => {
                exit::EXTERNAL_ABORT
            }
            AppError::Plugin(_)
            | AppError::Engine(_)
            | AppError::Options { .. }
            | AppError::Registry(_)
            | AppError::Build(_)
            | AppError::Stdin(_) => exit::SCRIPT_EXCEPTION,
            AppError::Target(_)
            | AppError::Write { .. }
            | AppError::Output { .. }
            | AppError::Dashboard(_) => 1,
            AppError::Shard(e) => e.exit_code(),
        }
    }
}

/// A loaded test: the plugin bytes, their name, and the merged, validated configuration.
pub struct Prepared {
    /// This process's execution segment.
    pub segment: ExecutionTuple,
    /// Component bytes.
    pub wasm: Arc<[u8]>,
    /// Where they came from.
    pub origin: String,
    /// The merged option layers.
    pub options: Options,
    /// The validated test.
    pub test: TestConfig,
    /// For a registry scenario: the updated lock and where it goes.
    pub lock: Option<(Lock, PathBuf)>,
    /// Whether the plugin is the built-in Monte Carlo scenario (the only one the built-in
    /// target is started for).
    pub builtin: bool,
    /// Variables of `test.env` that came from the system environment alone.
    pub system_env: Vec<String>,
    /// Whether to keep running after the test until Ctrl-C (k6's `--linger`).
    pub linger: bool,
    /// Whether the plugin is a script the user runs from their own disk or stdin: its
    /// `handleSummary` may write files (a component's may not).
    pub own_script: bool,
    /// The `SharedArray`s the options pass made, read by every VU.
    pub shared: Arc<crate::vu::SharedData>,
}

/// Loads the plugin and merges defaults < plugin options < test file < env vars and CLI flags.
pub async fn prepare(args: &RunArgs) -> Result<Prepared, AppError> {
    let (file_layer, plugin_path) = match &args.test {
        Some(p) if p.extension().is_some_and(|e| e == "toml") => {
            let mut layer = config::read_test_file(p)?;
            // A relative plugin path is relative to the test file; a registry reference
            // (`acme:checkout@1.2`) stays as written.
            let dir = p.parent().unwrap_or(Path::new("."));
            layer.plugin = layer.plugin.map(|plugin| {
                let is_reference = ScenarioRef::parse(&plugin.to_string_lossy()).is_some();
                if plugin.is_relative() && !is_reference {
                    dir.join(plugin)
                } else {
                    plugin
                }
            });
            let plugin = layer.plugin.clone();
            (layer, plugin)
        }
        Some(p) => (Options::default(), Some(p.clone())),
        None => (Options::default(), None),
    };
    let cli_layer = args.options();
    let plugin_path = cli_layer.plugin.clone().or(plugin_path);
    // k6's JSON config file (-c): the user's, below the script's options as in k6.
    let (config_layer, config_lingers) = k6_config_file(args)?;
    // What the user set above the plugin (test file < env vars and CLI flags).
    let above_plugin = file_layer.overlay(cli_layer);
    // Everything the user set: only it grants capabilities, chooses registries, and gives the
    // variables the plugin's options are evaluated with.
    let mut user_layer = config_layer.clone().overlay(above_plugin.clone());
    let mut user_sandbox = config::sandbox_of(&user_layer)?;
    let mut lock = None;
    // A k6 script the user runs is their own code and reaches the hosts it names (as in k6);
    // a component file or a registry entry only what the user grants.
    let mut network = NetworkDefault::OriginOfBaseUrl;
    let (wasm, origin): (Arc<[u8]>, String) = match &plugin_path {
        Some(path) if stdin::is_stdin(path) => {
            let dir = std::env::current_dir().unwrap_or_else(|_| std::env::temp_dir());
            match stdin::read(std::io::stdin().lock(), &dir)? {
                stdin::Input::Component(bytes) => {
                    (bytes.into(), "- (component from standard input)".into())
                }
                stdin::Input::Script(file) => {
                    network = NetworkDefault::Unrestricted;
                    allow_js_runtime_imports(&mut user_sandbox);
                    let wasm = build_script(file.path())?;
                    (wasm, "- (script from standard input)".into())
                }
            }
        }
        Some(path) => match registry_ref(path) {
            Some(r) => {
                let registries = user_layer.registries.clone().unwrap_or_default();
                let lock_path = match &args.test {
                    Some(t) if t.extension().is_some_and(|e| e == "toml") => {
                        t.parent().unwrap_or(Path::new(".")).join("volley.lock")
                    }
                    _ => PathBuf::from("volley.lock"),
                };
                let policy =
                    registry::Policy::new(user_layer.registry_max_download_mib, args.update_lock)
                        .map_err(|e| ConfigError::Invalid {
                        key: e.key.into(),
                        reason: e.reason,
                    })?;
                let (bytes, origin, sandbox, pinned) =
                    from_registry(&r, &registries, &lock_path, &user_sandbox, &policy).await?;
                user_sandbox = sandbox;
                lock = Some((pinned, lock_path));
                (bytes.into(), origin)
            }
            None if crate::script_build::is_script(path) => {
                network = NetworkDefault::Unrestricted;
                allow_js_runtime_imports(&mut user_sandbox);
                // A shard reads what its coordinator built.
                let wasm = match &args.shard_plugin {
                    Some(built) => read_plugin(built)?,
                    None => build_script(path)?,
                };
                (wasm, path.display().to_string())
            }
            None => (read_plugin(path)?, path.display().to_string()),
        },
        None => (MONTECARLO_WASM.into(), "montecarlo (built-in)".to_string()),
    };
    // The plugin's options are evaluated with the user's variables (k6's __ENV at init).
    // As `k6 run`, a script's __ENV holds the system environment under the user's variables
    // (never a component's: it is someone else's code).
    let mut system_env = Vec::new();
    if network == NetworkDefault::Unrestricted && args.k6.include_system_env_vars != Some(false) {
        let user_env = user_layer.env.take().unwrap_or_default();
        let mut env = config::k6::system_env();
        system_env = env
            .keys()
            .filter(|k| !user_env.contains_key(*k))
            .cloned()
            .collect();
        env.extend(user_env);
        user_layer.env = Some(env);
    }
    let user_env = user_layer.env.clone().unwrap_or_default();
    let own_script = network == NetworkDefault::Unrestricted;
    let (embedded, shared) =
        plugin_options(&wasm, &origin, &user_sandbox, user_env, own_script).await?;
    // A user's own script sets what a k6 script sets (setupTimeout, hosts, TLS...); a component
    // or registry entry only shapes its load.
    let (plugin_layer, ignored) = if network == NetworkDefault::Unrestricted {
        embedded.own_script_options()
    } else {
        embedded.plugin_suggestions()
    };
    for key in ignored {
        logging::host(
            Level::Warn,
            &format!("{origin}: the plugin's option '{key}' is ignored: only the test file and the command line set it"),
        );
    }
    let mut above_plugin = above_plugin;
    above_plugin.env = user_layer.env.take();
    let options = config_layer.overlay(plugin_layer).overlay(above_plugin);
    warn_of_inert_k6_options(&options, args)?;
    let mut test = TestConfig::resolve(&options)?;
    test.sandbox = Sandbox::effective(
        user_sandbox,
        test.env.get("BASE_URL").map(String::as_str),
        network,
    );
    let segment = segment(args, &options)?;
    if !segment.segment().is_full() {
        if let Some(sc) = test
            .scenarios
            .iter()
            .find(|s| matches!(s.drive(), Drive::Closed(Closed::External { .. })))
        {
            return Err(ConfigError::Invalid {
                key: format!("scenarios.{}.executor", sc.name),
                reason: "externally-controlled scenarios cannot be split into execution segments"
                    .into(),
            }
            .into());
        }
    }
    Ok(Prepared {
        own_script: network == NetworkDefault::Unrestricted,
        shared: Arc::new(shared),
        linger: args.k6.linger || config_lingers,
        system_env,
        builtin: plugin_path.is_none(),
        lock,
        segment,
        wasm,
        origin,
        options,
        test,
    })
}

/// This process's execution segment: the flags', else the options' (k6's `executionSegment`
/// and `executionSegmentSequence`).
fn segment(args: &RunArgs, options: &Options) -> Result<ExecutionTuple, ConfigError> {
    let invalid = |key: &str, e: SegmentError| ConfigError::Invalid {
        key: key.into(),
        reason: e.to_string(),
    };
    let segment = args
        .execution_segment
        .as_deref()
        .or(options.execution_segment.as_deref())
        .map(Segment::parse)
        .transpose()
        .map_err(|e| invalid("execution-segment", e))?;
    let sequence = args
        .execution_segment_sequence
        .as_deref()
        .or(options.execution_segment_sequence.as_deref())
        .map(parse_sequence)
        .transpose()
        .map_err(|e| invalid("execution-segment-sequence", e))?;
    ExecutionTuple::new(segment, sequence).map_err(|e| invalid("execution-segment", e))
}

/// The options of k6's JSON config file given with `-c`, and whether it asks to linger; warns
/// of its keys Volley does not act on.
fn k6_config_file(args: &RunArgs) -> Result<(Options, bool), AppError> {
    let Some(path) = &args.k6.config else {
        return Ok((Options::default(), false));
    };
    let (opts, extras) = config::k6::read_config_file(path)?;
    for (key, why) in extras.inert {
        logging::host(
            Level::Warn,
            &format!(
                "{}: '{key}' is accepted and not acted on: {why}",
                path.display()
            ),
        );
    }
    Ok((opts, extras.linger == Some(true)))
}

/// One warning for each k6 option or flag given that Volley accepts and does not act on; an
/// error for a flag value it cannot take.
fn warn_of_inert_k6_options(options: &Options, args: &RunArgs) -> Result<(), AppError> {
    let flags = args.k6.ignored().map_err(|reason| ConfigError::Invalid {
        key: "type".into(),
        reason,
    })?;
    for (key, why) in config::k6::inert(options) {
        logging::host(
            Level::Warn,
            &format!("k6 option '{key}' is accepted and not acted on: {why}"),
        );
    }
    for warning in config::k6::lowered(options) {
        logging::host(Level::Warn, &warning);
    }
    for (flag, why) in flags {
        logging::host(
            Level::Warn,
            &format!("{flag} is accepted and not acted on: {why}"),
        );
    }
    Ok(())
}

/// A plugin path that is not a file but reads as `namespace:name[@version]`.
fn registry_ref(path: &Path) -> Option<ScenarioRef> {
    if path.exists() {
        return None;
    }
    ScenarioRef::parse(&path.to_string_lossy())
}

/// Resolves `r` through `registries`, checks it against the lock, downloads and verifies it,
/// and narrows the user's sandbox to the entry's capabilities.
async fn from_registry(
    r: &ScenarioRef,
    registries: &[String],
    lock_path: &Path,
    user: &Sandbox,
    policy: &registry::Policy,
) -> Result<(Vec<u8>, String, Sandbox, Lock), AppError> {
    if registries.is_empty() {
        return Err(ConfigError::Invalid {
            key: "registries".into(),
            reason: format!(
                "'{}' is a registry reference but no registry is configured (--registry INDEX or registries = [...])",
                r.name
            ),
        }
        .into());
    }
    let mut indexes = Vec::new();
    for loc in registries {
        indexes.push(registry::load_index(loc, &policy.limits).await?);
    }
    let mut lock = Lock::read(lock_path)?;
    let (idx, entry) = registry::resolve(&indexes, r, &lock, policy.update_lock)?;
    registry::check_and_pin(entry, &mut lock, policy.update_lock)?;
    let cache = registry::cache_dir();
    let bytes = registry::fetch(idx, entry, cache.as_deref(), &policy.limits).await?;
    let sandbox = registry::narrow(entry, user, !user.allowed_hosts.is_empty())?;
    Ok((
        bytes,
        format!("{}@{} ({})", entry.name, entry.version, entry.digest),
        sandbox,
        lock,
    ))
}

/// The JS engine imports wasi:filesystem, unused: nothing is preopened.
fn allow_js_runtime_imports(sandbox: &mut Sandbox) {
    for p in crate::script_build::JS_RUNTIME_IMPORTS {
        if !sandbox.allow_imports.iter().any(|a| a == p) {
            sandbox.allow_imports.push(p.to_string());
        }
    }
}

/// Builds a k6-style script (or reuses its cached build) and reads the component.
fn build_script(path: &Path) -> Result<Arc<[u8]>, AppError> {
    logging::host(
        Level::Info,
        &format!("building {} (cached after the first build)", path.display()),
    );
    let built = crate::script_build::build_cached(path)?;
    if !built.cached {
        logging::host(
            Level::Info,
            &format!(
                "built {} in {:.1} s",
                path.display(),
                built.elapsed.as_secs_f64()
            ),
        );
    }
    Ok(read_plugin(&built.output)?)
}

fn read_plugin(path: &Path) -> Result<Arc<[u8]>, PluginError> {
    std::fs::read(path)
        .map(Arc::from)
        .map_err(|source| PluginError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// Instantiates the plugin once (no pool) to read its embedded default options, with the
/// user's variables in its environment: the options pass (VU 0), whose init context also makes
/// the test's `SharedArray`s, returned beside the options. For the user's `own_script` its memory
/// limit is the larger of the sandbox's and [`crate::limits::OPTIONS_PASS_MAX_MEMORY`] (and its
/// init context gets [`crate::limits::OPTIONS_PASS_TIMEOUT`]), so a `SharedArray` callback can
/// parse a large file once; a component or registry entry (someone else's code) keeps the
/// sandbox's limits.
async fn plugin_options(
    wasm: &[u8],
    origin: &str,
    sandbox: &Sandbox,
    env: std::collections::BTreeMap<String, String>,
    own_script: bool,
) -> Result<(Options, crate::vu::SharedData), AppError> {
    let plugin = Arc::new(Plugin::from_bytes(wasm, origin, None, sandbox)?);
    let agg = Aggregate::new(Tags::new(), Registry::new());
    let mut options_pass = sandbox.clone();
    let mut init_limit = crate::vu::INIT_TIMEOUT;
    if own_script {
        options_pass.max_memory = options_pass
            .max_memory
            .max(crate::limits::OPTIONS_PASS_MAX_MEMORY);
        init_limit = crate::limits::OPTIONS_PASS_TIMEOUT;
    }
    let mut setup = VuSetup::standalone(
        0,
        "options",
        &agg,
        Arc::new(options_pass),
        Arc::new(HttpConfig::new(&HttpSettings::default())?),
    );
    setup.env = Arc::new(env);
    setup.init_limit = init_limit;
    let failed = |e: crate::vu::GuestError| AppError::Options {
        origin: origin.to_string(),
        message: e.to_string(),
    };
    let mut vu = Vu::new(plugin, setup).await.map_err(failed)?;
    let text = vu.options().await.map_err(failed)?;
    let options = config::parse_options(&text, &format!("{origin} (embedded options)"))?;
    Ok((options, vu.take_shared()))
}

/// `volley inspect`: the resolved options and schedules as JSON.
pub async fn inspect(args: &RunArgs) -> Result<serde_json::Value, AppError> {
    let p = prepare(args).await?;
    let scenarios: Vec<serde_json::Value> = p
        .test
        .scenarios
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            v["max_vus"] = s.max_vus().into();
            v["description"] = s.description().into();
            v["schedule"] = serde_json::to_value(s.steps()).unwrap_or_default();
            v["segment"] = serde_json::json!({
                "max_vus": s.local_max_vus(&p.segment),
                "initial_vus": s.local_initial_vus(&p.segment),
                "schedule": s.local_steps(&p.segment),
                "shared_iterations": s.local_iterations(&p.segment),
            });
            v
        })
        .collect();
    let thresholds: serde_json::Map<String, serde_json::Value> = p
        .test
        .thresholds
        .iter()
        .map(|t| {
            let exprs: Vec<serde_json::Value> = t
                .specs
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "threshold": s.expr.source,
                        "abort_on_fail": s.abort_on_fail,
                        "delay_abort_eval_ms": s.delay_abort_eval.as_millis() as u64,
                    })
                })
                .collect();
            (t.selector.to_string(), exprs.into())
        })
        .collect();
    Ok(serde_json::json!({
        "plugin": p.origin,
        "execution_segment": p.segment.segment().to_string(),
        "execution_requirements": requirements(&p),
        "max_vus": p.test.max_vus(),
        "max_duration_ms": p.test.max_duration().as_millis() as u64,
        "env": p.test.env.iter().filter(|(k, _)| !p.system_env.contains(k)).collect::<std::collections::BTreeMap<_, _>>(),
        "scenarios": scenarios,
        "thresholds": thresholds,
        "summary": {
            "trend_stats": p.test.summary.trend_stats,
            "export": p.test.summary.export,
            "enabled": p.test.summary.enabled,
        },
        "sandbox": {
            "max_memory_bytes": p.test.sandbox.max_memory,
            "allowed_hosts": if serves_builtin_target(&p) {
                serde_json::json!(["the built-in Monte Carlo target (http://127.0.0.1 on a port chosen at start)"])
            } else {
                p.test.sandbox.allowed_hosts.iter().map(|h| h.as_str()).collect::<Vec<_>>().into()
            },
            "max_iteration_duration_ms": p.test.sandbox.max_iteration_duration.map(|d| d.as_millis() as u64),
            "cpu_budget_ms": p.test.sandbox.cpu_budget.map(|d| d.as_millis() as u64),
            "allow_imports": p.test.sandbox.allow_imports,
            "setup_timeout_ms": p.test.setup_timeout.as_millis() as u64,
            "teardown_timeout_ms": p.test.teardown_timeout.as_millis() as u64,
            "init_timeout_ms": crate::vu::INIT_TIMEOUT.as_millis() as u64,
        },
    }))
}

/// The planned VUs of this segment over the whole test (scenarios overlap; each keeps its VUs
/// reserved through its graceful stop), as changes in time.
fn requirements(p: &Prepared) -> Vec<Step> {
    let mut events: Vec<(std::time::Duration, usize, u32)> = Vec::new();
    for (i, sc) in p.test.scenarios.iter().enumerate() {
        // Every VU but a ramping scenario's is reserved from the start to the end.
        let steps = match sc.drive() {
            Drive::Closed(Closed::Steps { .. }) => sc.local_steps(&p.segment),
            Drive::Closed(Closed::For(_) | Closed::Iterations { .. } | Closed::External { .. })
            | Drive::Open(_) => vec![Step {
                at: std::time::Duration::ZERO,
                vus: sc.local_max_vus(&p.segment),
            }],
        };
        for st in &steps {
            events.push((sc.start_time + st.at, i, st.vus));
        }
        events.push((sc.max_end(), i, 0));
    }
    events.sort_by_key(|e| e.0);
    let mut current = vec![0u32; p.test.scenarios.len()];
    let mut out: Vec<Step> = Vec::new();
    for (at, i, vus) in events {
        current[i] = vus;
        let total = current.iter().sum();
        match out.last_mut() {
            Some(last) if last.at == at => last.vus = total,
            Some(last) if last.vus == total => {}
            _ => out.push(Step { at, vus: total }),
        }
    }
    out
}

/// `volley run`: runs the test and returns the exit code (0, 99 or 105).
pub async fn run(args: &RunArgs, signal: watch::Receiver<bool>) -> Result<i32, AppError> {
    let mut p = prepare_unless_stopped(args, &signal).await?;
    let asked = dashboard::settings::Asked::new(args.dashboard, args.dashboard_address, |name| {
        std::env::var(name).ok()
    })?;
    let report_path = args.report.clone().or(asked.export.clone());
    if let Some((lock, path)) = &p.lock {
        lock.write(path)?;
    }
    let shards = crate::shard::processes(args, &p)?;
    let target = start_builtin_target(&mut p).await?;
    if !args.quiet {
        let banner = banner(&p, &args.outputs, shards);
        logging::to_stderr(banner.strip_suffix('\n').unwrap_or(&banner));
    }
    let aggregate = Aggregate::new(Tags::new(), p.test.metrics.clone());
    // The series feeds the report and the dashboard, and the live progress unless -q.
    if report_path.is_some() || asked.serve.is_some() || !args.quiet {
        aggregate.keep_series();
    }
    let streams = start_streams(&args.outputs, &aggregate)?;
    let live = match &asked.serve {
        Some(settings) => Some(start_dashboard(settings, &p, &aggregate).await?),
        None => None,
    };
    let mut after = signal.clone();
    let report = match shards {
        Some(n) => {
            let url = target.as_ref().map(RunningTarget::base_url);
            let samples = !args.outputs.is_empty();
            crate::shard::coordinate(
                n,
                &p,
                url.as_deref(),
                samples,
                &aggregate,
                args.address,
                signal,
            )
            .await?
        }
        None => run_here(args, &p, aggregate.clone(), signal).await?,
    };
    finish_streams(&aggregate, streams);
    if let Some(t) = target {
        t.shutdown().await;
    }
    let results = Results::collect(&p.test, &aggregate, run_facts(&report, &p.segment));
    // k6: a script's handleSummary replaces the default summary (not with --no-summary).
    let replaced = p.test.summary.enabled
        && handle_summary::run(&p, &results, &aggregate, args.k6.no_color).await;
    let rendered = write_results(
        report_path.as_deref(),
        live.is_some(),
        &p,
        &results,
        &aggregate,
        !replaced,
    )?;
    if let (Some(live), Some((body, page))) = (live, rendered) {
        live.finish(body, page).await;
    }
    warn_of_what_went_wrong(&report);
    let code = exit_code(&report, &results);
    if p.linger && report.aborted != Some(Abort::Signal) {
        logging::host(
            Level::Info,
            "the test is done; lingering until Ctrl-C or SIGTERM (--linger)",
        );
        let _ = after.wait_for(|stop| *stop).await;
    }
    Ok(code)
}

/// Runs the test in this process, recording into `aggregate`.
async fn run_here(
    args: &RunArgs,
    p: &Prepared,
    aggregate: Arc<Aggregate>,
    signal: watch::Receiver<bool>,
) -> Result<engine::RunReport, AppError> {
    let plugin = plugin_for_this_process(p)?;
    let settings = RunSettings {
        http: Arc::new(HttpConfig::new(&p.test.http)?),
        segment: p.segment.clone(),
        control_address: args.address,
        live: None,
        gate: None,
    };
    Ok(engine::run(&p.test, plugin, aggregate, &settings, signal).await?)
}

/// [`prepare`], unless Ctrl-C or SIGTERM comes first: that ends a download, a build or a
/// spinning `options()` call at once.
async fn prepare_unless_stopped(
    args: &RunArgs,
    signal: &watch::Receiver<bool>,
) -> Result<Prepared, AppError> {
    let mut early = signal.clone();
    tokio::select! {
        p = prepare(args) => p,
        Ok(_) = early.wait_for(|stop| *stop) => Err(AppError::Interrupted),
    }
}

/// `p`'s component, its instance pool sized for the VUs this process (or shard) runs, once
/// the open-file limit is raised and any system limit too low for them is warned of.
pub(crate) fn plugin_for_this_process(p: &Prepared) -> Result<Arc<Plugin>, AppError> {
    let local_vus = p.test.local_max_vus(&p.segment);
    warn_of_system_limits(local_vus, crate::vu::maps_per_vu(&p.wasm));
    Ok(Arc::new(
        Plugin::from_bytes(
            &p.wasm,
            &p.origin,
            Some(PoolSize {
                instances: local_vus.saturating_add(1),
                max_memory: p.test.sandbox.max_memory,
            }),
            &p.test.sandbox,
        )?
        .with_shared(p.shared.clone()),
    ))
}

/// Raises the open-file limit and warns when the system's limits look too low for `local_vus`
/// VUs taking `maps_per_vu` memory mappings each.
fn warn_of_system_limits(local_vus: u32, maps_per_vu: u64) {
    let nofile = crate::limits::raise_nofile();
    for w in crate::limits::check(u64::from(local_vus), maps_per_vu, nofile) {
        logging::host(Level::Warn, &w);
    }
}

/// Whether the run serves the built-in target: only for the built-in scenario, and only when
/// the user granted no host (no BASE_URL, no allowed-hosts). Never for a script or a component
/// of the user's, whose own URLs it would silently replace.
fn serves_builtin_target(p: &Prepared) -> bool {
    p.builtin && p.test.sandbox.grants_nothing() && !p.test.env.contains_key("BASE_URL")
}

/// Starts the built-in target when [`serves_builtin_target`]; points BASE_URL and the sandbox
/// at it.
async fn start_builtin_target(p: &mut Prepared) -> Result<Option<RunningTarget>, AppError> {
    if !serves_builtin_target(p) {
        return Ok(None);
    }
    let t = montecarlo::start(([127, 0, 0, 1], 0).into(), TargetConfig::default()).await?;
    logging::host(
        Level::Info,
        &format!(
            "no BASE_URL given: serving the built-in Monte Carlo target at {}",
            t.base_url()
        ),
    );
    p.test.env.insert("BASE_URL".into(), t.base_url());
    p.test.sandbox.grant_builtin_target(&t.base_url());
    Ok(Some(t))
}

/// Starts the `--out` streams, each fed by `aggregate`.
fn start_streams(outputs: &[OutSpec], aggregate: &Aggregate) -> Result<Vec<Stream>, AppError> {
    outputs
        .iter()
        .map(|spec| {
            Stream::start(spec, aggregate).map_err(|source| AppError::Output {
                output: spec.to_string(),
                source,
            })
        })
        .collect()
}

/// Closes the outputs and waits for each stream to finish writing; failures are logged.
fn finish_streams(aggregate: &Aggregate, streams: Vec<Stream>) {
    aggregate.close_outputs();
    for stream in streams {
        if let Err(e) = stream.finish() {
            logging::host(Level::Error, &e);
        }
    }
}

/// What the summary says of the run besides the metrics.
fn run_facts(report: &engine::RunReport, segment: &ExecutionTuple) -> RunFacts {
    RunFacts {
        duration: report.elapsed,
        iterations: report
            .scenarios
            .iter()
            .fold((0, 0), |(c, i), (_, sc, si)| (c + sc, i + si)),
        segment: segment.segment().to_string(),
        errors: report.errors.clone(),
    }
}

/// Starts the live web dashboard on the run's aggregate and says where it is.
async fn start_dashboard(
    settings: &dashboard::Settings,
    p: &Prepared,
    aggregate: &Arc<Aggregate>,
) -> Result<Dashboard, AppError> {
    let view = dashboard::View::new(
        p.test.clone(),
        aggregate.clone(),
        p.segment.segment().to_string(),
        report_title(p),
    );
    let live = Dashboard::start(settings, view).await?;
    logging::to_stderr(&format!("web dashboard: http://{}", live.address()));
    Ok(live)
}

fn report_title(p: &Prepared) -> String {
    format!("Volley report: {}", p.origin)
}

/// Prints the summary (unless `handleSummary` replaced it) and writes the HTML report (to `report_path`) and the JSON export, as
/// asked. Returns the report's body and whole page when there is a report or a dashboard.
fn write_results(
    report_path: Option<&std::path::Path>,
    dashboard: bool,
    p: &Prepared,
    results: &Results,
    aggregate: &Aggregate,
    default_summary: bool,
) -> Result<Option<(String, String)>, AppError> {
    if p.test.summary.enabled && default_summary {
        logging::to_stdout(&summary::render(results));
    }
    let mut rendered = None;
    if report_path.is_some() || dashboard {
        let names: Vec<String> = p.test.scenarios.iter().map(|s| s.name.clone()).collect();
        let title = report_title(p);
        let page = report::Page {
            results,
            series: &aggregate.series(),
            breakdown: &report::Breakdown::collect(&names, aggregate),
            title: &title,
        };
        let html = report::render(&page);
        if let Some(path) = report_path {
            std::fs::write(path, &html).map_err(|source| AppError::Write {
                path: path.to_path_buf(),
                source,
            })?;
        }
        rendered = Some((report::body(&page), html));
    }
    if let Some(path) = &p.test.summary.export {
        let doc = serde_json::to_string_pretty(&export::to_json(results)).unwrap_or_default();
        std::fs::write(path, doc).map_err(|source| AppError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(rendered)
}

/// Warns of dropped guest log lines and repeated iteration errors, and reports a failed
/// scenario task.
fn warn_of_what_went_wrong(report: &engine::RunReport) {
    if logging::suppressed() > 0 {
        logging::host(
            Level::Warn,
            &format!(
                "{} guest log lines were dropped by the rate limit",
                logging::suppressed()
            ),
        );
    }
    for (msg, n) in report.errors.iter().filter(|(_, n)| **n > 1) {
        logging::host(
            Level::Warn,
            &format!("iteration error seen {n} times: {msg}"),
        );
    }
    if let Some(panic) = &report.panicked {
        logging::host(
            Level::Error,
            &format!("the run was stopped because a scenario task failed: {panic}"),
        );
    }
}

/// The run's exit code (k6's), saying which thresholds were crossed when they decide it.
fn exit_code(report: &engine::RunReport, results: &Results) -> i32 {
    match report.aborted {
        Some(Abort::Signal) => exit::EXTERNAL_ABORT,
        _ if report.panicked.is_some() => exit::HOST_PANIC,
        Some(Abort::Script(ref reason)) => {
            logging::host(Level::Error, &format!("test aborted: {reason}"));
            exit::SCRIPT_ABORTED
        }
        _ if matches!(report.teardown, Some(GuestError::Aborted(_))) => exit::SCRIPT_ABORTED,
        _ if matches!(report.teardown, Some(GuestError::Timeout { .. })) => exit::TEARDOWN_TIMEOUT,
        Some(Abort::Threshold(ref metrics)) => {
            logging::host(
                Level::Error,
                &format!(
                    "thresholds on metrics '{metrics}' have been crossed; the test was aborted"
                ),
            );
            exit::THRESHOLDS_FAILED
        }
        // As k6: a test marked failed exits 110 even when thresholds were crossed at the end.
        None if report.marked_failed => {
            logging::host(Level::Error, "test run was marked as failed");
            exit::MARKED_AS_FAILED
        }
        None if !results.thresholds_passed() => {
            let failed: Vec<String> = results
                .thresholds
                .iter()
                .filter(|t| !t.passed)
                .map(|t| t.selector.to_string())
                .collect();
            logging::host(
                Level::Error,
                &format!(
                    "thresholds on metrics '{}' have been crossed",
                    failed.join(", ")
                ),
            );
            exit::THRESHOLDS_FAILED
        }
        None => 0,
    }
}

/// `volley merge`: reads the summaries, prints and exports the merged one; exit 99 when a
/// threshold is crossed on the merged values.
pub fn merge(
    files: &[PathBuf],
    export_to: Option<&Path>,
    trend_stats: Option<Vec<String>>,
    print: bool,
) -> Result<i32, AppError> {
    use crate::output::merge::{self, MergeError};
    let mut parts = Vec::new();
    let metrics = Registry::new();
    for file in files {
        let name = file.display().to_string();
        let invalid = |message: String| MergeError::Invalid {
            file: name.clone(),
            message,
        };
        let text = std::fs::read_to_string(file).map_err(|e| invalid(e.to_string()))?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
        parts.push(merge::read(&name, &doc, &metrics)?);
    }
    let results = merge::merge(parts, trend_stats)?;
    if print {
        logging::to_stdout(&summary::render(&results));
    }
    if let Some(path) = export_to {
        let doc = serde_json::to_string_pretty(&export::to_json(&results)).unwrap_or_default();
        std::fs::write(path, doc).map_err(|source| AppError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let failed: Vec<String> = results
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| format!("{} {}", t.selector, t.source))
        .collect();
    if failed.is_empty() {
        return Ok(0);
    }
    logging::host(
        Level::Error,
        &format!(
            "thresholds crossed on the merged summary: {}",
            failed.join(", ")
        ),
    );
    Ok(exit::THRESHOLDS_FAILED)
}

fn banner(p: &Prepared, outputs: &[OutSpec], processes: Option<u32>) -> String {
    use crate::duration::format_duration;
    let n = p.test.scenarios.len();
    let mut s = format!(
        "\n  execution: {execution}\n     plugin: {}\n     output: {}\n\n  scenarios: ({:.2}%) {n} scenario{}, {} max VUs, {} max duration (incl. graceful stop):\n",
        p.origin,
        if outputs.is_empty() {
            "-".to_string()
        } else {
            outputs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        },
        p.segment
            .segment()
            .length()
            .map_or(100.0, |r| r.numer() as f64 / r.denom() as f64 * 100.0),
        if n == 1 { "" } else { "s" },
        p.test.local_max_vus(&p.segment),
        format_duration(p.test.max_duration()),
        execution = match processes {
            Some(n) => format!("local, {n} processes"),
            None => "local".into(),
        },
    );
    for sc in &p.test.scenarios {
        s.push_str(&format!("           * {}: {}\n", sc.name, sc.description()));
    }
    s.push_str(&format!(
        "\n    network: {}\n",
        network_line(&p.test.sandbox)
    ));
    s.push('\n');
    s
}

/// What the plugin may reach, for the banner.
fn network_line(sandbox: &Sandbox) -> String {
    if sandbox.is_unrestricted() {
        return "unrestricted (your own script; narrow it with --allow-host PATTERN)".into();
    }
    if sandbox.grants_nothing() {
        return "none (give BASE_URL, --allow-host or [sandbox] allowed-hosts)".into();
    }
    sandbox
        .allowed_hosts
        .iter()
        .map(|h| h.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
