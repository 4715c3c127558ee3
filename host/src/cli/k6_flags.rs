//! `k6 run`'s flags that Volley's own flags do not already cover, so a k6 command line runs
//! unchanged: those Volley acts on become options, the rest are accepted and named in one
//! warning each. And k6's `K6_*` variables, which stand in for their `VOLLEY_*` twins.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Arg, Args, Command};

use crate::config::{DnsOpt, Options};
use crate::duration::{parse_duration, Dur};

/// The flags of `k6 run` beyond Volley's own.
#[derive(Debug, Clone, Default, Args)]
pub struct K6Flags {
    /// k6's JSON config file (camelCase k6 options, `linger`, `out`, ...); its options sit below
    /// the script's, as in k6.
    #[arg(
        short = 'c',
        long = "config",
        env = "VOLLEY_CONFIG",
        value_name = "FILE.json"
    )]
    pub config: Option<PathBuf>,
    /// Do not run `setup()` (iterations get no data).
    #[arg(long, env = "VOLLEY_NO_SETUP")]
    pub no_setup: bool,
    /// Do not run `teardown()`.
    #[arg(long, env = "VOLLEY_NO_TEARDOWN")]
    pub no_teardown: bool,
    /// Accept any TLS certificate.
    #[arg(long, env = "VOLLEY_INSECURE_SKIP_TLS_VERIFY")]
    pub insecure_skip_tls_verify: bool,
    /// Give a script the system environment in `__ENV` (default true, as `k6 run`); a component
    /// never sees it.
    #[arg(long, env = "VOLLEY_INCLUDE_SYSTEM_ENV_VARS", num_args = 0..=1,
          default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub include_system_env_vars: Option<bool>,
    /// After the test, keep running (and serving the control API) until Ctrl-C.
    #[arg(short = 'l', long, env = "VOLLEY_LINGER")]
    pub linger: bool,
    /// Redirects followed per request (default 10).
    #[arg(long, env = "VOLLEY_MAX_REDIRECTS")]
    pub max_redirects: Option<u32>,
    /// `User-Agent` of requests that set none.
    #[arg(long, env = "VOLLEY_USER_AGENT")]
    pub user_agent: Option<String>,
    /// Close every connection after its request.
    #[arg(long, env = "VOLLEY_NO_CONNECTION_REUSE")]
    pub no_connection_reuse: bool,
    /// Close a VU's connections between iterations.
    #[arg(long, env = "VOLLEY_NO_VU_CONNECTION_REUSE")]
    pub no_vu_connection_reuse: bool,
    /// Read but do not keep response bodies.
    #[arg(long, env = "VOLLEY_DISCARD_RESPONSE_BODIES")]
    pub discard_response_bodies: bool,
    /// An IP range (CIDR) never to connect to, repeatable.
    #[arg(long = "blacklist-ip", value_delimiter = ',', value_name = "CIDR")]
    pub blacklist_ips: Vec<String>,
    /// Host names never to connect to (`*.example.com`), repeatable.
    #[arg(long, env = "VOLLEY_BLOCK_HOSTNAMES", value_delimiter = ',')]
    pub block_hostnames: Vec<String>,
    /// Source addresses or CIDR ranges, one per VU in turn.
    #[arg(long, env = "VOLLEY_LOCAL_IPS", value_delimiter = ',')]
    pub local_ips: Vec<String>,
    /// DNS settings as k6 writes them: `ttl=5m,select=random,policy=preferIPv4`.
    #[arg(long, env = "VOLLEY_DNS", value_parser = parse_dns)]
    pub dns: Option<DnsOpt>,
    /// Shortest iteration: a VU whose iteration ended sooner waits out the rest.
    #[arg(long, env = "VOLLEY_MIN_ITERATION_DURATION", value_parser = parse_dur)]
    pub min_iteration_duration: Option<Dur>,
    /// Most requests of one `http.batch` sent at once (default 20).
    #[arg(long, env = "VOLLEY_BATCH")]
    pub batch: Option<u32>,
    /// Most requests of one `http.batch` sent at once to one host (default 6, 0: no limit).
    #[arg(long, env = "VOLLEY_BATCH_PER_HOST")]
    pub batch_per_host: Option<u32>,
    /// Most HTTP requests per second over the whole test (0: no cap).
    #[arg(long, env = "VOLLEY_RPS")]
    pub rps: Option<i64>,
    /// A request that fails without a response throws in the script.
    #[arg(short = 'w', long, env = "VOLLEY_THROW")]
    pub throw: bool,
    /// Start paused: VUs are initialised, then the test waits for `volley resume`.
    #[arg(short = 'p', long, env = "VOLLEY_PAUSED")]
    pub paused: bool,
    /// Write the script's console lines (guest logs) to FILE (appended) instead of the log.
    #[arg(long, env = "VOLLEY_CONSOLE_OUTPUT", value_name = "FILE")]
    pub console_output: Option<PathBuf>,
    /// Where the log goes: stderr (default), stdout, none, or file=PATH (appended).
    #[arg(long, env = "VOLLEY_LOG_OUTPUT")]
    pub log_output: Option<String>,
    /// How log lines are written: text (default), json (one object a line, as k6's) or raw.
    #[arg(long, alias = "logformat", env = "VOLLEY_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Accepted, not acted on.
    #[arg(long)]
    pub no_color: bool,
    /// Accepted, not acted on.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Accepted, not acted on (`extended` or `base`).
    #[arg(long)]
    pub compatibility_mode: Option<String>,
    /// `js` is what Volley runs; `archive` is refused.
    #[arg(short = 't', long = "type")]
    pub test_type: Option<String>,
    /// Accepted, not acted on unless `none`.
    #[arg(long)]
    pub traces_output: Option<String>,
    /// Accepted, not acted on.
    #[arg(long)]
    pub new_machine_readable_summary: bool,
    /// Accepted: Volley sends no usage report.
    #[arg(long)]
    pub no_usage_report: bool,
    /// Accepted, not acted on.
    #[arg(long)]
    pub features: Vec<String>,
    /// Accepted, not acted on.
    #[arg(long)]
    pub secret_source: Vec<String>,
    /// Accepted, not acted on.
    #[arg(long)]
    pub profiling_enabled: bool,
}

