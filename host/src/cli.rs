//! Command-line interface (clap). Flags mirror k6's; each also reads a `VOLLEY_*` env var.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{Options, SandboxOpt, StageOpt, SummaryOpt};
use crate::duration::parse_duration;
use crate::duration::Dur;
use crate::output::stream::OutSpec;
use crate::target::montecarlo::TargetConfig;

mod k6_flags;

pub use k6_flags::K6Flags;

/// Load testing with WebAssembly component scenarios.
#[derive(Debug, Parser)]
#[command(name = "volley", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the command line; a k6 variable (`K6_VUS`) stands in for its `VOLLEY_*` twin when
    /// only it is set.
    pub fn try_parse_k6() -> Result<Cli, clap::Error> {
        let cmd = k6_flags::with_k6_env(Cli::command(), &|n| std::env::var_os(n).is_some());
        Cli::from_arg_matches(&cmd.try_get_matches()?)
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a test: a scenario component (.wasm), a test file (.toml), or the built-in Monte Carlo
    /// scenario when none is given.
    Run(RunArgs),
    /// Print the resolved options and each scenario's planned schedule as JSON.
    Inspect(RunArgs),
    /// Change the VU count of a running test's externally-controlled scenarios.
    Scale {
        /// The new VU count.
        #[arg(short = 'u', long)]
        vus: u32,
        /// Only this scenario (default: every externally-controlled one).
        #[arg(long)]
        scenario: Option<String>,
        /// The running test's control API address.
        #[arg(short = 'a', long, env = "VOLLEY_ADDRESS", default_value = crate::engine::control::DEFAULT_ADDRESS)]
        address: std::net::SocketAddr,
    },
    /// Start a test that runs with `--paused` (as `k6 resume`).
    Resume {
        /// The running test's control API address.
        #[arg(short = 'a', long, env = "VOLLEY_ADDRESS", default_value = crate::engine::control::DEFAULT_ADDRESS)]
        address: std::net::SocketAddr,
    },
    /// Show the VU counts of a running test's externally-controlled scenarios, and whether it is
    /// paused.
    Status {
        /// The running test's control API address.
        #[arg(short = 'a', long, env = "VOLLEY_ADDRESS", default_value = crate::engine::control::DEFAULT_ADDRESS)]
        address: std::net::SocketAddr,
    },
    /// Add up the JSON summaries (--summary-export) of a test's execution segments into one
    /// summary, exactly, and evaluate its thresholds again.
    Merge {
        /// The summaries, one per segment.
        #[arg(required = true, value_name = "SUMMARY.json")]
        files: Vec<PathBuf>,
        /// Write the merged summary as JSON to this file.
        #[arg(long)]
        summary_export: Option<PathBuf>,
        /// Trend statistics to show, e.g. "avg,p(99)" (default: those of the summaries).
        #[arg(long, value_delimiter = ',')]
        summary_trend_stats: Vec<String>,
        /// Do not print the text summary.
        #[arg(long)]
        no_summary: bool,
    },
    /// Work with scenario registries.
    Registry {
        /// What to do.
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Build a k6-style JavaScript scenario into a component (needs node and the npm packages
    /// componentize-qjs and esbuild in a node_modules folder above the script;
    /// VOLLEY_JS_ENGINE=spidermonkey builds on @bytecodealliance/componentize-js instead).
    Build {
        /// The script (.js or .mjs).
        script: PathBuf,
        /// The component to write (default: the script's path with .wasm).
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Serve a built-in system under test.
    Target {
        /// Which target.
        #[command(subcommand)]
        target: TargetCommand,
    },
}

/// Registry subcommands.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Index maintenance.
    Index {
        /// What to do.
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Validate an index and verify every entry's digest by downloading it.
    Check {
        /// Path or URL of the index.
        index: String,
    },
    /// Publish a component as a Wasm OCI artifact (`oci://registry/repo:tag`).
    Push {
        /// The component file.
        file: PathBuf,
        /// Where to push it.
        reference: String,
    },
    /// Resolve, download, verify and cache `namespace:name[@version]`.
    Pull {
        /// The scenario reference.
        name: String,
        /// Where to look.
        #[command(flatten)]
        registries: Registries,
    },
    /// List the scenarios of registries.
    List {
        /// Where to look.
        #[command(flatten)]
        registries: Registries,
    },
}

/// The registry indexes a command searches.
#[derive(Debug, Clone, Args)]
pub struct Registries {
    /// Registry indexes, paths or URLs (repeatable).
    #[arg(
        long = "registry",
        value_name = "INDEX",
        env = "VOLLEY_REGISTRY",
        value_delimiter = ',',
        required = true
    )]
    pub list: Vec<String>,
}

/// Index subcommands.
#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Fill in the digests of `DIR/index.toml`'s local entries.
    Build {
        /// The directory holding index.toml and the components.
        dir: PathBuf,
    },
}

