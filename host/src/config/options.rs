//! The options schema, shared by every layer: the plugin's embedded TOML, the test file and
//! (converted) the CLI. Every field is optional so layers can be merged; unknown keys are
//! rejected. Kebab-case keys, with k6's camelCase accepted where a k6 user would paste it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::k6::Inert;
use crate::duration::Dur;
use crate::plan::{ScenarioOpt, StageOpt};

/// A threshold: an expression, or a table with abort options.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ThresholdOpt {
    /// `"p(95)<500"`
    Expr(String),
    /// `{ threshold = "p(95)<500", abort-on-fail = true, delay-abort-eval = "10s" }`
    Full(ThresholdTable),
}

/// The table form of a threshold.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ThresholdTable {
    /// The expression.
    pub threshold: String,
    /// Stop the test as soon as this threshold fails.
    #[serde(default, alias = "abortOnFail")]
    pub abort_on_fail: bool,
    /// Do not abort before this much time has passed.
    #[serde(alias = "delayAbortEval")]
    pub delay_abort_eval: Option<Dur>,
}

/// One or several thresholds on a metric.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ThresholdList {
    /// A single threshold.
    One(ThresholdOpt),
    /// A list of thresholds.
    Many(Vec<ThresholdOpt>),
}

impl ThresholdList {
    /// The thresholds as a list.
    pub fn items(&self) -> Vec<ThresholdOpt> {
        match self {
            ThresholdList::One(t) => vec![t.clone()],
            ThresholdList::Many(v) => v.clone(),
        }
    }
}

/// Summary options.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SummaryOpt {
    /// Trend statistics to show, e.g. `["avg", "p(99)"]`.
    #[serde(alias = "summaryTrendStats")]
    pub trend_stats: Option<Vec<String>>,
    /// Write the summary as JSON to this file.
    pub export: Option<PathBuf>,
    /// Do not print the summary.
    pub disabled: Option<bool>,
    /// `compact` (default) or `full` (adds the timing phases and a section per scenario).
    #[serde(alias = "summaryMode")]
    pub mode: Option<String>,
    /// Fixed unit for times: `s`, `ms` or `us` (default: chosen per value).
    #[serde(alias = "summaryTimeUnit")]
    pub time_unit: Option<String>,
}

/// The plugin's sandbox. Only the test file and the CLI set it: a plugin's embedded options
/// cannot grant the plugin anything.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SandboxOpt {
    /// Maximum linear memory per VU instance, in MiB (default 64).
    pub max_memory_mib: Option<u64>,
    /// Hosts `http.send` may reach (default: only the origin of `BASE_URL`).
    pub allowed_hosts: Option<Vec<String>>,
    /// Longest an iteration may run before it is ended with an error.
    pub max_iteration_duration: Option<Dur>,
    /// Most guest CPU time one iteration may use.
    pub cpu_budget: Option<Dur>,
    /// Extra WASI imports to allow, e.g. `wasi:filesystem/*` (linked with nothing preopened).
    pub allow_imports: Option<Vec<String>>,
}

impl SandboxOpt {
    fn overlay(self, higher: SandboxOpt) -> SandboxOpt {
        SandboxOpt {
            max_memory_mib: higher.max_memory_mib.or(self.max_memory_mib),
            allowed_hosts: higher.allowed_hosts.or(self.allowed_hosts),
            max_iteration_duration: higher
                .max_iteration_duration
                .or(self.max_iteration_duration),
            cpu_budget: higher.cpu_budget.or(self.cpu_budget),
            allow_imports: higher.allow_imports.or(self.allow_imports),
        }
    }
}

/// k6's `tlsVersion`: one version, or a range.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum TlsVersionOpt {
    /// `"tls1.3"`: exactly this version.
    One(String),
    /// `{ min = "tls1.2", max = "tls1.3" }`.
    Range {
        /// Lowest version.
        min: Option<String>,
        /// Highest version.
        max: Option<String>,
    },
}

/// One expected status or an inclusive range (k6's `expectedStatuses`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum StatusOpt {
    /// `200`
    One(u16),
    /// `{ min = 200, max = 299 }`
    Range {
        /// Lowest status.
        min: u16,
        /// Highest status.
        max: u16,
    },
}

