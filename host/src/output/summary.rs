//! The end-of-test text summary in k6 v1's compact layout: THRESHOLDS, then TOTAL RESULTS with
//! checks and the CUSTOM, HTTP, EXECUTION, NETWORK, GRPC and WEBSOCKET sections.

use std::fmt::Write;

use super::format;
use super::{MetricResult, Results};
use crate::metrics::MetricValue;

/// Width of a metric row's name column, dots included (k6's compact layout).
const NAME_WIDTH: usize = 72;
/// Width of a checks row's name column.
const CHECK_WIDTH: usize = 35;

const HTTP: &[&str] = &["http_req_duration", "http_req_failed", "http_reqs"];
const EXECUTION: &[&str] = &[
    "dropped_iterations",
    "group_duration",
    "iteration_duration",
    "iteration_duration_intended",
    "iteration_lateness",
    "iterations",
    "vus",
    "vus_max",
];
const NETWORK: &[&str] = &["data_received", "data_sent"];
const GRPC: &[&str] = &[
    "grpc_req_duration",
    "grpc_streams",
    "grpc_streams_msgs_received",
    "grpc_streams_msgs_sent",
];
const WEBSOCKET: &[&str] = &[
    "ws_connecting",
    "ws_msgs_received",
    "ws_msgs_sent",
    "ws_ping",
    "ws_session_duration",
    "ws_sessions",
];

/// Renders the summary.
pub fn render(r: &Results) -> String {
    let mut out = String::new();
    if !r.thresholds.is_empty() {
        render_thresholds(r, &mut out);
    }
    out.push_str("\n  █ TOTAL RESULTS \n\n");
    render_checks(r, &mut out);
    render_sections(&r.metrics, r, &mut out);
    for (name, metrics) in &r.per_group {
        let _ = writeln!(out, "\n  █ GROUP: {name}\n");
        render_sections(metrics, r, &mut out);
    }
    for (name, metrics) in &r.per_scenario {
        let _ = writeln!(out, "\n  █ SCENARIO: {name}\n");
        render_sections(metrics, r, &mut out);
    }
    out
}

fn render_sections(metrics: &[MetricResult], r: &Results, out: &mut String) {
    // As k6, every column of the block lines up: each trend stat is padded to its widest value,
    // and so are the value and each extra column of the other metrics.
    let shown: Vec<&MetricResult> = metrics
        .iter()
        .filter(|m| section_of(&m.selector.metric, r.full).is_some())
        .collect();
    let mut widths = Widths::default();
    for m in &shown {
        widths.fit(&cells(m, r));
    }
    // k6 v1 puts custom metrics first, then its built-in groups in this order.
    for title in [
        "CUSTOM",
        "HTTP",
        "EXECUTION",
        "NETWORK",
        "GRPC",
        "WEBSOCKET",
    ] {
        let rows: Vec<&MetricResult> = metrics
            .iter()
            .filter(|m| section_of(&m.selector.metric, r.full) == Some(title))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "    {title}");
        for m in rows {
            let label = if m.selector.tags.is_empty() {
                m.selector.metric.clone()
            } else {
                let inner: Vec<String> = m
                    .selector
                    .tags
                    .iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect();
                format!("  {{ {} }}", inner.join(", "))
            };
            let row = widths.render(&cells(m, r));
            let _ = writeln!(out, "    {}: {row}", dots(&label, NAME_WIDTH));
        }
        out.push('\n');
    }
}

fn render_thresholds(r: &Results, out: &mut String) {
    out.push_str("\n  █ THRESHOLDS \n\n");
    let mut last_metric = String::new();
    let mut last_tags = String::new();
    for t in &r.thresholds {
        if t.selector.metric != last_metric {
            let _ = writeln!(out, "    {}", t.selector.metric);
            last_metric = t.selector.metric.clone();
            last_tags.clear();
        }
        let tags = t.selector.tags_label();
        let indent = if tags.is_empty() { "    " } else { "      " };
        if tags != last_tags && !tags.is_empty() {
            let _ = writeln!(out, "\n      {tags}");
        }
        last_tags = tags;
        let (kind, contains) = (t.def.kind, t.def.contains);
        let _ = writeln!(
            out,
            "{indent}{} '{}' {}",
            if t.passed { "✓" } else { "✗" },
            t.source,
            format::threshold_value(t.aggregation, t.value, kind, contains)
        );
        out.push('\n');
    }
}