impl K6Flags {
    /// These flags as options, laid over `opts` (the rest of the command line's layer).
    pub fn apply(&self, mut opts: Options) -> Options {
        let set = |b: bool| b.then_some(true);
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        opts.no_setup = set(self.no_setup).or(opts.no_setup);
        opts.no_teardown = set(self.no_teardown).or(opts.no_teardown);
        opts.insecure_skip_tls_verify =
            set(self.insecure_skip_tls_verify).or(opts.insecure_skip_tls_verify);
        opts.max_redirects = self.max_redirects.or(opts.max_redirects);
        opts.user_agent = self.user_agent.clone().or(opts.user_agent);
        opts.no_connection_reuse = set(self.no_connection_reuse).or(opts.no_connection_reuse);
        opts.no_vu_connection_reuse =
            set(self.no_vu_connection_reuse).or(opts.no_vu_connection_reuse);
        opts.discard_response_bodies =
            set(self.discard_response_bodies).or(opts.discard_response_bodies);
        opts.blacklist_ips = list(&self.blacklist_ips).or(opts.blacklist_ips);
        opts.block_hostnames = list(&self.block_hostnames).or(opts.block_hostnames);
        opts.local_ips = list(&self.local_ips).or(opts.local_ips);
        opts.dns = self.dns.clone().or(opts.dns);
        opts.min_iteration_duration = self.min_iteration_duration.or(opts.min_iteration_duration);
        opts.batch = self.batch.or(opts.batch);
        opts.batch_per_host = self.batch_per_host.or(opts.batch_per_host);
        opts.rps = self.rps.or(opts.rps);
        opts.throw = set(self.throw).or(opts.throw);
        opts.paused = set(self.paused).or(opts.paused);
        opts
    }

