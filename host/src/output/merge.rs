//! `volley merge`: JSON summaries of disjoint execution segments (see `docs/summary-json.md`) read
//! back and added up exactly into one [`Results`], with every threshold evaluated again on the
//! merged values.
//!
//! Counters, rates, checks and iterations add up; trends merge their HdrHistograms (exact count,
//! sum, min and max); gauges add up too, since the segments run the same schedule at the same time
//! (the whole test's `vus` is the sum of the segments'). The merged duration is the longest one.
//! Windowed thresholds (`... over 30s`) cannot be evaluated again from totals: they hold when they
//! held in every part.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{CheckResult, MetricResult, Results, RunFacts};
use crate::metrics::thresholds::Outcome;
use crate::metrics::thresholds::{parse_expr, parse_selector, Selector};
use crate::metrics::{Contains, MetricDef, MetricKind, MetricValue, Registry, Trend};
use crate::plan::segment::Segment;

/// The schema this reads and writes.
pub const SCHEMA: &str = "volley.summary/v1";

/// Why summaries cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file is not a summary Volley can read.
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong, and where.
        message: String,
    },
    /// Two parts cover the same work.
    #[error(
        "{a} and {b} overlap (segments {sa} and {sb}): each execution segment may appear once"
    )]
    Overlap {
        /// One file.
        a: String,
        /// Its segment.
        sa: String,
        /// The other file.
        b: String,
        /// Its segment.
        sb: String,
    },
}

/// One metric of a summary, with its thresholds as written and whether each held.
#[derive(Clone)]
struct PartMetric {
    selector: Selector,
    def: MetricDef,
    value: MetricValue,
    thresholds: Vec<(String, bool)>,
}

/// One summary file, read back.
pub struct Part {
    file: String,
    segment: Segment,
    duration: Duration,
    iterations: (u64, u64),
    errors: BTreeMap<String, u64>,
    metrics: Vec<PartMetric>,
    checks: Vec<CheckResult>,
    trend_stats: Vec<String>,
}

/// Reads a JSON summary written by `--summary-export`, defining its custom metrics in
/// `metrics` (shared by the parts of one merge); `file` names it in errors.
pub fn read(file: &str, doc: &Value, registry: &Registry) -> Result<Part, MergeError> {
    let bad = |message: String| MergeError::Invalid {
        file: file.to_string(),
        message,
    };
    if doc["schema"] != SCHEMA {
        return Err(bad(format!(
            "\"schema\" is {}, expected \"{SCHEMA}\" (a file written by volley run --summary-export)",
            doc["schema"]
        )));
    }
    let segment = doc["segment"]
        .as_str()
        .ok_or_else(|| bad("\"segment\" is missing".into()))
        .and_then(|s| Segment::parse(s).map_err(|e| bad(format!("\"segment\": {e}"))))?;
    let duration_ms =
        number(&doc["duration_ms"]).ok_or_else(|| bad("\"duration_ms\" is missing".into()))?;
    let duration = crate::duration::from_millis(duration_ms)
        .map_err(|reason| bad(format!("\"duration_ms\" {duration_ms}: {reason}")))?;
    let iterations = (
        count(&doc["iterations"]["complete"])
            .ok_or_else(|| bad("\"iterations.complete\" is missing".into()))?,
        count(&doc["iterations"]["interrupted"]).unwrap_or(0),
    );
    let errors = doc["iteration_errors"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), count(v).unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let mut metrics = Vec::new();
    let mut trend_stats = Vec::new();
    for (key, entry) in doc["metrics"]
        .as_object()
        .ok_or_else(|| bad("\"metrics\" is missing".into()))?
    {
        let at = |message: String| bad(format!("metrics.\"{key}\": {message}"));
        let (m, stats) = read_metric(key, entry, registry).map_err(at)?;
        if trend_stats.is_empty() && !stats.is_empty() {
            trend_stats = stats;
        }
        metrics.push(m);
    }
    let checks = doc["checks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| CheckResult {
                    name: c["name"].as_str().unwrap_or_default().to_string(),
                    passes: count(&c["passes"]).unwrap_or(0),
                    fails: count(&c["fails"]).unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Part {
        file: file.to_string(),
        segment,
        duration,
        iterations,
        errors,
        metrics,
        checks,
        trend_stats,
    })
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn count(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_f64().map(|f| f as u64))
}

/// One metric entry, and the trend stats its `values` show (trends only).
fn read_metric(
    key: &str,
    entry: &Value,
    metrics: &Registry,
) -> Result<(PartMetric, Vec<String>), String> {
    let selector = parse_selector(key).map_err(|e| e.to_string())?;
    let kind: MetricKind = serde_json::from_value(entry["type"].clone()).map_err(|_| {
        format!(
            "\"type\" is {}, expected counter, gauge, rate or trend",
            entry["type"]
        )
    })?;
    let contains: Contains = serde_json::from_value(entry["contains"].clone()).map_err(|_| {
        format!(
            "\"contains\" is {}, expected default, time or data",
            entry["contains"]
        )
    })?;
    let id = metrics
        .custom(&selector.metric, kind, contains)
        .map_err(|e| e.to_string())?;
    let values = &entry["values"];
    let need =
        |name: &str| number(&values[name]).ok_or_else(|| format!("values.{name} is missing"));
    let mut stats = Vec::new();
    let value = match kind {
        MetricKind::Counter => MetricValue::Counter {
            sum: need("count")?,
        },
        MetricKind::Gauge => MetricValue::Gauge {
            last: need("value")?,
            min: need("min")?,
            max: need("max")?,
        },
        MetricKind::Rate => {
            let passes = need("passes")? as u64;
            MetricValue::Rate {
                nonzero: passes,
                total: passes.saturating_add(need("fails")? as u64),
            }
        }
        MetricKind::Trend => {
            let exact = &entry["exact"];
            let hdr = entry["hdr"].as_str().ok_or("\"hdr\" is missing")?;
            let sum = number(&exact["sum"]).ok_or("exact.sum is missing")?;
            let min = number(&exact["min"]).unwrap_or(f64::INFINITY);
            let max = number(&exact["max"]).unwrap_or(f64::NEG_INFINITY);
            let trend =
                Trend::from_serialized(hdr, sum, min, max).map_err(|e| format!("\"hdr\": {e}"))?;
            if let Some(v) = values.as_object() {
                stats = v.keys().filter(|k| *k != "count").cloned().collect();
            }
            MetricValue::Trend(trend)
        }
    };
    let thresholds = entry["thresholds"]
        .as_object()
        .map(|t| {
            t.iter()
                .map(|(source, v)| (source.clone(), v["ok"].as_bool().unwrap_or(false)))
                .collect()
        })
        .unwrap_or_default();
    Ok((
        PartMetric {
            selector,
            def: metrics.def(id),
            value,
            thresholds,
        },
        stats,
    ))
}

