//! What k6 accepts and Volley takes as it is: k6's JSON config file (`-c/--config`), the k6 options
//! Volley accepts without acting on them (named in one warning each, never refused), and k6's
//! top-level spellings of options Volley keeps elsewhere (`summaryTrendStats`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, Options, SummaryOpt};

/// A k6 option's value, accepted and not acted on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Inert;

impl<'de> Deserialize<'de> for Inert {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Inert)
    }
}

/// The k6 options the layers set that Volley does not act on, each with why.
pub fn inert(opts: &Options) -> Vec<(&'static str, &'static str)> {
    let table: [(&str, bool, &str); 4] = [
        (
            "cloud",
            opts.cloud.is_some(),
            "Grafana Cloud settings do not apply to a local run",
        ),
        (
            "ext",
            opts.ext.is_some(),
            "k6 extension and cloud settings do not apply",
        ),
        (
            "features",
            opts.features.is_some(),
            "k6 feature flags do not apply",
        ),
        (
            "metricSamplesBufferSize",
            opts.metric_samples_buffer_size.is_some(),
            "samples are merged from per-VU sinks, with no buffer to size",
        ),
    ];
    table
        .into_iter()
        .filter(|(_, set, _)| *set)
        .map(|(key, _, why)| (key, why))
        .collect()
}

/// Warnings for k6 options Volley acts on with a lower value than asked: `batch` and
/// `batchPerHost` above [`crate::limits::MAX_BATCH_PARALLEL`].
pub fn lowered(opts: &Options) -> Vec<String> {
    let most = crate::limits::MAX_BATCH_PARALLEL;
    let batch = [("batch", opts.batch), ("batchPerHost", opts.batch_per_host)]
        .into_iter()
        .filter_map(|(key, v)| {
            v.filter(|v| *v > most).map(|v| {
                format!("k6 option '{key}' is {v}: at most {most} requests of one http.batch are sent at once")
            })
        });
    let suites = opts
        .tls_cipher_suites
        .iter()
        .flatten()
        .filter(|name| crate::transport::tls::k6_suite(name) == Some(false))
        .map(|name| {
            format!("k6 option 'tlsCipherSuites': {name} is not offered (the TLS library does not implement it)")
        });
    batch.chain(suites).collect()
}

/// k6's top-level `summaryTrendStats` and `summaryTimeUnit` moved into `summary`, where the
/// rest of Volley reads them (a `summary` table of the same layer wins).
pub fn fold_summary(mut opts: Options) -> Options {
    let (stats, unit) = (
        opts.summary_trend_stats.take(),
        opts.summary_time_unit.take(),
    );
    if stats.is_none() && unit.is_none() {
        return opts;
    }
    let mut summary = opts.summary.take().unwrap_or_default();
    summary.trend_stats = summary.trend_stats.or(stats);
    summary.time_unit = summary.time_unit.or(unit);
    opts.summary = (summary != SummaryOpt::default()).then_some(summary);
    opts
}

/// Keys of k6's JSON config file beyond its options.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ConfigFileExtras {
    /// `linger`: keep running after the test until Ctrl-C.
    pub linger: Option<bool>,
    /// Keys accepted and not acted on (`out`, `collectors`, `webDashboard`, ...), with why.
    pub inert: Vec<(String, &'static str)>,
}

/// Reads k6's JSON config file (`k6 run -c config.json`): k6's options in camelCase, plus
/// `out`, `linger`, `noUsageReport`, `webDashboard`, `noArchiveUpload`, `collectors`.
/// Relative paths in it are relative to the file, as in a test file.
pub fn read_config_file(path: &Path) -> Result<(Options, ConfigFileExtras), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = path.display().to_string();
    let toml_err = |message: String| ConfigError::Toml {
        origin: origin.clone(),
        message,
    };
    let mut doc: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| toml_err(format!("not a JSON object: {e}")))?;
    // k6 writes unset options as null.
    doc.retain(|_, v| !v.is_null());
    let mut extras = ConfigFileExtras::default();
    if let Some(v) = doc.remove("linger") {
        extras.linger = Some(
            v.as_bool()
                .ok_or_else(|| toml_err("linger: expected true or false".into()))?,
        );
    }
    for (key, why) in [
        ("out", "give outputs with -o/--out"),
        ("collectors", "give outputs with -o/--out"),
        ("noUsageReport", "Volley sends no usage report"),
        (
            "webDashboard",
            "k6's web dashboard does not apply; see --report",
        ),
        ("noArchiveUpload", "cloud settings do not apply"),
    ] {
        if doc.remove(key).is_some() {
            extras.inert.push((key.to_string(), why));
        }
    }
    let value = serde_json::Value::Object(doc.into_iter().collect());
    let opts: Options = serde_json::from_value(value).map_err(|e| toml_err(e.to_string()))?;
    Ok((fold_summary(relative_to(opts, path)), extras))
}