/// k6's `dns` option.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DnsOpt {
    /// How long a lookup is reused (`"5m"`; `"0"` disables the cache).
    pub ttl: Option<Dur>,
    /// `first`, `random` or `roundRobin`.
    pub select: Option<String>,
    /// `preferIPv4`, `preferIPv6`, `onlyIPv4`, `onlyIPv6` or `any`.
    pub policy: Option<String>,
}

/// A client certificate for some domains (k6's `tlsAuth`); paths relative to the test file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsAuthOpt {
    /// Domains to present it to (`*.example.com` matches subdomains).
    pub domains: Vec<String>,
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
}

/// All options of one layer.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Options {
    /// Path of the scenario component (relative to the test file), or a registry reference
    /// `namespace:name[@version]`.
    pub plugin: Option<PathBuf>,
    /// Registry indexes to resolve references with: paths (relative to the test file) or URLs.
    pub registries: Option<Vec<String>>,
    /// Shortcut: VUs.
    pub vus: Option<i64>,
    /// Shortcut: duration of a constant-vus test (or max duration with `iterations`).
    pub duration: Option<Dur>,
    /// Shortcut: shared iterations.
    pub iterations: Option<i64>,
    /// Shortcut: ramping-vus stages.
    pub stages: Option<Vec<StageOpt>>,
    /// Named scenarios.
    pub scenarios: Option<BTreeMap<String, ScenarioOpt>>,
    /// Thresholds by metric (with an optional `{tag:value}` selector).
    pub thresholds: Option<BTreeMap<String, ThresholdList>>,
    /// Test variables (`-e`), visible to the scenario through `env`.
    pub env: Option<BTreeMap<String, String>>,
    /// Custom metrics the scenario defines, by name: `counter`, `gauge`, `rate`, `trend` or
    /// `trend-time` (milliseconds). Declared metrics can carry thresholds.
    pub metrics: Option<BTreeMap<String, String>>,
    /// Tags on every sample of the test (k6's `tags`, `--tag k=v`).
    pub tags: Option<BTreeMap<String, String>>,
    /// Which system tags samples carry (k6's `systemTags`, `--system-tags`).
    #[serde(alias = "systemTags")]
    pub system_tags: Option<Vec<String>>,
    /// Skip threshold evaluation.
    #[serde(alias = "noThresholds")]
    pub no_thresholds: Option<bool>,
    /// Summary options.
    pub summary: Option<SummaryOpt>,
    /// Sandbox limits.
    pub sandbox: Option<SandboxOpt>,
    /// Accept any TLS certificate (k6's `insecureSkipTLSVerify`).
    #[serde(alias = "insecureSkipTLSVerify")]
    pub insecure_skip_tls_verify: Option<bool>,
    /// PEM file of extra CA certificates to trust beside the system's (relative to the test file).
    #[serde(alias = "tlsCAFile")]
    pub tls_ca_file: Option<PathBuf>,
    /// TLS versions to offer (k6's `tlsVersion`): `"tls1.3"` or `{ min = ..., max = ... }`.
    #[serde(alias = "tlsVersion")]
    pub tls_version: Option<TlsVersionOpt>,
    /// Client certificates by domain (k6's `tlsAuth`).
    #[serde(alias = "tlsAuth")]
    pub tls_auth: Option<Vec<TlsAuthOpt>>,
    /// Speak HTTP/2 with prior knowledge (h2c) to `http://` origins.
    pub h2c: Option<bool>,
    /// `User-Agent` of requests that set none (k6's `userAgent`; default `volley/<version>`).
    #[serde(alias = "userAgent")]
    pub user_agent: Option<String>,
    /// Redirects followed per request (k6's `maxRedirects`, default 10).
    #[serde(alias = "maxRedirects")]
    pub max_redirects: Option<u32>,
    /// Statuses that count as expected (k6's `expectedStatuses`; default 200–399).
    #[serde(alias = "expectedStatuses")]
    pub expected_statuses: Option<Vec<StatusOpt>>,
    /// Close every connection after its request (k6's `noConnectionReuse`).
    #[serde(alias = "noConnectionReuse")]
    pub no_connection_reuse: Option<bool>,
    /// Close a VU's connections between iterations (k6's `noVUConnectionReuse`).
    #[serde(alias = "noVUConnectionReuse")]
    pub no_vu_connection_reuse: Option<bool>,
    /// Host overrides: `"host"` or `"host:port"` → `"ip"` or `"ip:port"` (k6's `hosts`).
    pub hosts: Option<BTreeMap<String, String>>,
    /// Host names never to connect to; `*.example.com` matches subdomains.
    #[serde(alias = "blockHostnames")]
    pub block_hostnames: Option<Vec<String>>,
    /// IP ranges (CIDR) never to connect to (k6's `blacklistIPs`).
    #[serde(alias = "blacklistIPs")]
    pub blacklist_ips: Option<Vec<String>>,
    /// DNS cache and address selection (k6's `dns`).
    pub dns: Option<DnsOpt>,
    /// Source IP addresses, one per VU in turn (k6's `localIPs`): addresses or CIDR ranges.
    #[serde(alias = "localIPs")]
    pub local_ips: Option<Vec<String>>,
    /// k6's `discardResponseBodies`: accepted so k6 scripts' options load. The JS shim then makes
    /// `responseType: 'none'` its default; the Rust SDK discards bodies unless asked anyway.
    #[serde(alias = "discardResponseBodies")]
    pub discard_response_bodies: Option<bool>,
    /// Largest response body kept for the guest, in MiB (default 16).
    pub max_response_body_mib: Option<u64>,
    /// `headers` or `full` (set by `--http-debug`).
    #[serde(alias = "httpDebug")]
    pub http_debug: Option<String>,
    /// Longest `setup` may run (k6's `setupTimeout`, default 60s).
    #[serde(alias = "setupTimeout")]
    pub setup_timeout: Option<Dur>,
    /// Longest `teardown` may run (k6's `teardownTimeout`, default 60s).
    #[serde(alias = "teardownTimeout")]
    pub teardown_timeout: Option<Dur>,
    /// Largest registry download (index or component), in MiB (default 256).
    pub registry_max_download_mib: Option<u64>,
    /// Skip `setup()` (k6's `noSetup`, `--no-setup`).
    #[serde(alias = "noSetup")]
    pub no_setup: Option<bool>,
    /// Skip `teardown()` (k6's `noTeardown`, `--no-teardown`).
    #[serde(alias = "noTeardown")]
    pub no_teardown: Option<bool>,
    /// Keep a VU's cookies from one iteration to the next (k6's `noCookiesReset`).
    #[serde(alias = "noCookiesReset")]
    pub no_cookies_reset: Option<bool>,
    /// k6's top-level `summaryTrendStats`: the same as `summary.trend-stats`.
    #[serde(alias = "summaryTrendStats")]
    pub summary_trend_stats: Option<Vec<String>>,
    /// k6's top-level `summaryTimeUnit`: the same as `summary.time-unit`.
    #[serde(alias = "summaryTimeUnit")]
    pub summary_time_unit: Option<String>,
    /// Start paused (k6's `paused`, `--paused`): VUs are initialised, then the test waits for
    /// `volley resume` before `setup` and the scenarios.
    pub paused: Option<bool>,
    /// Most HTTP requests per second the whole test sends, over all VUs (k6's `rps`; 0 or
    /// less: no cap). Every request (each `http.batch` member, not each redirect) waits its turn.
    pub rps: Option<i64>,
    /// Longest `handleSummary` may run (k6's `handleSummaryTimeout`, default 2m).
    #[serde(alias = "handleSummaryTimeout")]
    pub handle_summary_timeout: Option<Dur>,
    /// The TLS 1.2 cipher suites offered, by k6's (Go's) names (k6's `tlsCipherSuites`); TLS
    /// 1.3's are always offered, as in k6.
    #[serde(alias = "tlsCipherSuites")]
    pub tls_cipher_suites: Option<Vec<String>>,
    /// k6's `cloud`: accepted, not acted on (see `config::k6::inert`).
    pub cloud: Option<Inert>,
    /// k6's `ext`: accepted, not acted on (see `config::k6::inert`).
    pub ext: Option<Inert>,
    /// k6's `features`: accepted, not acted on (see `config::k6::inert`).
    pub features: Option<Inert>,
    /// k6's `metricSamplesBufferSize`: accepted, not acted on (see `config::k6::inert`).
    #[serde(alias = "metricSamplesBufferSize")]
    pub metric_samples_buffer_size: Option<Inert>,
    /// This instance's part of the test (k6's `executionSegment`, e.g. `1/4:1/2`); the
    /// `--execution-segment` flag wins over it.
    #[serde(alias = "executionSegment")]
    pub execution_segment: Option<String>,
    /// The segments of the whole test (k6's `executionSegmentSequence`); the
    /// `--execution-segment-sequence` flag wins over it.
    #[serde(alias = "executionSegmentSequence")]
    pub execution_segment_sequence: Option<String>,
    /// Shortest iteration (k6's `minIterationDuration`): a VU whose iteration ended sooner waits
    /// out the rest before its next (not counted in `iteration_duration`, as in k6).
    #[serde(alias = "minIterationDuration")]
    pub min_iteration_duration: Option<Dur>,
    /// Most requests of one `http.batch` in flight at once (k6's `batch`, default 20, at least 1;
    /// above `vu::MAX_BATCH_PARALLEL` it is lowered to that, with a warning).
    pub batch: Option<u32>,
    /// Most requests of one `http.batch` in flight at once to one host (k6's `batchPerHost`,
    /// default 6; 0: no per-host limit).
    #[serde(alias = "batchPerHost")]
    pub batch_per_host: Option<u32>,
    /// A request that fails without a response (network error, invalid URL) throws in the
    /// script instead of returning a response with `error` and `error_code` (k6's `throw`).
    pub throw: Option<bool>,
}

