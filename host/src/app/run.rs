//! `volley run`: the built-in target, the run here or in shards, the outputs, the summary and
//! the exit code.

use super::*;

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
    prepare_system_limits(local_vus, crate::vu::maps_per_vu(&p.wasm));
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

/// Raises the open-file limit, grows the descriptor table for `local_vus` VUs' connections (see
/// [`crate::limits::reserve_fds`]), and warns when the system's limits look too low for them
/// taking `maps_per_vu` memory mappings each.
fn prepare_system_limits(local_vus: u32, maps_per_vu: u64) {
    let nofile = crate::limits::raise_nofile();
    crate::limits::reserve_fds(u64::from(local_vus).saturating_mul(2).saturating_add(1024));
    for w in crate::limits::check(u64::from(local_vus), maps_per_vu, nofile) {
        logging::host(Level::Warn, &w);
    }
}

/// Whether the run serves the built-in target: only for the built-in scenario, and only when
/// the user granted no host (no BASE_URL, no allowed-hosts). Never for a script or a component
/// of the user's, whose own URLs it would silently replace.
pub(super) fn serves_builtin_target(p: &Prepared) -> bool {
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
