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
mod inspect;
mod merge;
mod prepare;
mod run;
mod stdin;

pub use inspect::inspect;
pub use merge::merge;
pub use prepare::prepare;
pub(crate) use run::plugin_for_this_process;
pub use run::run;

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