/// `lo` overridden key by key by `hi`.
fn merge_maps(
    lo: Option<BTreeMap<String, String>>,
    hi: Option<BTreeMap<String, String>>,
) -> Option<BTreeMap<String, String>> {
    match (lo, hi) {
        (Some(mut lo), Some(hi)) => {
            lo.extend(hi);
            Some(lo)
        }
        (lo, hi) => hi.or(lo),
    }
}

impl Options {
    /// Whether this layer sets any of the execution options (shortcuts or scenarios).
    fn sets_execution(&self) -> bool {
        self.duration.is_some()
            || self.iterations.is_some()
            || self.stages.is_some()
            || self.scenarios.is_some()
    }

    /// This layer overridden by `higher`, field by field. As in k6, execution options set in
    /// `higher` replace every execution option of this layer; `env` maps are merged.
    pub fn overlay(mut self, higher: Options) -> Options {
        if higher.sets_execution() {
            self.duration = None;
            self.iterations = None;
            self.stages = None;
            self.scenarios = None;
        }
        let env = merge_maps(self.env.take(), higher.env);
        let summary = match (self.summary.take(), higher.summary) {
            (Some(lo), Some(hi)) => Some(SummaryOpt {
                trend_stats: hi.trend_stats.or(lo.trend_stats),
                export: hi.export.or(lo.export),
                disabled: hi.disabled.or(lo.disabled),
                mode: hi.mode.or(lo.mode),
                time_unit: hi.time_unit.or(lo.time_unit),
            }),
            (lo, hi) => hi.or(lo),
        };
        Options {
            metrics: merge_maps(self.metrics.take(), higher.metrics),
            plugin: higher.plugin.or(self.plugin),
            registries: higher.registries.or(self.registries),
            vus: higher.vus.or(self.vus),
            duration: higher.duration.or(self.duration),
            iterations: higher.iterations.or(self.iterations),
            stages: higher.stages.or(self.stages),
            scenarios: higher.scenarios.or(self.scenarios),
            thresholds: higher.thresholds.or(self.thresholds),
            env,
            no_thresholds: higher.no_thresholds.or(self.no_thresholds),
            tags: merge_maps(self.tags.take(), higher.tags),
            system_tags: higher.system_tags.or(self.system_tags),
            summary,
            sandbox: match (self.sandbox, higher.sandbox) {
                (Some(lo), Some(hi)) => Some(lo.overlay(hi)),
                (lo, hi) => hi.or(lo),
            },
            insecure_skip_tls_verify: higher
                .insecure_skip_tls_verify
                .or(self.insecure_skip_tls_verify),
            tls_ca_file: higher.tls_ca_file.or(self.tls_ca_file),
            tls_version: higher.tls_version.or(self.tls_version),
            h2c: higher.h2c.or(self.h2c),
            tls_auth: higher.tls_auth.or(self.tls_auth),
            user_agent: higher.user_agent.or(self.user_agent),
            max_redirects: higher.max_redirects.or(self.max_redirects),
            expected_statuses: higher.expected_statuses.or(self.expected_statuses),
            no_connection_reuse: higher.no_connection_reuse.or(self.no_connection_reuse),
            no_vu_connection_reuse: higher
                .no_vu_connection_reuse
                .or(self.no_vu_connection_reuse),
            hosts: merge_maps(self.hosts, higher.hosts),
            block_hostnames: higher.block_hostnames.or(self.block_hostnames),
            blacklist_ips: higher.blacklist_ips.or(self.blacklist_ips),
            dns: higher.dns.or(self.dns),
            local_ips: higher.local_ips.or(self.local_ips),
            discard_response_bodies: higher
                .discard_response_bodies
                .or(self.discard_response_bodies),
            max_response_body_mib: higher.max_response_body_mib.or(self.max_response_body_mib),
            http_debug: higher.http_debug.or(self.http_debug),
            setup_timeout: higher.setup_timeout.or(self.setup_timeout),
            teardown_timeout: higher.teardown_timeout.or(self.teardown_timeout),
            registry_max_download_mib: higher
                .registry_max_download_mib
                .or(self.registry_max_download_mib),
            no_setup: higher.no_setup.or(self.no_setup),
            no_teardown: higher.no_teardown.or(self.no_teardown),
            no_cookies_reset: higher.no_cookies_reset.or(self.no_cookies_reset),
            summary_trend_stats: higher.summary_trend_stats.or(self.summary_trend_stats),
            summary_time_unit: higher.summary_time_unit.or(self.summary_time_unit),
            paused: higher.paused.or(self.paused),
            rps: higher.rps.or(self.rps),
            handle_summary_timeout: higher
                .handle_summary_timeout
                .or(self.handle_summary_timeout),
            tls_cipher_suites: higher.tls_cipher_suites.or(self.tls_cipher_suites),
            cloud: higher.cloud.or(self.cloud),
            ext: higher.ext.or(self.ext),
            features: higher.features.or(self.features),
            metric_samples_buffer_size: higher
                .metric_samples_buffer_size
                .or(self.metric_samples_buffer_size),
            execution_segment: higher.execution_segment.or(self.execution_segment),
            execution_segment_sequence: higher
                .execution_segment_sequence
                .or(self.execution_segment_sequence),
            min_iteration_duration: higher
                .min_iteration_duration
                .or(self.min_iteration_duration),
            batch: higher.batch.or(self.batch),
            batch_per_host: higher.batch_per_host.or(self.batch_per_host),
            throw: higher.throw.or(self.throw),
        }
    }

