//! Threshold evaluation against the aggregate: during the run (for `abortOnFail`) and at the end.

use std::time::Duration;

use super::parse::{Aggregation, Selector};
use super::resolve::{MetricThresholds, ThresholdSpec};
use crate::metrics::{Aggregate, MetricDef, MetricValue};

/// The result of one threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Metric and tag filter.
    pub selector: Selector,
    /// The metric's definition.
    pub def: MetricDef,
    /// The expression as written.
    pub source: String,
    /// What it aggregates.
    pub aggregation: Aggregation,
    /// The aggregated value (`None`: no data yet, which passes as in k6).
    pub value: Option<f64>,
    /// Whether it held.
    pub passed: bool,
}

/// Evaluates every threshold; `elapsed` is the test's running time (for counter rates).
pub fn evaluate(defs: &[MetricThresholds], agg: &Aggregate, elapsed: Duration) -> Vec<Outcome> {
    let mut out = Vec::new();
    for def in defs {
        let metric_value = agg.value(def.metric, &def.selector.tags);
        for spec in &def.specs {
            let value = spec_value(def, spec, agg, elapsed, metric_value.as_ref());
            out.push(Outcome {
                selector: def.selector.clone(),
                def: agg.metrics().def(def.metric),
                source: spec.expr.source.clone(),
                aggregation: spec.expr.aggregation,
                value,
                passed: value.is_none_or(|v| spec.expr.passes(v)),
            });
        }
    }
    out
}

/// Metrics (with selector) whose failing `abortOnFail` thresholds should stop the test now.
pub fn aborting(defs: &[MetricThresholds], agg: &Aggregate, elapsed: Duration) -> Vec<String> {
    let mut names = Vec::new();
    for def in defs {
        let armed: Vec<&ThresholdSpec> = def
            .specs
            .iter()
            .filter(|s| s.abort_on_fail && elapsed >= s.delay_abort_eval)
            .collect();
        if armed.is_empty() {
            continue;
        }
        let whole = agg.value(def.metric, &def.selector.tags);
        let failed = armed.iter().any(|s| {
            spec_value(def, s, agg, elapsed, whole.as_ref()).is_some_and(|v| !s.expr.passes(v))
        });
        if failed {
            names.push(def.selector.to_string());
        }
    }
    names
}

/// Starts the aggregate's trackers for every windowed threshold.
pub fn track_windows(defs: &[MetricThresholds], agg: &Aggregate) {
    for def in defs {
        for spec in &def.specs {
            if let Some(w) = spec.expr.window {
                agg.track_window(def.metric, def.selector.tags.clone(), window_seconds(w));
            }
        }
    }
}

fn window_seconds(w: Duration) -> u32 {
    u32::try_from(w.as_secs()).unwrap_or(u32::MAX).max(1)
}

/// A threshold's aggregated value: over its window, or over the whole test (`whole`).
fn spec_value(
    def: &MetricThresholds,
    spec: &ThresholdSpec,
    agg: &Aggregate,
    elapsed: Duration,
    whole: Option<&MetricValue>,
) -> Option<f64> {
    match spec.expr.window {
        Some(w) => {
            let seconds = window_seconds(w);
            agg.window_value(def.metric, &def.selector.tags, seconds)?
                .aggregate(spec.expr.aggregation, f64::from(seconds))
        }
        None => whole?.aggregate(spec.expr.aggregation, elapsed.as_secs_f64()),
    }
}
