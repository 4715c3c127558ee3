//! Test configuration: the options schema, the merge of its layers (defaults < the plugin's
//! embedded options < the test file < `VOLLEY_*` env vars and CLI flags) and validation into a
//! [`TestConfig`] before anything starts. Knows nothing of wasm or HTTP.

mod http;
pub mod k6;
mod options;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::plan::{ScenarioOpt, StageOpt};
pub use options::{
    DnsOpt, Options, SandboxOpt, SummaryOpt, ThresholdList, ThresholdOpt, ThresholdTable,
};

use crate::duration::Dur;
use crate::metrics::thresholds::{self, MetricThresholds, Written};
use crate::metrics::{Contains, MetricKind, Registry, SystemTags, SYSTEM_TAGS};
use crate::plan::{ExecutorOpt, Scenario};
use crate::sandbox::{HostPattern, Sandbox};

/// Why a configuration is invalid. Every variant names what was wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The test file could not be read.
    #[error("cannot read test file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type (the message carries line and column).
    #[error("{origin}: {message}")]
    Toml {
        /// Which layer: a file path or "the plugin's embedded options".
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// A value is out of range or inconsistent with others.
    #[error("{key}: {reason}")]
    Invalid {
        /// Dotted key, e.g. `scenarios.load.vus`.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// A threshold is invalid.
    #[error("thresholds.{metric}: {reason}")]
    Threshold {
        /// The metric (with selector) the threshold is on.
        metric: String,
        /// What was wrong.
        reason: String,
    },
}

/// Parses one layer of TOML options; `origin` names it in errors.
pub fn parse_options(text: &str, origin: &str) -> Result<Options, ConfigError> {
    let opts: Options = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before.len() - line_start + 1;
            // The line itself names the key (`duration = 1e300`).
            let source: String = text[line_start..]
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .chars()
                .take(80)
                .collect();
            if source.is_empty() {
                format!("line {line}, column {column}: ")
            } else {
                format!("line {line}, column {column} (`{source}`): ")
            }
        });
        ConfigError::Toml {
            origin: origin.to_string(),
            message: format!("{}{}", at.unwrap_or_default(), e.message().trim_end()),
        }
    })?;
    Ok(k6::fold_summary(opts))
}

/// Reads a test file. Relative file paths (CA, client certificates, local registries) are
/// resolved against the file's directory; `plugin` stays as written, since it may be a
/// registry reference (the caller resolves it).
pub fn read_test_file(path: &Path) -> Result<Options, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut opts = parse_options(&text, &path.display().to_string())?;
    let dir = path.parent().unwrap_or(Path::new("."));
    if let Some(ca) = &opts.tls_ca_file {
        if ca.is_relative() {
            opts.tls_ca_file = Some(dir.join(ca));
        }
    }
    for auth in opts.tls_auth.iter_mut().flatten() {
        for path in [&mut auth.cert, &mut auth.key] {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
    }
    if let Some(registries) = &mut opts.registries {
        for r in registries.iter_mut() {
            if !r.contains("://") && Path::new(r).is_relative() {
                *r = dir.join(&r).display().to_string();
            }
        }
    }
    Ok(opts)
}

/// Summary settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryConfig {
    /// Trend statistics to show (k6 default: avg, min, med, max, p(90), p(95)).
    pub trend_stats: Vec<String>,
    /// Where to write the JSON summary.
    pub export: Option<PathBuf>,
    /// Whether to print the summary.
    pub enabled: bool,
    /// Whether to print the full summary (timing phases, per-scenario sections).
    pub full: bool,
    /// Fixed time unit (`s`, `ms`, `us`), if any.
    pub time_unit: Option<String>,
}

