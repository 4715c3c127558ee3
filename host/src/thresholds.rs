//! Threshold evaluation against the aggregate: during the run (for `abortOnFail`) and at the end.

use std::time::Duration;

use crate::config::MetricThresholds;
use crate::metrics::threshold::{Aggregation, Selector};
use crate::metrics::Aggregate;

/// The result of one threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Metric and tag filter.
    pub selector: Selector,
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
            let value = metric_value
                .as_ref()
                .and_then(|v| v.aggregate(spec.expr.aggregation, elapsed.as_secs_f64()));
            out.push(Outcome {
                selector: def.selector.clone(),
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
        let armed: Vec<_> = def
            .specs
            .iter()
            .filter(|s| s.abort_on_fail && elapsed >= s.delay_abort_eval)
            .collect();
        if armed.is_empty() {
            continue;
        }
        let Some(value) = agg.value(def.metric, &def.selector.tags) else {
            continue;
        };
        let failed = armed.iter().any(|s| {
            value
                .aggregate(s.expr.aggregation, elapsed.as_secs_f64())
                .is_some_and(|v| !s.expr.passes(v))
        });
        if failed {
            names.push(def.selector.to_string());
        }
    }
    names
}