    /// What a k6 script the user runs (their own code, as under k6) may set: every k6 option,
    /// and the keys that are dropped: only Volley's own `plugin`, `registries`, `sandbox` and
    /// `env`, which stay the test file's and the command line's.
    pub fn own_script_options(mut self) -> (Options, Vec<&'static str>) {
        let mut dropped = Vec::new();
        if self.plugin.take().is_some() {
            dropped.push("plugin");
        }
        if self.registries.take().is_some() {
            dropped.push("registries");
        }
        if self.sandbox.take().is_some() {
            dropped.push("sandbox");
        }
        if self.env.take().is_some() {
            dropped.push("env");
        }
        (self, dropped)
    }

    /// What a plugin's embedded options may suggest, and the keys it set that are dropped.
    ///
    /// A plugin may shape its own load as a k6 script author does in `export const options`:
    /// execution (vus, duration, iterations, stages, scenarios), thresholds, metric declarations,
    /// summary statistics and layout, tags, and HTTP behaviour toward hosts the user granted.
    /// Whatever changes where traffic goes, what is trusted, what is written, what the host
    /// spends, or whether thresholds count is the user's alone (test file, CLI). The destructuring
    /// is exhaustive, so a new option cannot be added without deciding which side it is on.
    pub fn plugin_suggestions(self) -> (Options, Vec<&'static str>) {
        let Options {
            plugin,
            registries,
            vus,
            duration,
            iterations,
            stages,
            scenarios,
            thresholds,
            env,
            metrics,
            tags,
            system_tags,
            no_thresholds,
            summary,
            sandbox,
            insecure_skip_tls_verify,
            tls_ca_file,
            tls_version,
            tls_auth,
            h2c,
            user_agent,
            max_redirects,
            expected_statuses,
            no_connection_reuse,
            no_vu_connection_reuse,
            hosts,
            block_hostnames,
            blacklist_ips,
            dns,
            local_ips,
            discard_response_bodies,
            max_response_body_mib,
            http_debug,
            setup_timeout,
            teardown_timeout,
            registry_max_download_mib,
            no_setup,
            no_teardown,
            no_cookies_reset,
            summary_trend_stats,
            summary_time_unit,
            paused,
            rps,
            handle_summary_timeout,
            tls_cipher_suites,
            cloud,
            ext,
            features,
            metric_samples_buffer_size,
            execution_segment,
            execution_segment_sequence,
            min_iteration_duration,
            batch,
            batch_per_host,
            throw,
        } = self;
        let mut dropped = Vec::new();
        let mut drop = |key: &'static str, set: bool| {
            if set {
                dropped.push(key);
            }
        };
        drop("plugin", plugin.is_some());
        drop("registries", registries.is_some());
        drop("env", env.is_some());
        drop("no-thresholds", no_thresholds.is_some());
        drop("sandbox", sandbox.is_some());
        drop(
            "insecure-skip-tls-verify",
            insecure_skip_tls_verify.is_some(),
        );
        drop("tls-ca-file", tls_ca_file.is_some());
        drop("tls-version", tls_version.is_some());
        drop("tls-auth", tls_auth.is_some());
        drop("hosts", hosts.is_some());
        drop("block-hostnames", block_hostnames.is_some());
        drop("blacklist-ips", blacklist_ips.is_some());
        drop("dns", dns.is_some());
        drop("local-ips", local_ips.is_some());
        drop("max-response-body-mib", max_response_body_mib.is_some());
        drop("http-debug", http_debug.is_some());
        drop("setup-timeout", setup_timeout.is_some());
        drop("teardown-timeout", teardown_timeout.is_some());
        drop("handle-summary-timeout", handle_summary_timeout.is_some());
        drop(
            "registry-max-download-mib",
            registry_max_download_mib.is_some(),
        );
        let summary = summary
            .map(|s| {
                drop("summary.export", s.export.is_some());
                drop("summary.disabled", s.disabled.is_some());
                SummaryOpt {
                    trend_stats: s.trend_stats,
                    mode: s.mode,
                    time_unit: s.time_unit,
                    export: None,
                    disabled: None,
                }
            })
            .filter(|s| *s != SummaryOpt::default());
        let kept = Options {
            vus,
            duration,
            iterations,
            stages,
            scenarios,
            thresholds,
            metrics,
            tags,
            system_tags,
            summary,
            h2c,
            user_agent,
            max_redirects,
            expected_statuses,
            no_connection_reuse,
            no_vu_connection_reuse,
            discard_response_bodies,
            no_setup,
            no_teardown,
            no_cookies_reset,
            summary_trend_stats,
            summary_time_unit,
            paused,
            rps,
            handle_summary_timeout,
            tls_cipher_suites,
            cloud,
            ext,
            features,
            metric_samples_buffer_size,
            execution_segment,
            execution_segment_sequence,
            min_iteration_duration,
            batch,
            batch_per_host,
            throw,
            ..Options::default()
        };
        (kept, dropped)
    }
}
