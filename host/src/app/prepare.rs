//! Preparing a test: the plugin (a file, a script built here, stdin or a registry entry), its
//! options pass, the option layers merged, the sandbox and the execution segment.

use super::*;

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