/// A validated test, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct TestConfig {
    /// The scenarios, sorted by name.
    pub scenarios: Vec<Scenario>,
    /// Thresholds by metric.
    pub thresholds: Vec<MetricThresholds>,
    /// The test's metrics (built-in, declared and, during the run, created by its scenarios).
    pub metrics: Registry,
    /// Test variables (`-e`).
    pub env: BTreeMap<String, String>,
    /// Summary settings.
    pub summary: SummaryConfig,
    /// Tags on every sample.
    pub tags: BTreeMap<String, String>,
    /// Which system tags samples carry.
    pub system_tags: SystemTags,
    /// The plugin's sandbox. `allowed_hosts` is empty when the test did not set it (the
    /// runner then allows only the origin of `BASE_URL`).
    pub sandbox: Sandbox,
    /// HTTP client settings: TLS, h2c, user agent.
    pub http: crate::transport::HttpSettings,
    /// Longest `setup` may run (k6's `setupTimeout`).
    pub setup_timeout: Duration,
    /// Longest `teardown` may run (k6's `teardownTimeout`).
    pub teardown_timeout: Duration,
    /// Longest `handleSummary` may run (k6's `handleSummaryTimeout`).
    pub handle_summary_timeout: Duration,
    /// Skip `setup()` (k6's `noSetup`): iterations get no data.
    pub no_setup: bool,
    /// Skip `teardown()` (k6's `noTeardown`).
    pub no_teardown: bool,
    /// Wait for `volley resume` before `setup` and the scenarios (k6's `paused`).
    pub paused: bool,
    /// Shortest iteration: a VU waits out the rest (k6's `minIterationDuration`).
    pub min_iteration_duration: Option<Duration>,
}

/// k6's default `setupTimeout` and `teardownTimeout`.
pub const DEFAULT_LIFECYCLE_TIMEOUT: Duration = Duration::from_secs(60);

impl TestConfig {
    /// Validates merged options into a test.
    pub fn resolve(opts: &Options) -> Result<TestConfig, ConfigError> {
        let metrics = declare_metrics(opts.metrics.as_ref())?;
        let scenarios = resolve_scenarios(opts)?;
        let thresholds = if opts.no_thresholds == Some(true) {
            Vec::new()
        } else {
            resolve_thresholds(&metrics, opts.thresholds.as_ref())?
        };
        let summary = opts.summary.clone().unwrap_or_default();
        // k6's `--summary-mode disabled` is `--no-summary`.
        let disabled_by_mode = summary.mode.as_deref() == Some("disabled");
        let trend_stats = summary.trend_stats.unwrap_or_else(|| {
            ["avg", "min", "med", "max", "p(90)", "p(95)"]
                .map(String::from)
                .to_vec()
        });
        for stat in &trend_stats {
            if !is_trend_stat(stat) {
                return Err(invalid(
                    "summary.trend-stats",
                    format!(
                        "unknown statistic '{stat}' (expected avg, min, med, max, count or p(N))"
                    ),
                ));
            }
        }
        let sandbox = resolve_sandbox(opts.sandbox.clone().unwrap_or_default())?;
        let http = http::resolve(opts)?;
        let lifecycle_timeout = |key: &str, d: Option<Dur>| match d {
            None => Ok(DEFAULT_LIFECYCLE_TIMEOUT),
            Some(d) if d.0.is_zero() => Err(invalid(key, "must be greater than 0")),
            Some(d) => Ok(d.0),
        };
        Ok(TestConfig {
            setup_timeout: lifecycle_timeout("setup-timeout", opts.setup_timeout)?,
            teardown_timeout: lifecycle_timeout("teardown-timeout", opts.teardown_timeout)?,
            handle_summary_timeout: match opts.handle_summary_timeout {
                None => crate::vu::HANDLE_SUMMARY_TIMEOUT,
                Some(d) if d.0.is_zero() => {
                    return Err(invalid("handle-summary-timeout", "must be greater than 0"))
                }
                Some(d) => d.0,
            },
            no_setup: opts.no_setup == Some(true),
            no_teardown: opts.no_teardown == Some(true),
            paused: opts.paused == Some(true),
            min_iteration_duration: opts
                .min_iteration_duration
                .map(|d| d.0)
                .filter(|d| !d.is_zero()),
            http,
            scenarios,
            thresholds,
            metrics,
            env: opts.env.clone().unwrap_or_default(),
            summary: SummaryConfig {
                trend_stats,
                export: summary.export,
                enabled: summary.disabled != Some(true) && !disabled_by_mode,
                full: match summary.mode.as_deref() {
                    None | Some("compact" | "disabled") => false,
                    Some("full") => true,
                    Some(other) => {
                        return Err(invalid(
                            "summary.mode",
                            format!("unknown mode '{other}' (expected compact, full or disabled)"),
                        ))
                    }
                },
                time_unit: match summary.time_unit.as_deref() {
                    None | Some("") => None,
                    Some(u @ ("s" | "ms" | "us")) => Some(u.to_string()),
                    Some(other) => {
                        return Err(invalid(
                            "summary.time-unit",
                            format!("unknown unit '{other}' (expected s, ms or us)"),
                        ))
                    }
                },
            },
            sandbox,
            tags: opts.tags.clone().unwrap_or_default(),
            system_tags: match &opts.system_tags {
                Some(list) => SystemTags::parse(list).map_err(|t| {
                    invalid(
                        "system-tags",
                        format!(
                            "unknown system tag '{t}' (known: {})",
                            SYSTEM_TAGS.join(", ")
                        ),
                    )
                })?,
                None => SystemTags::default(),
            },
        })
    }

