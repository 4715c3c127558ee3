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
use super::Results;
use crate::metrics::MetricValue;

/// Builds the JSON summary document.
pub fn to_json(r: &Results) -> Value {
    let secs = r.duration.as_secs_f64().max(f64::EPSILON);
    let mut metrics = Map::new();
    for m in &r.metrics {
        let key = m.selector.to_string();
        let mut entry = Map::new();
        entry.insert("type".into(), json!(m.def.kind));
        entry.insert("contains".into(), json!(m.def.contains));
        let values = match &m.value {
            MetricValue::Counter { sum } => json!({ "count": sum, "rate": sum / secs }),
            MetricValue::Gauge { last, min, max } => {
                json!({ "value": last, "min": min, "max": max })
            }
            MetricValue::Rate { nonzero, total } => json!({
                "rate": if *total == 0 { 0.0 } else { *nonzero as f64 / *total as f64 },
                "passes": nonzero,
                "fails": total - nonzero,
            }),
            MetricValue::Trend(t) => {
                let mut v = Map::new();
                v.insert("count".into(), json!(t.count()));
                for stat in &r.trend_stats {
                    v.insert(
                        stat.clone(),
                        json!(trend_stat(&m.value, stat).unwrap_or(0.0)),
                    );
                }
                entry.insert("hdr".into(), json!(t.serialized()));
                let mut exact = Map::new();
                exact.insert("sum".into(), json!(t.sum()));
                if let Some((min, max)) = t.extremes() {
                    exact.insert("min".into(), json!(min));
                    exact.insert("max".into(), json!(max));
                }
                entry.insert("exact".into(), Value::Object(exact));
                Value::Object(v)
            }
        };
        entry.insert("values".into(), values);
        let th: Map<String, Value> = r
            .thresholds
            .iter()
            .filter(|t| t.selector == m.selector)
            .map(|t| (t.source.clone(), json!({ "ok": t.passed })))
            .collect();
        if !th.is_empty() {
            entry.insert("thresholds".into(), Value::Object(th));
        }
        metrics.insert(key, Value::Object(entry));
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