/// Built-in targets.
#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// GET / runs a CPU-heavy Monte Carlo option pricing on a bounded worker pool.
    Montecarlo {
        /// Port to listen on (0: any free port).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Worker threads doing the simulation (like Gunicorn workers).
        #[arg(long)]
        workers: Option<usize>,
        /// Simulated paths per request.
        #[arg(long)]
        paths: Option<u32>,
        /// Time steps per path.
        #[arg(long)]
        steps: Option<u32>,
    },
}

impl TargetCommand {
    /// Where to listen and the target's configuration: its defaults, overridden by the flags given.
    pub fn settings(&self) -> (std::net::SocketAddr, TargetConfig) {
        let TargetCommand::Montecarlo {
            port,
            host,
            workers,
            paths,
            steps,
        } = *self;
        let defaults = TargetConfig::default();
        let config = TargetConfig {
            workers: workers.unwrap_or(defaults.workers),
            paths: paths.unwrap_or(defaults.paths),
            steps: steps.unwrap_or(defaults.steps),
        };
        ((host, port).into(), config)
    }
}

/// Options of `run` and `inspect`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A scenario component (.wasm), a k6-style script (.js, built and cached), a test file
    /// (.toml), or a registry reference (`acme:checkout@1.2`). Default: the built-in Monte Carlo
    /// scenario.
    pub test: Option<PathBuf>,
    /// Registry indexes to resolve references with, paths or URLs (repeatable).
    #[arg(
        long = "registry",
        value_name = "INDEX",
        env = "VOLLEY_REGISTRY",
        value_delimiter = ','
    )]
    pub registries: Vec<String>,
    /// Number of VUs (k6 `--vus`).
    #[arg(short = 'u', long, env = "VOLLEY_VUS", allow_negative_numbers = true)]
    pub vus: Option<i64>,
    /// Test duration, e.g. 30s, 1m30s (k6 `--duration`).
    #[arg(short = 'd', long, env = "VOLLEY_DURATION", value_parser = parse_dur)]
    pub duration: Option<Dur>,
    /// Total iterations shared among the VUs (k6 `--iterations`).
    #[arg(
        short = 'i',
        long,
        env = "VOLLEY_ITERATIONS",
        allow_negative_numbers = true
    )]
    pub iterations: Option<i64>,
    /// A ramp stage DURATION:TARGET, repeatable (k6 `--stage 30s:100`).
    #[arg(short = 's', long = "stage", env = "VOLLEY_STAGES", value_delimiter = ',', value_parser = parse_stage)]
    pub stages: Vec<StageOpt>,
    /// A test variable NAME=VALUE, repeatable; the scenario reads it with `env` (k6 `-e`).
    #[arg(short = 'e', long = "env", value_parser = parse_key_value)]
    pub env: Vec<(String, String)>,
    /// Stream every sample to an output, repeatable: `json=FILE` (k6's NDJSON), `csv=FILE`,
    /// `prometheus-rw=URL` (remote write; trends as native histograms), `influxdb=URL` (k6's
    /// InfluxDB 1.x output).
    #[arg(short = 'o', long = "out", env = "VOLLEY_OUT", value_delimiter = ',', value_parser = OutSpec::parse)]
    pub outputs: Vec<OutSpec>,
    /// A tag on every sample, NAME=VALUE, repeatable (k6 `--tag`).
    #[arg(long = "tag", value_parser = parse_key_value)]
    pub tags: Vec<(String, String)>,
    /// Which system tags samples carry, comma-separated (k6 `--system-tags`).
    #[arg(long, env = "VOLLEY_SYSTEM_TAGS", value_delimiter = ',')]
    pub system_tags: Option<Vec<String>>,
    /// Write a self-contained HTML report (charts over time, thresholds, summary) to this file.
    #[arg(long, env = "VOLLEY_REPORT")]
    pub report: Option<PathBuf>,
    /// Serve a live web dashboard while the test runs (k6's `K6_WEB_DASHBOARD=true`).
    #[arg(long, env = "VOLLEY_WEB_DASHBOARD")]
    pub dashboard: bool,
    /// Where the live web dashboard listens (default 127.0.0.1:5665, as k6's).
    #[arg(long, env = "VOLLEY_WEB_DASHBOARD_ADDRESS", value_name = "ADDR")]
    pub dashboard_address: Option<std::net::SocketAddr>,
    /// Write the summary as JSON to this file.
    #[arg(long, env = "VOLLEY_SUMMARY_EXPORT")]
    pub summary_export: Option<PathBuf>,
    /// Trend statistics in the summary, e.g. "avg,p(99)".
    #[arg(long, env = "VOLLEY_SUMMARY_TREND_STATS", value_delimiter = ',')]
    pub summary_trend_stats: Vec<String>,
    /// Summary layout: compact (default) or full (timing phases, a section per scenario).
    #[arg(long, env = "VOLLEY_SUMMARY_MODE")]
    pub summary_mode: Option<String>,
    /// Fixed unit for times in the summary: s, ms or us.
    #[arg(long, env = "VOLLEY_SUMMARY_TIME_UNIT")]
    pub summary_time_unit: Option<String>,
    /// Do not print the end-of-test summary.
    #[arg(long)]
    pub no_summary: bool,
    /// Do not evaluate thresholds.
    #[arg(long, env = "VOLLEY_NO_THRESHOLDS")]
    pub no_thresholds: bool,
    /// No progress output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print every request and response: headers, or with `=full` also bodies.
    #[arg(long, env = "VOLLEY_HTTP_DEBUG", num_args = 0..=1, default_missing_value = "headers", value_name = "full")]
    pub http_debug: Option<String>,
    /// This process's share of the test, e.g. `0:1/3`, `1/3:2/3`, `25%` (k6's execution segment).
    #[arg(long, env = "VOLLEY_EXECUTION_SEGMENT")]
    pub execution_segment: Option<String>,
    /// The segments all processes use, e.g. `0,1/3,2/3,1` (must be the same everywhere).
    #[arg(long, env = "VOLLEY_EXECUTION_SEGMENT_SEQUENCE")]
    pub execution_segment_sequence: Option<String>,
    /// Where the control API listens when a scenario is externally controlled.
    #[arg(short = 'a', long, env = "VOLLEY_ADDRESS", default_value = crate::engine::control::DEFAULT_ADDRESS)]
    pub address: std::net::SocketAddr,
    /// Largest registry download (index or component), in MiB (default 256).
    #[arg(long, env = "VOLLEY_REGISTRY_MAX_DOWNLOAD_MIB")]
    pub registry_max_download_mib: Option<u64>,
    /// A host the scenario may reach, repeatable: `http://127.0.0.1:8080`, `https://*.example.com`,
    /// `http://localhost:*`, `tcp://db:5432`, `*` (every HTTP(S) host). Replaces the test file's
    /// `[sandbox] allowed-hosts`. Default: a script you run reaches every HTTP(S) host; a component
    /// file or registry entry only the origin of BASE_URL.
    #[arg(
        long = "allow-host",
        value_name = "PATTERN",
        env = "VOLLEY_ALLOW_HOSTS",
        value_delimiter = ','
    )]
    pub allow_hosts: Vec<String>,
    /// Accept a registry scenario whose digest or capabilities differ from volley.lock, and
    /// re-pin it.
    #[arg(long)]
    pub update_lock: bool,
    /// `k6 run`'s other flags.
    #[command(flatten)]
    pub k6: K6Flags,
    /// Run the test in N child processes, each an execution segment, coordinated by this one
    /// (default: one process, or as many as hold the planned VUs).
    #[arg(long, env = "VOLLEY_PROCESSES")]
    pub processes: Option<u32>,
    /// Internal: run as shard INDEX/COUNT of a coordinator, reporting on stdout.
    #[arg(long, hide = true, value_parser = crate::shard::ShardId::parse)]
    pub shard_child: Option<crate::shard::ShardId>,
    /// Internal: the scenario the coordinator built, used instead of building the script again.
    #[arg(long, hide = true)]
    pub shard_plugin: Option<PathBuf>,
    /// Internal: a shard also sends every sample (its coordinator has streaming outputs).
    #[arg(long, hide = true)]
    pub shard_samples: bool,
}