/// File paths in `opts` resolved against the directory of `file`.
fn relative_to(mut opts: Options, file: &Path) -> Options {
    let dir = file.parent().unwrap_or(Path::new("."));
    let rebase = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = dir.join(&*p);
        }
    };
    if let Some(ca) = opts.tls_ca_file.as_mut() {
        rebase(ca);
    }
    for auth in opts.tls_auth.iter_mut().flatten() {
        rebase(&mut auth.cert);
        rebase(&mut auth.key);
    }
    opts
}

/// The system environment as k6 passes it to `__ENV` (`--include-system-env-vars`): the
/// variables whose names k6 accepts (`[A-Za-z_][A-Za-z0-9_]*`) and whose values are UTF-8.
pub fn system_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| is_env_name(k))
        .collect()
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_options, TestConfig};

    #[test]
    fn every_k6_option_parses_and_the_inert_ones_are_named() {
        // Every key of k6's lib.Options a script may export, in k6's spelling.
        let text = r#"
            paused = true
            vus = 2
            duration = "1d2h"
            noSetup = true
            setupTimeout = "5s"
            noTeardown = true
            teardownTimeout = "5s"
            handleSummaryTimeout = "1m"
            rps = 10
            dns = { ttl = "1m", select = "first", policy = "preferIPv4" }
            maxRedirects = 3
            userAgent = "ua"
            batch = 20
            batchPerHost = 6
            httpDebug = "full"
            insecureSkipTLSVerify = true
            tlsCipherSuites = ["TLS_AES_128_GCM_SHA256"]
            tlsVersion = { min = "tls1.2", max = "tls1.3" }
            throw = true
            thresholds = { http_req_duration = ["p(95)<500"] }
            blacklistIPs = ["10.0.0.0/8"]
            blockHostnames = ["*.example.com"]
            hosts = { "a.test" = "127.0.0.1" }
            noConnectionReuse = false
            noVUConnectionReuse = false
            minIterationDuration = "1s"
            cloud = { projectID = 1 }
            ext = { loadimpact = { name = "x" } }
            summaryTrendStats = ["avg", "p(99)"]
            summaryTimeUnit = "ms"
            systemTags = ["status", "method"]
            tags = { team = "a" }
            metricSamplesBufferSize = 1000
            noCookiesReset = true
            discardResponseBodies = true
            features = []
            executionSegment = "0:1"
            executionSegmentSequence = "0,1"
        "#;
        let opts = parse_options(text, "k6 options").unwrap();
        let t = TestConfig::resolve(&opts).unwrap();
        assert_eq!(t.summary.trend_stats, ["avg", "p(99)"]);
        assert_eq!(t.summary.time_unit.as_deref(), Some("ms"));
        assert_eq!(
            t.max_duration().as_secs(),
            26 * 3600 + 30,
            "1d2h plus the graceful stop"
        );
        assert!(t.no_setup && t.no_teardown && t.paused);
        assert!(t.http.no_cookies_reset);
        assert_eq!(t.handle_summary_timeout.as_secs(), 60);
        let named: Vec<&str> = inert(&opts).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            named,
            ["cloud", "ext", "features", "metricSamplesBufferSize"]
        );
    }

    #[test]
    fn a_summary_table_of_the_same_layer_wins_over_the_top_level_spelling() {
        let opts = parse_options(
            "summaryTrendStats = [\"avg\"]\n[summary]\ntrend-stats = [\"max\"]\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            TestConfig::resolve(&opts).unwrap().summary.trend_stats,
            ["max"]
        );
    }

    #[test]
    fn k6s_json_config_file_is_read_with_its_extras() {
        let dir = std::env::temp_dir().join(format!("volley-k6-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(
            &path,
            r#"{"vus": 3, "duration": "10s", "linger": true, "out": ["json=x.json"],
                "summaryTrendStats": ["avg"], "insecureSkipTLSVerify": true,
                "tlsAuth": null, "noUsageReport": true, "userAgent": null}"#,
        )
        .unwrap();
        let (opts, extras) = read_config_file(&path).unwrap();
        assert_eq!(opts.vus, Some(3));
        assert_eq!(opts.insecure_skip_tls_verify, Some(true));
        assert_eq!(extras.linger, Some(true));
        let inert: Vec<&str> = extras.inert.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(inert, ["out", "noUsageReport"]);
        assert_eq!(
            opts.summary.unwrap().trend_stats.unwrap(),
            ["avg"],
            "top-level summaryTrendStats folded"
        );
        std::fs::write(&path, r#"{"vus": 3, "notAnOption": 1}"#).unwrap();
        let e = read_config_file(&path).unwrap_err().to_string();
        assert!(e.contains("notAnOption"), "{e}");
        std::fs::write(&path, "[1]").unwrap();
        let e = read_config_file(&path).unwrap_err().to_string();
        assert!(e.contains("not a JSON object"), "{e}");
    }

    #[test]
    fn only_names_k6_accepts_reach_env() {
        assert!(is_env_name("BASE_URL") && is_env_name("_x1"));
        assert!(!is_env_name("1X") && !is_env_name("A-B") && !is_env_name(""));
    }
}
