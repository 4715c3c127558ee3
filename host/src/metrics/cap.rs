//! Limits on the series (metric × tag set) the aggregate keeps: past a metric's limit, samples
//! that would start a new series are dropped and counted, and one warning names the tag whose
//! values vary most (as k6's "too many time series" warning points to the `name` tag).
//! Every check is O(1): two vectors indexed by metric id.

use std::collections::{HashMap, HashSet};

use super::{builtin, MetricId, Registry, TagSet};

/// Most distinct tag sets (series) one metric keeps. An HTTP request feeds ~12 metrics under one
/// tag set, so 10,000 URLs cost ~120,000 series of at most a few KiB each until they see
/// hundreds of distinct values; honest tests stay far below (k6 warns at 100,000 series in all).
pub const MAX_SERIES_PER_METRIC: usize = 10_000;
/// Most distinct series of `checks` (one per check name, group and scenario): the summary lists
/// every check, so the limit is lower.
pub const MAX_CHECK_SERIES: usize = 1_000;

/// The series limit of `metric`.
pub fn series_limit(metric: MetricId) -> usize {
    if metric == builtin::CHECKS {
        MAX_CHECK_SERIES
    } else {
        MAX_SERIES_PER_METRIC
    }
}

/// Why a sample was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its metric reached its series limit.
    Metric(MetricId),
    /// Its tag set was not interned (the run's tag limits) or was refused by the recorder.
    Run,
}

/// Series counts and drops per metric.
#[derive(Debug, Default)]
pub struct SeriesCaps {
    series: Vec<u32>,
    dropped: Vec<u64>,
    dropped_run: u64,
    /// Refusals not yet warned about (each at most once).
    to_warn: Vec<Refusal>,
}

impl SeriesCaps {
    /// Takes one new series of `metric` if it is under its limit; otherwise counts the drop.
    pub fn admit(&mut self, metric: MetricId) -> bool {
        let i = usize::from(metric.0);
        if self.series.len() <= i {
            self.series.resize(i + 1, 0);
            self.dropped.resize(i + 1, 0);
        }
        if (self.series[i] as usize) < series_limit(metric) {
            self.series[i] += 1;
            return true;
        }
        self.dropped[i] += 1;
        if self.dropped[i] == 1 {
            self.to_warn.push(Refusal::Metric(metric));
        }
        false
    }

    /// Counts a sample whose tag set was not kept.
    pub fn refuse(&mut self) {
        self.dropped_run += 1;
        if self.dropped_run == 1 {
            self.to_warn.push(Refusal::Run);
        }
    }

    /// Samples dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.iter().sum::<u64>() + self.dropped_run
    }

    /// Metrics with drops: `(name, dropped)`.
    pub fn dropped_by_metric(&self, metrics: &Registry) -> Vec<(&'static str, u64)> {
        let mut out: Vec<(&'static str, u64)> = (0..self.dropped.len())
            .filter(|&i| self.dropped[i] > 0)
            .map(|i| (metrics.def(MetricId(i as u16)).name, self.dropped[i]))
            .collect();
        if self.dropped_run > 0 {
            out.push((
                "(any metric, new tag sets past the run's limit)",
                self.dropped_run,
            ));
        }
        out
    }

    /// Refusals seen for the first time since the last call.
    pub fn take_new(&mut self) -> Vec<Refusal> {
        std::mem::take(&mut self.to_warn)
    }
}

/// The tag key with the most distinct values over `sets`, and that count.
pub fn most_varied<'a>(sets: impl Iterator<Item = &'a TagSet>) -> Option<(String, usize)> {
    let mut values: HashMap<&str, HashSet<&str>> = HashMap::new();
    for set in sets {
        for (k, v) in set.iter() {
            values.entry(k).or_default().insert(v);
        }
    }
    values
        .into_iter()
        .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)))
        .map(|(k, v)| (k.to_string(), v.len()))
}

/// The warning for a refusal; `varied` is the tag that varies most among the kept series.
pub fn warning(refusal: Refusal, varied: Option<(String, usize)>, metrics: &Registry) -> String {
    let what = match refusal {
        Refusal::Metric(m) => format!(
            "metric '{}' reached its limit of {} tag sets (time series)",
            metrics.def(m).name,
            series_limit(m)
        ),
        Refusal::Run => format!(
            "the test reached its limit of {} distinct tag sets ({} MiB of tags) or a tag was refused",
            super::tags::MAX_TAG_SETS,
            super::tags::MAX_TAG_BYTES >> 20
        ),
    };
    let tag = varied.map_or(String::new(), |(k, n)| {
        format!(" Tag '{k}' varies most ({n} distinct values).")
    });
    format!(
        "{what}: samples with new tag sets are dropped and counted.{tag} Avoid high-cardinality \
         values such as unique IDs in tags; for URLs with IDs, set the 'name' tag to one value per \
         endpoint (k6's advice for too many time series)."
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_metric_stops_at_its_limit_and_counts_drops() {
        let mut caps = SeriesCaps::default();
        let m = builtin::HTTP_REQ_DURATION;
        for _ in 0..MAX_SERIES_PER_METRIC {
            assert!(caps.admit(m));
        }
        assert!(!caps.admit(m));
        assert!(!caps.admit(m));
        assert!(
            caps.admit(builtin::HTTP_REQS),
            "other metrics are not affected"
        );
        assert_eq!(caps.dropped(), 2);
        assert_eq!(caps.take_new(), vec![Refusal::Metric(m)], "warned once");
        assert!(caps.take_new().is_empty());
        caps.refuse();
        assert_eq!(caps.dropped(), 3);
        assert_eq!(
            caps.dropped_by_metric(&Registry::new())[0],
            ("http_req_duration", 2)
        );
    }

    #[test]
    fn checks_have_their_own_lower_limit() {
        let mut caps = SeriesCaps::default();
        let admitted = (0..MAX_SERIES_PER_METRIC)
            .filter(|_| caps.admit(builtin::CHECKS))
            .count();
        assert_eq!(admitted, MAX_CHECK_SERIES);
    }

    #[test]
    fn the_warning_names_the_most_varied_tag_and_the_name_tag() {
        let sets: Vec<TagSet> = (0..50)
            .map(|i| {
                Arc::from(vec![
                    ("method".to_string(), "GET".to_string()),
                    ("url".to_string(), format!("http://x/items/{i}")),
                ])
            })
            .collect();
        let varied = most_varied(sets.iter());
        assert_eq!(varied, Some(("url".to_string(), 50)));
        let w = warning(
            Refusal::Metric(builtin::HTTP_REQS),
            varied,
            &Registry::new(),
        );
        assert!(w.contains("'http_reqs'") && w.contains("Tag 'url'") && w.contains("'name' tag"));
    }
}