fn render_checks(r: &Results, out: &mut String) {
    if r.checks.is_empty() {
        return;
    }
    let passes: u64 = r.checks.iter().map(|c| c.passes).sum();
    let fails: u64 = r.checks.iter().map(|c| c.fails).sum();
    let total = passes + fails;
    let secs = r.duration.as_secs_f64().max(f64::EPSILON);
    let _ = writeln!(
        out,
        "    {}: {:<7} {:.6}/s",
        dots("checks_total", CHECK_WIDTH),
        total,
        total as f64 / secs
    );
    let _ = writeln!(
        out,
        "    {}: {:<7} {passes} out of {total}",
        dots("checks_succeeded", CHECK_WIDTH),
        format::percent(passes, total)
    );
    let _ = writeln!(
        out,
        "    {}: {:<7} {fails} out of {total}",
        dots("checks_failed", CHECK_WIDTH),
        format::percent(fails, total)
    );
    out.push('\n');
    for c in &r.checks {
        if c.fails == 0 {
            let _ = writeln!(out, "    ✓ {}", c.name);
        } else {
            let _ = writeln!(out, "    ✗ {}", c.name);
            let _ = writeln!(
                out,
                "      ↳  {}% — ✓ {} / ✗ {}",
                (c.passes * 100) / (c.passes + c.fails),
                c.passes,
                c.fails
            );
        }
    }
    out.push('\n');
}

/// The summary section a metric belongs in (`None`: not shown in compact mode).
fn section_of(metric: &str, full: bool) -> Option<&'static str> {
    if HTTP.contains(&metric) || (full && metric.starts_with("http_req_")) {
        Some("HTTP")
    } else if EXECUTION.contains(&metric) {
        Some("EXECUTION")
    } else if NETWORK.contains(&metric) {
        Some("NETWORK")
    } else if GRPC.contains(&metric) {
        Some("GRPC")
    } else if WEBSOCKET.contains(&metric) {
        Some("WEBSOCKET")
    } else if crate::metrics::BUILTINS.iter().all(|d| d.name != metric) {
        Some("CUSTOM")
    } else {
        None
    }
}

/// A metric row's values before padding: trend stats as (stat, value), or another metric's
/// value with its extra columns (a rate per second, "N out of M", min= and max=).
enum Cells {
    Trend(Vec<(String, String)>),
    Plain(String, Vec<String>),
}

fn cells(m: &MetricResult, r: &Results) -> Cells {
    let secs = r.duration.as_secs_f64().max(f64::EPSILON);
    match &m.value {
        MetricValue::Counter { sum } => {
            let rate = match m.def.contains {
                crate::metrics::Contains::Data => format!("{}/s", format::data(sum / secs)),
                _ => format!("{:.6}/s", sum / secs),
            };
            Cells::Plain(format::value(*sum, m.def.contains), vec![rate])
        }
        MetricValue::Gauge { last, min, max } => Cells::Plain(
            format::value(*last, m.def.contains),
            vec![
                format!("min={}", format::value(*min, m.def.contains)),
                format!("max={}", format::value(*max, m.def.contains)),
            ],
        ),
        MetricValue::Rate { nonzero, total } => Cells::Plain(
            format::percent(*nonzero, *total),
            vec![format!("{nonzero} out of {total}")],
        ),
        MetricValue::Trend(_) => Cells::Trend(
            r.trend_stats
                .iter()
                .map(|stat| {
                    let v = format::trend_stat(&m.value, stat).unwrap_or(0.0);
                    let text = match (stat.as_str(), m.def.contains) {
                        ("count", _) => format!("{v}"),
                        (_, crate::metrics::Contains::Time) => {
                            format::time_in(v, r.time_unit.as_deref())
                        }
                        _ => format::value(v, m.def.contains),
                    };
                    (stat.clone(), text)
                })
                .collect(),
        ),
    }
}

/// The widest value of each column in a block of rows (in characters, as k6 counts them).
#[derive(Default)]
struct Widths {
    trend: Vec<usize>,
    value: usize,
    extras: Vec<usize>,
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn widen(widths: &mut Vec<usize>, i: usize, w: usize) {
    if widths.len() <= i {
        widths.resize(i + 1, 0);
    }
    widths[i] = widths[i].max(w);
}

impl Widths {
    fn fit(&mut self, cells: &Cells) {
        match cells {
            Cells::Trend(stats) => {
                for (i, (_, text)) in stats.iter().enumerate() {
                    widen(&mut self.trend, i, width(text));
                }
            }
            Cells::Plain(value, extras) => {
                self.value = self.value.max(width(value));
                for (i, extra) in extras.iter().enumerate() {
                    widen(&mut self.extras, i, width(extra));
                }
            }
        }
    }

    /// k6's row: each trend value padded to its column's width (`avg=1ms      min=...`); another
    /// metric's value padded, then its one extra as is, or several extras each padded.
    fn render(&self, cells: &Cells) -> String {
        let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(width(s))));
        match cells {
            Cells::Trend(stats) => stats
                .iter()
                .enumerate()
                .map(|(i, (stat, text))| format!("{stat}={}", pad(text, self.trend[i])))
                .collect::<Vec<_>>()
                .join(" "),
            Cells::Plain(value, extras) => {
                let extras = match extras.as_slice() {
                    [one] => one.clone(),
                    many => many
                        .iter()
                        .enumerate()
                        .map(|(i, e)| pad(e, self.extras[i]))
                        .collect::<Vec<_>>()
                        .join(" "),
                };
                format!("{} {extras}", pad(value, self.value))
            }
        }
    }
}

fn dots(name: &str, width: usize) -> String {
    let n = name.chars().count();
    if n >= width {
        return name.to_string();
    }
    format!("{name}{}", ".".repeat(width - n))
}
