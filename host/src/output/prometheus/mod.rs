//! `--out prometheus-rw=URL`: Prometheus remote write, as k6's `experimental-prometheus-rw` output
//! does it with `K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM=true`.
//!
//! A writer thread keeps one cumulative series per metric and tag set, and every push interval
//! (`VOLLEY_PROMETHEUS_RW_PUSH_INTERVAL`, default 5s) sends all of them, then once more when the
//! run ends, so the last point holds the run's exact totals. Names follow k6's, so k6's Grafana
//! dashboard for native histograms works unchanged, as does `dashboards/volley-prometheus.json`
//! (both tested in `tests/e2e/grafana.rs`) (prefix `VOLLEY_PROMETHEUS_RW_PREFIX`, default `k6_`):
//!
//! | metric type | series | value |
//! |---|---|---|
//! | counter | `k6_<name>_total` | running sum |
//! | gauge | `k6_<name>` | last value |
//! | rate | `k6_<name>_rate` | share of non-zero samples |
//! | trend | `k6_<name>_seconds` (time) or `k6_<name>` | native histogram; times in seconds |
//!
//! Tags become labels (names sanitised to Prometheus's alphabet; empty values dropped). A failed
//! push is logged and the next one carries everything, since every series is cumulative.

pub mod wire;

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::duration::parse_duration;
use crate::logging::{self, Level};
use crate::metrics::{Contains, MetricId, MetricKind, Registry, Sample, TagSet, TagSetId, Tags};
use wire::{Label, NativeHistogram, Point, Series};

/// Where and how often to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The receiver, e.g. `http://127.0.0.1:9090/api/v1/write`.
    pub url: String,
    /// Time between pushes.
    pub push_interval: Duration,
    /// Prefix of every series name.
    pub prefix: String,
}

impl Settings {
    /// Settings for `url`, with the interval and prefix from the environment.
    pub fn new(url: &str) -> Result<Settings, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "invalid output prometheus-rw={url:?}: expected an http(s) URL such as \
                 http://127.0.0.1:9090/api/v1/write"
            ));
        }
        let push_interval = match std::env::var("VOLLEY_PROMETHEUS_RW_PUSH_INTERVAL") {
            Ok(v) => match parse_duration(&v) {
                Ok(d) if !d.is_zero() => d,
                _ => {
                    return Err(format!(
                        "VOLLEY_PROMETHEUS_RW_PUSH_INTERVAL={v:?}: expected a duration above 0 such as 5s"
                    ))
                }
            },
            Err(_) => Duration::from_secs(5),
        };
        let prefix = std::env::var("VOLLEY_PROMETHEUS_RW_PREFIX").unwrap_or_else(|_| "k6_".into());
        Ok(Settings {
            url: url.to_string(),
            push_interval,
            prefix,
        })
    }
}

/// A series' running state.
enum State {
    Counter(f64),
    Gauge(f64),
    Rate { nonzero: u64, total: u64 },
    Trend(NativeHistogram),
}

