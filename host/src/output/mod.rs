//! Outputs: the k6-style text summary and the JSON summary export (both views of one [`Results`]
//! snapshot taken after the run), and the streaming outputs ([`stream`]).

pub mod dashboard;
pub mod export;
pub mod format;
pub mod handle_summary;
pub mod influxdb;
pub mod merge;
pub mod prometheus;
pub mod report;
pub mod stream;
pub mod summary;

use std::time::Duration;

use crate::config::TestConfig;
use crate::metrics::thresholds::Selector;
use crate::metrics::thresholds::{self, Outcome};
use crate::metrics::{builtin, Aggregate, MetricDef, MetricValue};

/// One metric or sub-metric with its value.
#[derive(Debug, Clone)]
pub struct MetricResult {
    /// Metric and tag filter (no tags: the whole metric).
    pub selector: Selector,
    /// The metric's definition.
    pub def: MetricDef,
    /// The aggregated value.
    pub value: MetricValue,
}

/// A check's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Check name.
    pub name: String,
    /// Times it passed.
    pub passes: u64,
    /// Times it failed.
    pub fails: u64,
}

/// Everything the summaries show.
#[derive(Debug, Clone)]
pub struct Results {
    /// Test running time (counter rates divide by it).
    pub duration: Duration,
    /// Metrics with data, by name, each followed by its sub-metrics.
    pub metrics: Vec<MetricResult>,
    /// Checks by name.
    pub checks: Vec<CheckResult>,
    /// Threshold outcomes.
    pub thresholds: Vec<Outcome>,
    /// Trend statistics to show.
    pub trend_stats: Vec<String>,
    /// What the run reported besides its metrics.
    pub facts: RunFacts,
    /// Fixed time unit for the text summary.
    pub time_unit: Option<String>,
    /// Full summary mode: every HTTP timing phase, plus `per_scenario`.
    pub full: bool,
    /// Full mode: each scenario's metrics (filtered by its `scenario` tag).
    pub per_scenario: Vec<(String, Vec<MetricResult>)>,
    /// Full mode: each group's metrics (filtered by its `group` tag), by path.
    pub per_group: Vec<(String, Vec<MetricResult>)>,
}

/// What a run reports besides its metrics.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// Test running time (counter rates divide by it).
    pub duration: Duration,
    /// Completed and interrupted iterations.
    pub iterations: (u64, u64),
    /// The execution segment this run covered (`0:1` for a single run).
    pub segment: String,
    /// Distinct iteration errors with how often each happened.
    pub errors: std::collections::BTreeMap<String, u64>,
}

/// Every metric's value over the samples tagged `key:value`.
fn metrics_tagged(agg: &Aggregate, key: &str, value: &str) -> Vec<MetricResult> {
    let filter = [(key.to_string(), value.to_string())];
    let mut defs = agg.metrics().all();
    defs.sort_by_key(|d| d.name);
    defs.into_iter()
        .filter_map(|def| {
            let id = agg.metrics().by_name(def.name)?;
            let value = agg.value(id, &filter)?;
            Some(MetricResult {
                selector: Selector {
                    metric: def.name.to_string(),
                    tags: Vec::new(),
                },
                def,
                value,
            })
        })
        .collect()
}

impl Results {
    /// Takes the snapshot.
    pub fn collect(test: &TestConfig, agg: &Aggregate, facts: RunFacts) -> Results {
        let duration = facts.duration;
        let thresholds = thresholds::evaluate(&test.thresholds, agg, duration);
        let mut selectors: Vec<Selector> = agg
            .metrics()
            .all()
            .iter()
            .map(|d| Selector {
                metric: d.name.to_string(),
                tags: Vec::new(),
            })
            .collect();
        selectors.push(Selector {
            metric: "http_req_duration".into(),
            tags: vec![("expected_response".into(), "true".into())],
        });
        selectors.extend(test.thresholds.iter().map(|t| t.selector.clone()));
        selectors.sort();
        selectors.dedup();
        let metrics = selectors
            .into_iter()
            .filter_map(|selector| {
                let id = agg.metrics().by_name(&selector.metric)?;
                let value = agg.value(id, &selector.tags)?;
                Some(MetricResult {
                    def: agg.metrics().def(id),
                    selector,
                    value,
                })
            })
            .collect();
        let checks = agg
            .by_tag(builtin::CHECKS, "check")
            .into_iter()
            .map(|(name, v)| match v {
                MetricValue::Rate { nonzero, total } => CheckResult {
                    name,
                    passes: nonzero,
                    fails: total - nonzero,
                },
                _ => CheckResult {
                    name,
                    passes: 0,
                    fails: 0,
                },
            })
            .collect();
        Results {
            duration,
            metrics,
            checks,
            thresholds,
            per_scenario: if test.summary.full {
                test.scenarios
                    .iter()
                    .map(|sc| (sc.name.clone(), metrics_tagged(agg, "scenario", &sc.name)))
                    .collect()
            } else {
                Vec::new()
            },
            per_group: if test.summary.full {
                agg.by_tag(builtin::GROUP_DURATION, "group")
                    .into_iter()
                    .map(|(path, _)| {
                        let metrics = metrics_tagged(agg, "group", &path);
                        (path, metrics)
                    })
                    .collect()
            } else {
                Vec::new()
            },
            time_unit: test.summary.time_unit.clone(),
            full: test.summary.full,
            trend_stats: test.summary.trend_stats.clone(),
            facts,
        }
    }

    /// Whether every threshold held.
    pub fn thresholds_passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }

    /// The whole-metric result for `name`.
    pub fn metric(&self, name: &str) -> Option<&MetricResult> {
        self.metrics
            .iter()
            .find(|m| m.selector.metric == name && m.selector.tags.is_empty())
    }
}
