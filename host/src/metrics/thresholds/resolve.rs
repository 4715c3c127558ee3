//! Thresholds as written (`"p(95)<500"` on `http_req_duration{status:200}`) checked against
//! the metric they name: the metric exists, and the aggregation applies to its kind.

use std::time::Duration;

use super::parse::{parse_expr, parse_selector, Expr, Selector};
use crate::metrics::{MetricId, Registry};

/// One threshold as the user wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The expression.
    pub text: String,
    /// Stop the test when it fails.
    pub abort_on_fail: bool,
    /// No abort before this much time has passed.
    pub delay_abort_eval: Duration,
}

/// A threshold expression with its abort options.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdSpec {
    /// The expression.
    pub expr: Expr,
    /// Stop the test when it fails.
    pub abort_on_fail: bool,
    /// No abort before this much time has passed.
    pub delay_abort_eval: Duration,
}

/// All thresholds on one metric or sub-metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricThresholds {
    /// The metric and tag filter.
    pub selector: Selector,
    /// The metric's id.
    pub metric: MetricId,
    /// Its thresholds, in the order written.
    pub specs: Vec<ThresholdSpec>,
}

/// The thresholds written on `name` (a metric of `metrics` with an optional `{tag:value}`
/// selector), or why they cannot be used.
pub fn resolve(
    metrics: &Registry,
    name: &str,
    written: impl IntoIterator<Item = Written>,
) -> Result<MetricThresholds, String> {
    let selector = parse_selector(name).map_err(|e| e.to_string())?;
    let metric = metrics.by_name(&selector.metric).ok_or_else(|| {
        format!(
            "unknown metric '{}' (declare custom metrics under [metrics])",
            selector.metric
        )
    })?;
    let kind = metrics.def(metric).kind;
    let specs = written
        .into_iter()
        .map(|w| {
            let expr = parse_expr(&w.text).map_err(|e| e.to_string())?;
            if !expr.aggregation.fits(kind) {
                return Err(format!(
                    "'{}': aggregation '{}' does not apply to {} metric {}",
                    w.text,
                    expr.aggregation.label(),
                    format!("{kind:?}").to_lowercase(),
                    selector.metric
                ));
            }
            Ok(ThresholdSpec {
                expr,
                abort_on_fail: w.abort_on_fail,
                delay_abort_eval: w.delay_abort_eval,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MetricThresholds {
        selector,
        metric,
        specs,
    })
}