/// Adds up the parts into one result; `trend_stats` overrides the stats the parts show.
pub fn merge(parts: Vec<Part>, trend_stats: Option<Vec<String>>) -> Result<Results, MergeError> {
    let mut by_segment: Vec<&Part> = parts.iter().collect();
    by_segment.sort_by_key(|p| p.segment.from);
    for pair in by_segment.windows(2) {
        if pair[1].segment.from < pair[0].segment.to {
            return Err(MergeError::Overlap {
                a: pair[0].file.clone(),
                sa: pair[0].segment.to_string(),
                b: pair[1].file.clone(),
                sb: pair[1].segment.to_string(),
            });
        }
    }
    let segment = covered(&by_segment);
    let mut facts = RunFacts {
        segment,
        ..RunFacts::default()
    };
    let mut metrics: BTreeMap<Selector, PartMetric> = BTreeMap::new();
    let mut checks: Vec<CheckResult> = Vec::new();
    for part in &parts {
        facts.duration = facts.duration.max(part.duration);
        facts.iterations.0 += part.iterations.0;
        facts.iterations.1 += part.iterations.1;
        for (msg, n) in &part.errors {
            *facts.errors.entry(msg.clone()).or_default() += n;
        }
        for m in &part.metrics {
            match metrics.get_mut(&m.selector) {
                Some(sum) => {
                    add(&mut sum.value, &m.value);
                    for (source, ok) in &m.thresholds {
                        match sum.thresholds.iter_mut().find(|(s, _)| s == source) {
                            Some((_, held)) => *held &= ok,
                            None => sum.thresholds.push((source.clone(), *ok)),
                        }
                    }
                }
                None => {
                    metrics.insert(m.selector.clone(), m.clone());
                }
            }
        }
        for c in &part.checks {
            match checks.iter_mut().find(|k| k.name == c.name) {
                Some(k) => {
                    k.passes += c.passes;
                    k.fails += c.fails;
                }
                None => checks.push(c.clone()),
            }
        }
    }
    let seconds = facts.duration.as_secs_f64();
    let mut outcomes = Vec::new();
    for (selector, m) in &metrics {
        let value = &m.value;
        for (source, held) in &m.thresholds {
            let file = parts.first().map_or("", |p| p.file.as_str());
            let expr = parse_expr(source).map_err(|e| MergeError::Invalid {
                file: file.to_string(),
                message: format!("threshold {source:?} on {selector}: {e}"),
            })?;
            let value = match expr.window {
                Some(_) => None,
                None => value.aggregate(expr.aggregation, seconds),
            };
            outcomes.push(Outcome {
                selector: selector.clone(),
                def: m.def,
                source: source.clone(),
                aggregation: expr.aggregation,
                passed: match (expr.window, value) {
                    (Some(_), _) => *held,
                    (None, v) => v.is_none_or(|v| expr.passes(v)),
                },
                value,
            });
        }
    }
    let trend_stats = trend_stats
        .or_else(|| {
            parts
                .iter()
                .map(|p| p.trend_stats.clone())
                .find(|s| !s.is_empty())
        })
        .unwrap_or_else(|| {
            ["avg", "min", "med", "max", "p(90)", "p(95)"]
                .map(String::from)
                .to_vec()
        });
    Ok(Results {
        duration: facts.duration,
        metrics: metrics
            .into_iter()
            .map(|(selector, m)| MetricResult {
                selector,
                def: m.def,
                value: m.value,
            })
            .collect(),
        checks,
        thresholds: outcomes,
        trend_stats,
        facts,
        time_unit: None,
        full: false,
        per_scenario: Vec::new(),
        per_group: Vec::new(),
    })
}

/// Adds `other` into `value`: as [`MetricValue::merge`], except that gauges add up.
fn add(value: &mut MetricValue, other: &MetricValue) {
    match (value, other) {
        (
            MetricValue::Gauge { last, min, max },
            MetricValue::Gauge {
                last: l,
                min: mn,
                max: mx,
            },
        ) => {
            *last += l;
            *min += mn;
            *max += mx;
        }
        (value, other) => value.merge(other),
    }
}

/// The segments' union: `from:to` when they are contiguous, else each range joined by commas.
fn covered(sorted: &[&Part]) -> String {
    let mut ranges: Vec<Segment> = Vec::new();
    for p in sorted {
        match ranges.last_mut() {
            Some(last) if last.to == p.segment.from => last.to = p.segment.to,
            _ => ranges.push(p.segment.clone()),
        }
    }
    ranges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