    /// Sends the log where `--log-output`, `--log-format` and `--console-output` say.
    pub fn configure_logging(&self) -> Result<(), crate::logging::LogSetupError> {
        crate::logging::configure(
            self.log_output.as_deref(),
            self.log_format.as_deref(),
            self.console_output.as_deref(),
        )
    }

    /// The flags given that Volley does not act on (beyond those that are options), each with
    /// why; an error for a value Volley cannot take.
    pub fn ignored(&self) -> Result<Vec<(&'static str, &'static str)>, String> {
        if let Some(t) = self.test_type.as_deref().filter(|t| *t != "js") {
            return Err(format!(
                "--type {t}: Volley runs k6 scripts (js), not k6 archives"
            ));
        }
        let table = [
            (
                "--no-color",
                self.no_color,
                "colour is used only on a terminal",
            ),
            ("--verbose", self.verbose, "there is no debug log level"),
            (
                "--compatibility-mode",
                self.compatibility_mode.is_some(),
                "scripts are bundled as ES modules",
            ),
            (
                "--traces-output",
                self.traces_output.as_deref().is_some_and(|o| o != "none"),
                "traces are not exported",
            ),
            (
                "--new-machine-readable-summary",
                self.new_machine_readable_summary,
                "--summary-export writes Volley's JSON summary",
            ),
            (
                "--features",
                !self.features.is_empty(),
                "k6 feature flags do not apply",
            ),
            (
                "--secret-source",
                !self.secret_source.is_empty(),
                "secret sources are not supported",
            ),
            (
                "--profiling-enabled",
                self.profiling_enabled,
                "there are no pprof endpoints",
            ),
        ];
        Ok(table
            .into_iter()
            .filter(|(_, given, _)| *given)
            .map(|(flag, _, why)| (flag, why))
            .collect())
    }
}

fn parse_dur(s: &str) -> Result<Dur, String> {
    parse_duration(s).map(Dur).map_err(|e| e.to_string())
}

/// k6's `--dns ttl=5m,select=random,policy=preferIPv4` (`ttl=inf` keeps lookups for the run).
fn parse_dns(s: &str) -> Result<DnsOpt, String> {
    let mut dns = DnsOpt::default();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("--dns {s:?}: expected ttl=..,select=..,policy=.."))?;
        match key {
            "ttl" if value == "inf" => dns.ttl = Some(Dur(crate::duration::MAX_DURATION)),
            "ttl" => dns.ttl = Some(parse_dur(value)?),
            "select" => dns.select = Some(value.to_string()),
            "policy" => dns.policy = Some(value.to_string()),
            other => {
                return Err(format!(
                    "--dns: unknown key '{other}' (ttl, select, policy)"
                ))
            }
        }
    }
    Ok(dns)
}