/// Every series the run has produced, and the client that pushes them.
struct Writer {
    settings: Settings,
    tags: Tags,
    metrics: Registry,
    sets: Vec<TagSet>,
    series: HashMap<(MetricId, TagSetId), (Vec<Label>, State)>,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

/// Runs the writer until `rx` closes; returns how many pushes succeeded.
pub fn run(
    rx: mpsc::Receiver<Arc<Vec<Sample>>>,
    settings: Settings,
    tags: Tags,
    metrics: Registry,
) -> Result<u64, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("prometheus-rw: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("prometheus-rw: {e}"))?;
    let mut w = Writer {
        settings,
        tags,
        metrics,
        sets: Vec::new(),
        series: HashMap::new(),
        client,
        runtime,
    };
    let mut pushed = 0;
    let mut next = Instant::now() + w.settings.push_interval;
    loop {
        match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(batch) => w.ingest(&batch),
            Err(RecvTimeoutError::Timeout) => {
                match w.push() {
                    Ok(()) => pushed += 1,
                    Err(e) => logging::host(Level::Warn, &e),
                }
                next = Instant::now() + w.settings.push_interval;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    w.push()?;
    Ok(pushed + 1)
}

impl Writer {
    fn ingest(&mut self, batch: &[Sample]) {
        for s in batch {
            if s.tags.0 as usize >= self.sets.len() {
                self.sets = self.tags.all();
            }
            let def = self.metrics.def(s.metric);
            let (_, state) = self.series.entry((s.metric, s.tags)).or_insert_with(|| {
                let labels = labels(
                    &series_name(&self.settings.prefix, def.name, def.kind, def.contains),
                    &self.sets[s.tags.0 as usize],
                );
                let state = match def.kind {
                    MetricKind::Counter => State::Counter(0.0),
                    MetricKind::Gauge => State::Gauge(0.0),
                    MetricKind::Rate => State::Rate {
                        nonzero: 0,
                        total: 0,
                    },
                    MetricKind::Trend => State::Trend(NativeHistogram::default()),
                };
                (labels, state)
            });
            match state {
                State::Counter(sum) => *sum += s.value,
                State::Gauge(last) => *last = s.value,
                State::Rate { nonzero, total } => {
                    *total += 1;
                    *nonzero += u64::from(s.value != 0.0);
                }
                State::Trend(h) if def.contains == Contains::Time => h.observe(s.value / 1000.0),
                State::Trend(h) => h.observe(s.value),
            }
        }
    }

    fn snapshot(&self) -> Vec<Series> {
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.series
            .values()
            .map(|(labels, state)| Series {
                labels: labels.clone(),
                point: match state {
                    State::Counter(v) | State::Gauge(v) => Point::Float(*v),
                    State::Rate { nonzero, total } => {
                        Point::Float(*nonzero as f64 / (*total).max(1) as f64)
                    }
                    State::Trend(h) => Point::Histogram(h.clone()),
                },
                timestamp_ms,
            })
            .collect()
    }

    fn push(&self) -> Result<(), String> {
        let url = &self.settings.url;
        let body = wire::compress(&wire::write_request(self.snapshot()))
            .map_err(|e| format!("prometheus-rw: cannot compress the request: {e}"))?;
        let request = self
            .client
            .post(url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("User-Agent", concat!("volley/", env!("CARGO_PKG_VERSION")))
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body);
        self.runtime.block_on(async {
            let response = request
                .send()
                .await
                .map_err(|e| format!("prometheus-rw: push to {url} failed: {e}"))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let text = response.text().await.unwrap_or_default();
            Err(format!(
                "prometheus-rw: {url} answered {status}: {}",
                text.trim()
            ))
        })
    }
}

/// The series name for a metric, e.g. `k6_http_req_duration_seconds`.
fn series_name(prefix: &str, name: &str, kind: MetricKind, contains: Contains) -> String {
    let suffix = match (kind, contains) {
        (MetricKind::Counter, _) => "_total",
        (MetricKind::Rate, _) => "_rate",
        (MetricKind::Trend, Contains::Time) => "_seconds",
        _ => "",
    };
    sanitize(&format!("{prefix}{name}{suffix}"))
}

/// Sorted labels with `__name__`; later duplicates (after sanitising) and empty values dropped.
fn labels(name: &str, tags: &[(String, String)]) -> Vec<Label> {
    let mut out: Vec<Label> = vec![("__name__".into(), name.to_string())];
    for (k, v) in tags {
        let k = sanitize(k);
        if !v.is_empty() && !out.iter().any(|(n, _)| *n == k) {
            out.push((k, v.clone()));
        }
    }
    out.sort();
    out
}

/// Replaces characters outside `[a-zA-Z0-9_]` with `_` and prefixes a leading digit.
fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) || s.is_empty() {
        s.insert(0, '_');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_k6() {
        let n = |name, kind, contains| series_name("k6_", name, kind, contains);
        assert_eq!(
            n("http_reqs", MetricKind::Counter, Contains::Default),
            "k6_http_reqs_total"
        );
        assert_eq!(
            n("http_req_duration", MetricKind::Trend, Contains::Time),
            "k6_http_req_duration_seconds"
        );
        assert_eq!(
            n("checks", MetricKind::Rate, Contains::Default),
            "k6_checks_rate"
        );
        assert_eq!(n("vus", MetricKind::Gauge, Contains::Default), "k6_vus");
        assert_eq!(
            n("cart.size", MetricKind::Trend, Contains::Default),
            "k6_cart_size"
        );
    }

    #[test]
    fn labels_are_sorted_sanitised_and_unique() {
        let tags = vec![
            ("status".to_string(), "200".to_string()),
            ("my-tag".to_string(), "x".to_string()),
            ("my_tag".to_string(), "y".to_string()),
            ("error".to_string(), String::new()),
        ];
        assert_eq!(
            labels("k6_http_reqs_total", &tags),
            vec![
                ("__name__".to_string(), "k6_http_reqs_total".to_string()),
                ("my_tag".to_string(), "x".to_string()),
                ("status".to_string(), "200".to_string()),
            ]
        );
        assert_eq!(sanitize("1st"), "_1st");
    }

    #[test]
    fn rejects_urls_that_are_not_http() {
        assert!(Settings::new("127.0.0.1:9090")
            .unwrap_err()
            .contains("http(s) URL"));
        assert_eq!(
            Settings::new("http://127.0.0.1:9090/api/v1/write")
                .unwrap()
                .url,
            "http://127.0.0.1:9090/api/v1/write"
        );
    }
}