impl RunArgs {
    /// The CLI (and env var) layer of options.
    pub fn options(&self) -> Options {
        let summary = SummaryOpt {
            trend_stats: (!self.summary_trend_stats.is_empty())
                .then(|| self.summary_trend_stats.clone()),
            export: self.summary_export.clone(),
            disabled: self.no_summary.then_some(true),
            mode: self.summary_mode.clone(),
            time_unit: self.summary_time_unit.clone(),
        };
        let layer = Options {
            vus: self.vus,
            duration: self.duration,
            iterations: self.iterations,
            stages: (!self.stages.is_empty()).then(|| self.stages.clone()),
            env: (!self.env.is_empty())
                .then(|| self.env.iter().cloned().collect::<BTreeMap<_, _>>()),
            no_thresholds: self.no_thresholds.then_some(true),
            summary: (summary != SummaryOpt::default()).then_some(summary),
            registries: (!self.registries.is_empty()).then(|| self.registries.clone()),
            tags: (!self.tags.is_empty())
                .then(|| self.tags.iter().cloned().collect::<BTreeMap<_, _>>()),
            system_tags: self.system_tags.clone(),
            http_debug: self.http_debug.clone(),
            registry_max_download_mib: self.registry_max_download_mib,
            sandbox: (!self.allow_hosts.is_empty()).then(|| SandboxOpt {
                allowed_hosts: Some(self.allow_hosts.clone()),
                ..SandboxOpt::default()
            }),
            ..Options::default()
        };
        self.k6.apply(layer)
    }
}