/// `cmd` with each `run`/`inspect` flag that reads `VOLLEY_X` reading k6's `K6_X` instead when
/// only that one is set (`is_set` says whether a variable is set).
pub fn with_k6_env(cmd: Command, is_set: &dyn Fn(&str) -> bool) -> Command {
    let alias = |arg: Arg| {
        let Some(volley) = arg.get_env().and_then(|e| e.to_str()).map(str::to_owned) else {
            return arg;
        };
        let Some(rest) = volley.strip_prefix("VOLLEY_") else {
            return arg;
        };
        let k6 = format!("K6_{rest}");
        if !is_set(&volley) && is_set(&k6) {
            arg.env(k6)
        } else {
            arg
        }
    };
    cmd.mut_subcommand("run", |c| c.mut_args(alias))
        .mut_subcommand("inspect", |c| c.mut_args(alias))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command as Sub};
    use clap::{CommandFactory, FromArgMatches, Parser};

    fn parse_with(env: &[(&str, &str)], args: &[&str]) -> crate::cli::RunArgs {
        let cmd = with_k6_env(Cli::command(), &|n| env.iter().any(|(k, _)| *k == n));
        // clap reads the real environment: give it the values through the renamed args only.
        let cmd = cmd.mut_subcommand("run", |c| {
            c.mut_args(|a| {
                let value = a
                    .get_env()
                    .and_then(|e| e.to_str())
                    .and_then(|e| env.iter().find(|(k, _)| *k == e))
                    .map(|(_, v)| v.to_string());
                match value {
                    Some(v) => a.default_value(v),
                    None => a,
                }
            })
        });
        let m = cmd.try_get_matches_from(args).unwrap();
        match Cli::from_arg_matches(&m).unwrap().command {
            Sub::Run(a) => a,
            _ => panic!("not run"),
        }
    }

    #[test]
    fn a_k6_variable_stands_in_for_its_volley_twin() {
        let a = parse_with(&[("K6_VUS", "7")], &["volley", "run"]);
        assert_eq!(a.vus, Some(7));
        let a = parse_with(&[("K6_VUS", "7"), ("VOLLEY_VUS", "3")], &["volley", "run"]);
        assert_eq!(a.vus, Some(3), "VOLLEY_VUS wins");
        let a = parse_with(&[("K6_NO_SETUP", "true")], &["volley", "run"]);
        assert!(a.k6.no_setup);
        let a = parse_with(
            &[
                ("K6_BATCH", "3"),
                ("K6_BATCH_PER_HOST", "0"),
                ("K6_RPS", "50"),
                ("K6_THROW", "true"),
            ],
            &["volley", "run"],
        );
        let o = a.options();
        assert_eq!(
            (o.batch, o.batch_per_host, o.rps),
            (Some(3), Some(0), Some(50))
        );
        assert_eq!(o.throw, Some(true));
    }

    #[test]
    fn k6_run_flags_are_accepted() {
        let cli = Cli::try_parse_from([
            "volley",
            "run",
            "s.js",
            "-c",
            "c.json",
            "--no-setup",
            "--no-teardown",
            "--insecure-skip-tls-verify",
            "--include-system-env-vars=false",
            "-l",
            "-w",
            "-p",
            "--batch",
            "20",
            "--batch-per-host",
            "6",
            "--rps",
            "5",
            "--min-iteration-duration",
            "1s",
            "--console-output",
            "c.log",
            "--log-output",
            "stderr",
            "--log-format",
            "json",
            "--no-color",
            "-v",
            "--compatibility-mode",
            "base",
            "-t",
            "js",
            "--traces-output",
            "none",
            "--no-usage-report",
            "--max-redirects",
            "2",
            "--user-agent",
            "ua",
            "--no-connection-reuse",
            "--no-vu-connection-reuse",
            "--discard-response-bodies",
            "--blacklist-ip",
            "10.0.0.0/8",
            "--block-hostnames",
            "*.x.test",
            "--local-ips",
            "127.0.0.1",
            "--dns",
            "ttl=inf,select=first,policy=onlyIPv4",
        ])
        .unwrap();
        let Sub::Run(args) = cli.command else {
            panic!("not run")
        };
        let k6 = &args.k6;
        assert_eq!(k6.include_system_env_vars, Some(false));
        let o = args.options();
        assert_eq!((o.no_setup, o.no_teardown), (Some(true), Some(true)));
        assert_eq!(o.insecure_skip_tls_verify, Some(true));
        assert_eq!(o.max_redirects, Some(2));
        assert_eq!(
            o.dns.as_ref().and_then(|d| d.select.as_deref()),
            Some("first")
        );
        assert_eq!(
            (o.batch, o.batch_per_host, o.rps),
            (Some(20), Some(6), Some(5))
        );
        assert!(o.throw == Some(true) && o.paused.is_some());
        let ignored: Vec<&str> = k6.ignored().unwrap().into_iter().map(|(f, _)| f).collect();
        assert_eq!(ignored, ["--no-color", "--verbose", "--compatibility-mode"]);
        let archive = K6Flags {
            test_type: Some("archive".into()),
            ..K6Flags::default()
        };
        assert!(archive.ignored().unwrap_err().contains("k6 archives"));
        assert!(parse_dns("ttl=1m,bad=1").is_err());
    }
}
