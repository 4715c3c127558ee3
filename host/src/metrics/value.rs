//! The aggregated value of one metric or sub-metric: a counter's sum, a gauge's last value
//! and extremes, a rate's share, a trend's distribution; and the threshold aggregations over it.

use super::thresholds::Aggregation;
use super::{MetricKind, Trend};

/// The aggregated value of one metric (or sub-metric).
#[derive(Debug, Clone)]
pub enum MetricValue {
    /// Sum of samples.
    Counter {
        /// The sum.
        sum: f64,
    },
    /// Last value seen, with extremes.
    Gauge {
        /// Last value.
        last: f64,
        /// Minimum.
        min: f64,
        /// Maximum.
        max: f64,
    },
    /// Share of non-zero samples.
    Rate {
        /// Samples that were non-zero.
        nonzero: u64,
        /// All samples.
        total: u64,
    },
    /// A distribution.
    Trend(Trend),
}

impl MetricValue {
    /// An empty value for a metric of `kind`.
    pub fn new(kind: MetricKind) -> Self {
        match kind {
            MetricKind::Counter => MetricValue::Counter { sum: 0.0 },
            MetricKind::Gauge => MetricValue::Gauge {
                last: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
            MetricKind::Rate => MetricValue::Rate {
                nonzero: 0,
                total: 0,
            },
            MetricKind::Trend => MetricValue::Trend(Trend::new()),
        }
    }

    /// Adds one sample.
    pub fn add(&mut self, v: f64) {
        match self {
            MetricValue::Counter { sum } => *sum += v,
            MetricValue::Gauge { last, min, max } => {
                *last = v;
                *min = min.min(v);
                *max = max.max(v);
            }
            MetricValue::Rate { nonzero, total } => {
                *total += 1;
                *nonzero += u64::from(v != 0.0);
            }
            MetricValue::Trend(t) => t.record(v),
        }
    }

    /// Merges another value of the same kind.
    pub fn merge(&mut self, other: &MetricValue) {
        match (self, other) {
            (MetricValue::Counter { sum }, MetricValue::Counter { sum: o }) => *sum += o,
            (
                MetricValue::Gauge { last, min, max },
                MetricValue::Gauge {
                    last: l,
                    min: mn,
                    max: mx,
                },
            ) => {
                *last = *l;
                *min = min.min(*mn);
                *max = max.max(*mx);
            }
            (
                MetricValue::Rate { nonzero, total },
                MetricValue::Rate {
                    nonzero: n,
                    total: t,
                },
            ) => {
                *nonzero += n;
                *total += t;
            }
            (MetricValue::Trend(a), MetricValue::Trend(b)) => a.merge(b),
            _ => {}
        }
    }

    /// The value of a threshold aggregation; `None` when it does not apply or there is no data
    /// yet (k6 lets such thresholds pass). `seconds` is the test's elapsed time, for counter rates.
    pub fn aggregate(&self, agg: Aggregation, seconds: f64) -> Option<f64> {
        match (self, agg) {
            (MetricValue::Counter { sum }, Aggregation::Count) => Some(*sum),
            (MetricValue::Counter { sum }, Aggregation::Rate) => {
                Some(if seconds > 0.0 { sum / seconds } else { 0.0 })
            }
            (MetricValue::Gauge { last, min, .. }, Aggregation::Value) => {
                min.is_finite().then_some(*last)
            }
            (MetricValue::Rate { nonzero, total }, Aggregation::Rate) => {
                (*total > 0).then(|| *nonzero as f64 / *total as f64)
            }
            (MetricValue::Trend(t), agg) if t.count() > 0 => {
                let s = t.stats();
                match agg {
                    Aggregation::Avg => Some(s.avg),
                    Aggregation::Min => Some(s.min),
                    Aggregation::Max => Some(s.max),
                    Aggregation::Med => Some(s.med),
                    Aggregation::Percentile(p) => Some(t.percentile(p)),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}
