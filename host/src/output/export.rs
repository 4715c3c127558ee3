//! The JSON summary (`--summary-export`), schema `volley.summary/v1`:
//!
//! ```json
//! {
//!   "schema": "volley.summary/v1",
//!   "segment": "0:1",
//!   "duration_ms": 30012.5,
//!   "iterations": { "complete": 120, "interrupted": 0 },
//!   "iteration_errors": { "trap: wasm trap: wasm `unreachable` instruction executed": 2 },
//!   "thresholds_passed": true,
//!   "metrics": {
//!     "http_reqs": { "type": "counter", "contains": "default", "values": { "count": 120, "rate": 3.99 } },
//!     "http_req_failed": { "type": "rate", "contains": "default", "values": { "rate": 0, "passes": 0, "fails": 120 } },
//!     "vus": { "type": "gauge", "contains": "default", "values": { "value": 0, "min": 0, "max": 10 } },
//!     "http_req_duration": { "type": "trend", "contains": "time",
//!       "values": { "count": 120, "avg": 2.3, "min": 0.8, "med": 1.9, "max": 5.6, "p(90)": 3.7, "p(95)": 4.6 },
//!       "hdr": "<base64 HdrHistogram V2+deflate, values in µs>",
//!       "exact": { "sum": 276.0, "min": 0.8, "max": 5.6 },
//!       "thresholds": { "p(95)<2000": { "ok": true } } },
//!     "http_req_duration{expected_response:true}": { "...": "sub-metrics keyed as in k6" }
//!   },
//!   "checks": [ { "name": "is status 200", "passes": 120, "fails": 0 } ]
//! }
//! ```
//! Times are milliseconds. Rates are fractions (0–1). `passes`/`fails` of a rate metric count
//! non-zero and zero samples, as k6's export does. `ok` is true when the threshold held.

use serde_json::{json, Map, Value};

use super::format::trend_stat;
use super::{MetricResult, Results};
use crate::metrics::MetricValue;

/// Builds the JSON summary document.
pub fn to_json(r: &Results) -> Value {
    let mut metrics = Map::new();
    for m in &r.metrics {
        let mut entry = entry(r, m);
        if let MetricValue::Trend(t) = &m.value {
            if let Some(Value::Object(values)) = entry.get_mut("values") {
                values.insert("count".into(), json!(t.count()));
            }
            entry.insert("hdr".into(), json!(t.serialized()));
            let mut exact = Map::new();
            exact.insert("sum".into(), json!(t.sum()));
            if let Some((min, max)) = t.extremes() {
                exact.insert("min".into(), json!(min));
                exact.insert("max".into(), json!(max));
            }
            entry.insert("exact".into(), Value::Object(exact));
        }
        metrics.insert(m.selector.to_string(), Value::Object(entry));
    }
    json!({
        "schema": "volley.summary/v1",
        "segment": r.facts.segment,
        "duration_ms": r.duration.as_secs_f64() * 1000.0,
        "iterations": { "complete": r.facts.iterations.0, "interrupted": r.facts.iterations.1 },
        "iteration_errors": r.facts.errors,
        "thresholds_passed": r.thresholds_passed(),
        "metrics": metrics,
        "checks": r.checks.iter().map(|c| json!({ "name": c.name, "passes": c.passes, "fails": c.fails })).collect::<Vec<_>>(),
    })
}

/// One metric as k6 shows it (in `handleSummary`'s data and in this export): `type`,
/// `contains`, `values` (a trend's are the run's `summaryTrendStats`) and, when it has any,
/// `thresholds` as `{ "p(95)<200": { "ok": true } }`.
pub(super) fn entry(r: &Results, m: &MetricResult) -> Map<String, Value> {
    let secs = r.duration.as_secs_f64().max(f64::EPSILON);
    let values = match &m.value {
        MetricValue::Counter { sum } => json!({ "count": sum, "rate": sum / secs }),
        MetricValue::Gauge { last, min, max } => json!({ "value": last, "min": min, "max": max }),
        MetricValue::Rate { nonzero, total } => json!({
            "rate": if *total == 0 { 0.0 } else { *nonzero as f64 / *total as f64 },
            "passes": nonzero,
            "fails": total - nonzero,
        }),
        MetricValue::Trend(_) => r
            .trend_stats
            .iter()
            .map(|s| (s.clone(), json!(trend_stat(&m.value, s).unwrap_or(0.0))))
            .collect::<Map<_, _>>()
            .into(),
    };
    let mut entry = Map::new();
    entry.insert("type".into(), json!(m.def.kind));
    entry.insert("contains".into(), json!(m.def.contains));
    entry.insert("values".into(), values);
    let thresholds: Map<String, Value> = r
        .thresholds
        .iter()
        .filter(|t| t.selector == m.selector)
        .map(|t| (t.source.clone(), json!({ "ok": t.passed })))
        .collect();
    if !thresholds.is_empty() {
        entry.insert("thresholds".into(), Value::Object(thresholds));
    }
    entry
}
