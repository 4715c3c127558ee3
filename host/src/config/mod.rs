//! Test configuration: the options schema, the merge of its layers (defaults < the plugin's
//! embedded options < the test file < `VOLLEY_*` env vars and CLI flags) and validation into a
//! [`TestConfig`] before anything starts. Knows nothing of wasm or HTTP.

mod http;
mod options;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use options::{
    Options, SandboxOpt, ScenarioOpt, StageOpt, SummaryOpt, ThresholdList, ThresholdOpt,
    ThresholdTable,
};

use crate::duration::Dur;
use crate::metrics::thresholds::{self, MetricThresholds, Written};
use crate::metrics::{Contains, MetricId, MetricKind, SystemTags, SYSTEM_TAGS};
use crate::plan::{Executor, Scenario, Stage};
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
    toml::from_str(text).map_err(|e| {
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
    })
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
}

/// k6's default `setupTimeout` and `teardownTimeout`.
pub const DEFAULT_LIFECYCLE_TIMEOUT: Duration = Duration::from_secs(60);

impl TestConfig {
    /// Validates merged options into a test.
    pub fn resolve(opts: &Options) -> Result<TestConfig, ConfigError> {
        declare_metrics(opts.metrics.as_ref())?;
        let scenarios = resolve_scenarios(opts)?;
        let thresholds = if opts.no_thresholds == Some(true) {
            Vec::new()
        } else {
            resolve_thresholds(opts.thresholds.as_ref())?
        };
        let summary = opts.summary.clone().unwrap_or_default();
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
            http,
            scenarios,
            thresholds,
            env: opts.env.clone().unwrap_or_default(),
            summary: SummaryConfig {
                trend_stats,
                export: summary.export,
                enabled: summary.disabled != Some(true),
                full: match summary.mode.as_deref() {
                    None | Some("compact") => false,
                    Some("full") => true,
                    Some(other) => {
                        return Err(invalid(
                            "summary.mode",
                            format!("unknown mode '{other}' (expected compact or full)"),
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

/// Defines the custom metrics declared under `[metrics]`.
fn declare_metrics(declared: Option<&BTreeMap<String, String>>) -> Result<(), ConfigError> {
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
        MetricId::custom(name, kind, contains)
            .map_err(|e| invalid(format!("metrics.{name}"), e.to_string()))?;
    }
    Ok(())
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

const DEFAULT_GRACEFUL: Duration = Duration::from_secs(30);
const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(600);

fn count(key: &str, v: Option<i64>, default: i64, min: i64) -> Result<u64, ConfigError> {
    let v = v.unwrap_or(default);
    if v < min {
        return Err(invalid(key, format!("must be at least {min}, got {v}")));
    }
    Ok(v as u64)
}

/// The most VUs one scenario may plan (before it is split into execution segments).
pub const MAX_VUS: u32 = 10_000_000;

fn vus_count(key: &str, v: Option<i64>, default: i64, min: i64) -> Result<u32, ConfigError> {
    let n = count(key, v, default, min)?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_VUS)
        .ok_or_else(|| invalid(key, format!("{n} is more than {MAX_VUS} VUs")))
}

fn stages(key: &str, stages: &[StageOpt]) -> Result<Vec<Stage>, ConfigError> {
    if stages.is_empty() {
        return Err(invalid(key, "at least one stage is required"));
    }
    stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let target = u32::try_from(s.target)
                .ok()
                .filter(|t| *t <= MAX_VUS)
                .ok_or_else(|| {
                    invalid(
                        format!("{key}[{i}].target"),
                        format!("must be 0..={MAX_VUS}, got {}", s.target),
                    )
                })?;
            Ok(Stage {
                duration: s.duration.0,
                target,
            })
        })
        .collect()
}

fn resolve_scenarios(opts: &Options) -> Result<Vec<Scenario>, ConfigError> {
    let shortcut = |name| {
        let mut s = ScenarioOpt {
            vus: opts.vus,
            ..Default::default()
        };
        s.executor = String::from(name);
        s
    };
    let shortcut_scenario = if let Some(iterations) = opts.iterations {
        if opts.stages.is_some() {
            return Err(invalid("iterations", "cannot be combined with stages"));
        }
        let mut s = shortcut("shared-iterations");
        s.iterations = Some(iterations);
        s.max_duration = opts.duration;
        Some(s)
    } else if let Some(duration) = opts.duration {
        if opts.stages.is_some() {
            return Err(invalid("duration", "cannot be combined with stages"));
        }
        if duration.0.is_zero() {
            return Err(invalid("duration", "must be greater than 0"));
        }
        let mut s = shortcut("constant-vus");
        s.duration = Some(duration);
        Some(s)
    } else if let Some(st) = &opts.stages {
        let mut s = shortcut("ramping-vus");
        s.start_vus = opts.vus;
        s.vus = None;
        s.stages = Some(st.clone());
        Some(s)
    } else {
        None
    };
    let named: BTreeMap<String, ScenarioOpt> = match (shortcut_scenario, &opts.scenarios) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "scenarios",
                "cannot be combined with the vus/duration/iterations/stages shortcuts",
            ))
        }
        (Some(s), None) => BTreeMap::from([("default".to_string(), s)]),
        (None, Some(map)) => {
            if map.is_empty() {
                return Err(invalid("scenarios", "at least one scenario is required"));
            }
            map.clone()
        }
        (None, None) => {
            let mut s = shortcut("per-vu-iterations");
            s.iterations = Some(1);
            BTreeMap::from([("default".to_string(), s)])
        }
    };
    named
        .iter()
        .map(|(name, s)| resolve_scenario(name, s))
        .collect()
}