    /// The most VUs the test needs at once (scenarios may overlap, so the sum).
    pub fn max_vus(&self) -> u32 {
        self.scenarios
            .iter()
            .map(Scenario::max_vus)
            .fold(0, u32::saturating_add)
    }

    /// The most VUs this process's execution segment needs at once (the sum of its share of
    /// every scenario's).
    pub fn local_max_vus(&self, segment: &crate::plan::segment::ExecutionTuple) -> u32 {
        self.scenarios
            .iter()
            .map(|s| s.local_max_vus(segment))
            .fold(0, u32::saturating_add)
    }

    /// The longest the test can run, graceful stops included.
    pub fn max_duration(&self) -> Duration {
        self.scenarios
            .iter()
            .map(Scenario::max_end)
            .max()
            .unwrap_or_default()
    }
}

/// The test's metrics: the built-ins and the custom metrics declared under `[metrics]`.
fn declare_metrics(declared: Option<&BTreeMap<String, String>>) -> Result<Registry, ConfigError> {
    let metrics = Registry::new();
    for (name, kind) in declared.into_iter().flatten() {
        let (kind, contains) = match kind.as_str() {
            "counter" => (MetricKind::Counter, Contains::Default),
            "gauge" => (MetricKind::Gauge, Contains::Default),
            "rate" => (MetricKind::Rate, Contains::Default),
            "trend" => (MetricKind::Trend, Contains::Default),
            "trend-time" => (MetricKind::Trend, Contains::Time),
            other => {
                return Err(invalid(
                    format!("metrics.{name}"),
                    format!(
                    "unknown type '{other}' (expected counter, gauge, rate, trend or trend-time)"
                ),
                ))
            }
        };
        metrics
            .custom(name, kind, contains)
            .map_err(|e| invalid(format!("metrics.{name}"), e.to_string()))?;
    }
    Ok(metrics)
}

/// The sandbox `opts` describe (validated), e.g. to load a plugin before the rest is merged.
pub fn sandbox_of(opts: &Options) -> Result<Sandbox, ConfigError> {
    resolve_sandbox(opts.sandbox.clone().unwrap_or_default())
}

fn resolve_sandbox(opt: SandboxOpt) -> Result<Sandbox, ConfigError> {
    let max_memory_mib = opt.max_memory_mib.unwrap_or(64);
    if !(1..=4096).contains(&max_memory_mib) {
        return Err(invalid(
            "sandbox.max-memory-mib",
            format!("{max_memory_mib} is out of range 1..=4096"),
        ));
    }
    let allowed_hosts = opt
        .allowed_hosts
        .unwrap_or_default()
        .iter()
        .map(|p| HostPattern::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("sandbox.allowed-hosts", e.to_string()))?;
    for (key, d) in [
        ("sandbox.max-iteration-duration", opt.max_iteration_duration),
        ("sandbox.cpu-budget", opt.cpu_budget),
    ] {
        if d.is_some_and(|d| d.0.is_zero()) {
            return Err(invalid(key, "must be greater than 0"));
        }
    }
    let allow_imports = opt.allow_imports.unwrap_or_default();
    if let Some(bad) = allow_imports
        .iter()
        .find(|p| !p.starts_with("wasi:") || p.starts_with("wasi:http/"))
    {
        return Err(invalid(
            "sandbox.allow-imports",
            format!("'{bad}': only wasi: interfaces other than wasi:http can be allowed"),
        ));
    }
    Ok(Sandbox {
        allowed_hosts,
        max_memory: max_memory_mib << 20,
        max_iteration_duration: opt.max_iteration_duration.map(|d| d.0),
        cpu_budget: opt.cpu_budget.map(|d| d.0),
        allow_imports,
    })
}