fn parse_dur(s: &str) -> Result<Dur, String> {
    parse_duration(s).map(Dur).map_err(|e| e.to_string())
}

fn parse_stage(s: &str) -> Result<StageOpt, String> {
    let (d, t) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("invalid stage {s:?}: expected DURATION:TARGET, e.g. 30s:100"))?;
    let duration = parse_dur(d)?;
    let target = t
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("invalid stage {s:?}: target {t:?} is not a whole number"))?;
    Ok(StageOpt { duration, target })
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid variable {s:?}: expected NAME=VALUE"))?;
    if k.is_empty() {
        return Err(format!("invalid variable {s:?}: empty name"));
    }
    Ok((k.to_string(), v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_style_flags() {
        let cli = Cli::try_parse_from([
            "volley",
            "run",
            "x.wasm",
            "--vus",
            "10",
            "-d",
            "30s",
            "-e",
            "BASE_URL=http://a:1",
            "--stage",
            "10s:5",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let o = args.options();
        assert_eq!(o.vus, Some(10));
        assert_eq!(o.duration.unwrap().0.as_secs(), 30);
        assert_eq!(o.env.unwrap()["BASE_URL"], "http://a:1");
        assert_eq!(o.stages.unwrap()[0].target, 5);
    }

    #[test]
    fn rejects_bad_flags() {
        assert!(Cli::try_parse_from(["volley", "run", "-d", "10x"]).is_err());
        assert!(Cli::try_parse_from(["volley", "run", "--stage", "10s"]).is_err());
        assert!(Cli::try_parse_from(["volley", "run", "-e", "NOEQUALS"]).is_err());
    }
}