fn resolve_scenario(name: &str, s: &ScenarioOpt) -> Result<Scenario, ConfigError> {
    let key = |field: &str| format!("scenarios.{name}.{field}");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(invalid(
            format!("scenarios.{name}"),
            "scenario names may only contain letters, digits, '_' and '-'",
        ));
    }
    let allowed: &[&str] = match s.executor.as_str() {
        "constant-vus" => &["vus", "duration"],
        "ramping-vus" => &["start-vus", "stages", "graceful-ramp-down"],
        "shared-iterations" | "per-vu-iterations" => &["vus", "iterations", "max-duration"],
        "constant-arrival-rate" => &["rate", "time-unit", "duration", "pre-allocated-vus", "max-vus"],
        "ramping-arrival-rate" => &["start-rate", "time-unit", "stages", "pre-allocated-vus", "max-vus"],
        "externally-controlled" => &["vus", "max-vus", "duration"],
        other => {
            return Err(invalid(
                key("executor"),
                format!(
                    "unknown executor '{other}' (expected constant-vus, ramping-vus, shared-iterations, \
                     per-vu-iterations, constant-arrival-rate, ramping-arrival-rate or externally-controlled)"
                ),
            ))
        }
    };
    let set = [
        ("vus", s.vus.is_some()),
        ("duration", s.duration.is_some()),
        ("iterations", s.iterations.is_some()),
        ("max-duration", s.max_duration.is_some()),
        ("start-vus", s.start_vus.is_some()),
        ("stages", s.stages.is_some()),
        ("graceful-ramp-down", s.graceful_ramp_down.is_some()),
        ("rate", s.rate.is_some()),
        ("start-rate", s.start_rate.is_some()),
        ("time-unit", s.time_unit.is_some()),
        ("pre-allocated-vus", s.pre_allocated_vus.is_some()),
        ("max-vus", s.max_vus.is_some()),
    ];
    if let Some((field, _)) = set.iter().find(|(f, on)| *on && !allowed.contains(f)) {
        return Err(invalid(
            key(field),
            format!("not an option of executor {}", s.executor),
        ));
    }
    if s.executor == "externally-controlled" && s.graceful_stop.is_some() {
        return Err(invalid(
            key("graceful-stop"),
            "not an option of executor externally-controlled",
        ));
    }
    let exec = s.exec.clone().unwrap_or_else(|| "default".to_string());
    if exec.is_empty() {
        return Err(invalid(key("exec"), "must not be empty"));
    }
    let at_least_1s = |field: &str, d: Option<Dur>| -> Result<Duration, ConfigError> {
        let d = d.ok_or_else(|| invalid(key(field), "is required"))?.0;
        if d < Duration::from_secs(1) {
            return Err(invalid(key(field), "must be at least 1s"));
        }
        Ok(d)
    };
    let time_unit = || -> Result<Duration, ConfigError> {
        let t = s.time_unit.map_or(Duration::from_secs(1), |d| d.0);
        if t.is_zero() {
            return Err(invalid(key("time-unit"), "must be greater than 0"));
        }
        Ok(t)
    };
    let arrival_vus = || -> Result<(u32, u32), ConfigError> {
        let pre = s
            .pre_allocated_vus
            .ok_or_else(|| invalid(key("pre-allocated-vus"), "is required"))?;
        let pre = vus_count(&key("pre-allocated-vus"), Some(pre), 0, 0)?;
        let max = vus_count(&key("max-vus"), s.max_vus, i64::from(pre), 0)?;
        if max < pre {
            return Err(invalid(
                key("max-vus"),
                format!("{max} is less than pre-allocated-vus ({pre})"),
            ));
        }
        Ok((pre, max))
    };
    let executor = match s.executor.as_str() {
        "constant-vus" => Executor::ConstantVus {
            vus: vus_count(&key("vus"), s.vus, 1, 1)?,
            duration: at_least_1s("duration", s.duration)?,
        },
        "ramping-vus" => Executor::RampingVus {
            start_vus: vus_count(&key("start-vus"), s.start_vus, 1, 0)?,
            stages: stages(&key("stages"), s.stages.as_deref().unwrap_or_default())?,
            graceful_ramp_down: s.graceful_ramp_down.map_or(DEFAULT_GRACEFUL, |d| d.0),
        },
        "constant-arrival-rate" => {
            let (pre_allocated_vus, max_vus) = arrival_vus()?;
            let rate = s.rate.ok_or_else(|| invalid(key("rate"), "is required"))?;
            Executor::ConstantArrivalRate {
                rate: count(&key("rate"), Some(rate), 1, 1)?,
                time_unit: time_unit()?,
                duration: at_least_1s("duration", s.duration)?,
                pre_allocated_vus,
                max_vus,
            }
        }
        "ramping-arrival-rate" => {
            let (pre_allocated_vus, max_vus) = arrival_vus()?;
            Executor::RampingArrivalRate {
                start_rate: count(&key("start-rate"), s.start_rate, 0, 0)?,
                time_unit: time_unit()?,
                stages: stages(&key("stages"), s.stages.as_deref().unwrap_or_default())?,
                pre_allocated_vus,
                max_vus,
            }
        }
        "externally-controlled" => {
            let vus = vus_count(&key("vus"), s.vus, 1, 0)?;
            let max_vus = vus_count(&key("max-vus"), s.max_vus, i64::from(vus), 0)?;
            if max_vus < vus {
                return Err(invalid(
                    key("max-vus"),
                    format!("{max_vus} is less than vus ({vus})"),
                ));
            }
            let duration = s
                .duration
                .ok_or_else(|| invalid(key("duration"), "is required (0s runs until stopped)"))?
                .0;
            Executor::ExternallyControlled {
                vus,
                max_vus,
                duration,
            }
        }
        shared_or_per_vu => {
            let vus = vus_count(&key("vus"), s.vus, 1, 1)?;
            let iterations = count(&key("iterations"), s.iterations, 1, 1)?;
            let max_duration = s.max_duration.map_or(DEFAULT_MAX_DURATION, |d| d.0);
            if max_duration < Duration::from_secs(1) {
                return Err(invalid(key("max-duration"), "must be at least 1s"));
            }
            if shared_or_per_vu == "shared-iterations" {
                if iterations < u64::from(vus) {
                    return Err(invalid(
                        key("iterations"),
                        format!("{iterations} iterations cannot be shared among {vus} VUs (iterations must be >= vus)"),
                    ));
                }
                Executor::SharedIterations {
                    vus,
                    iterations,
                    max_duration,
                }
            } else {
                Executor::PerVuIterations {
                    vus,
                    iterations,
                    max_duration,
                }
            }
        }
    };
    let scenario = Scenario {
        name: name.to_string(),
        executor,
        exec,
        start_time: s.start_time.map_or(Duration::ZERO, |d| d.0),
        graceful_stop: if s.executor == "externally-controlled" {
            Duration::ZERO
        } else {
            s.graceful_stop.map_or(DEFAULT_GRACEFUL, |d| d.0)
        },
        env: s.env.clone().unwrap_or_default(),
        tags: s.tags.clone().unwrap_or_default(),
    };
    if scenario.max_vus() == 0 {
        return Err(invalid(
            format!("scenarios.{name}"),
            "never runs a VU (every VU count is 0)",
        ));
    }
    Ok(scenario)
}

fn resolve_thresholds(
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
            thresholds::resolve(name, written).map_err(|reason| ConfigError::Threshold {
                metric: name.clone(),
                reason,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