fn is_trend_stat(s: &str) -> bool {
    matches!(s, "avg" | "min" | "med" | "max" | "count")
        || s.strip_prefix("p(")
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|p| p.parse::<f64>().ok())
            .is_some_and(|p| (0.0..=100.0).contains(&p))
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

fn resolve_scenarios(opts: &Options) -> Result<Vec<Scenario>, ConfigError> {
    use crate::plan::executor::{constant_vus, per_vu_iterations, ramping_vus, shared_iterations};
    let shortcut = if let Some(iterations) = opts.iterations {
        if opts.stages.is_some() {
            return Err(invalid("iterations", "cannot be combined with stages"));
        }
        Some(ExecutorOpt::SharedIterations(shared_iterations::Options {
            vus: opts.vus,
            iterations: Some(iterations),
            max_duration: opts.duration,
            ..Default::default()
        }))
    } else if let Some(duration) = opts.duration {
        if opts.stages.is_some() {
            return Err(invalid("duration", "cannot be combined with stages"));
        }
        if duration.0.is_zero() {
            return Err(invalid("duration", "must be greater than 0"));
        }
        Some(ExecutorOpt::ConstantVus(constant_vus::Options {
            vus: opts.vus,
            duration: Some(duration),
            ..Default::default()
        }))
    } else {
        opts.stages.as_ref().map(|stages| {
            ExecutorOpt::RampingVus(ramping_vus::Options {
                start_vus: opts.vus,
                stages: Some(stages.clone()),
                ..Default::default()
            })
        })
    };
    let named: BTreeMap<String, ScenarioOpt> = match (shortcut, &opts.scenarios) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "scenarios",
                "cannot be combined with the vus/duration/iterations/stages shortcuts",
            ))
        }
        (Some(executor), None) => BTreeMap::from([("default".into(), ScenarioOpt::of(executor))]),
        (None, Some(map)) => {
            if map.is_empty() {
                return Err(invalid("scenarios", "at least one scenario is required"));
            }
            map.clone()
        }
        (None, None) => {
            let once = ExecutorOpt::PerVuIterations(per_vu_iterations::Options {
                vus: opts.vus,
                iterations: Some(1),
                ..Default::default()
            });
            BTreeMap::from([("default".into(), ScenarioOpt::of(once))])
        }
    };
    named
        .iter()
        .map(|(name, s)| {
            Scenario::resolve(name, s).map_err(|e| ConfigError::Invalid {
                key: e.key,
                reason: e.reason,
            })
        })
        .collect()
}

fn resolve_thresholds(
    metrics: &Registry,
    map: Option<&BTreeMap<String, ThresholdList>>,
) -> Result<Vec<MetricThresholds>, ConfigError> {
    map.into_iter()
        .flatten()
        .map(|(name, list)| {
            let written = list.items().into_iter().map(|t| match t {
                ThresholdOpt::Expr(text) => Written {
                    text,
                    abort_on_fail: false,
                    delay_abort_eval: Duration::ZERO,
                },
                ThresholdOpt::Full(t) => Written {
                    text: t.threshold,
                    abort_on_fail: t.abort_on_fail,
                    delay_abort_eval: t.delay_abort_eval.map_or(Duration::ZERO, |d| d.0),
                },
            });
            thresholds::resolve(metrics, name, written).map_err(|reason| ConfigError::Threshold {
                metric: name.clone(),
                reason,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
