//! Windowed thresholds (`p(95)<500 over 30s`): per-second values of one metric (with a tag
//! filter), kept only as long as the window needs, so the last N seconds can be judged alone.
//! Trends are HDR histograms per second, merged exactly over the window.

use std::collections::{BTreeMap, HashMap};

use super::tags::matches;
use super::value::MetricValue;
use super::{MetricId, MetricKind, Sample, TagSetId, Tags};

/// One tracked (metric, filter, window).
#[derive(Debug)]
pub struct Window {
    metric: MetricId,
    kind: MetricKind,
    filter: Vec<(String, String)>,
    seconds: u32,
    buckets: BTreeMap<u32, MetricValue>,
    matched: HashMap<TagSetId, bool>,
}

impl Window {
    /// Tracks samples of `metric` (of `kind`) whose tags contain `filter`, over `seconds`.
    pub fn new(
        metric: MetricId,
        kind: MetricKind,
        filter: Vec<(String, String)>,
        seconds: u32,
    ) -> Window {
        Window {
            metric,
            kind,
            filter,
            seconds: seconds.max(1),
            buckets: BTreeMap::new(),
            matched: HashMap::new(),
        }
    }

    /// Whether this tracks exactly `metric`/`filter`/`seconds`.
    pub fn is(&self, metric: MetricId, filter: &[(String, String)], seconds: u32) -> bool {
        self.metric == metric && self.filter == filter && self.seconds == seconds
    }

    /// Adds a sample if it belongs here; drops seconds the window no longer needs.
    pub fn add(&mut self, s: &Sample, tags: &Tags) {
        if let Some(bucket) = self.bucket(s.metric, s.tags, s.at / 1000, tags) {
            bucket.add(s.value);
        }
    }

    /// Merges an aggregated change of one series (a shard's delta) into `second`, if it belongs
    /// here: the same as adding the samples it was made of.
    pub fn merge(
        &mut self,
        metric: MetricId,
        set: TagSetId,
        second: u32,
        value: &MetricValue,
        tags: &Tags,
    ) {
        if let Some(bucket) = self.bucket(metric, set, second, tags) {
            bucket.merge(value);
        }
    }

    /// The bucket of `second` when `metric` under `set` is tracked here, after dropping the
    /// seconds the window no longer needs.
    fn bucket(
        &mut self,
        metric: MetricId,
        set: TagSetId,
        second: u32,
        tags: &Tags,
    ) -> Option<&mut MetricValue> {
        if metric != self.metric {
            return None;
        }
        let filter = &self.filter;
        let hit = *self
            .matched
            .entry(set)
            .or_insert_with(|| matches(&tags.get(set), filter));
        if !hit {
            return None;
        }
        let keep_from = second.saturating_sub(self.seconds + 1);
        while let Some((&oldest, _)) = self.buckets.iter().next() {
            if oldest >= keep_from {
                break;
            }
            self.buckets.remove(&oldest);
        }
        Some(
            self.buckets
                .entry(second)
                .or_insert_with(|| MetricValue::new(self.kind)),
        )
    }

    /// The merged value of the `seconds` seconds up to and including `now_second`.
    pub fn value(&self, now_second: u32) -> Option<MetricValue> {
        let from = (now_second + 1).saturating_sub(self.seconds);
        let mut out: Option<MetricValue> = None;
        for (_, v) in self.buckets.range(from..=now_second) {
            match &mut out {
                Some(o) => o.merge(v),
                None => out = Some(v.clone()),
            }
        }
        out
    }

    /// The window's length in seconds (counter rates divide by it).
    pub fn seconds(&self) -> u32 {
        self.seconds
    }
}

#[cfg(test)]
mod tests {
    use super::super::builtin;
    use super::super::thresholds::Aggregation;
    use super::*;

    #[test]
    fn only_the_last_seconds_count() {
        let tags = Tags::new();
        let id = tags.intern(vec![("status".into(), "200".into())]);
        let other = tags.intern(vec![("status".into(), "500".into())]);
        let mut w = Window::new(
            builtin::HTTP_REQ_DURATION,
            MetricKind::Trend,
            vec![("status".into(), "200".into())],
            2,
        );
        let s = |value: f64, at: u32, tags: TagSetId| Sample {
            metric: builtin::HTTP_REQ_DURATION,
            tags,
            value,
            at,
        };
        w.add(&s(1000.0, 100, id), &tags); // second 0: slow
        w.add(&s(5.0, 2100, id), &tags); // second 2
        w.add(&s(7.0, 3900, id), &tags); // second 3
        w.add(&s(9000.0, 3900, other), &tags); // filtered out
        let v = w.value(3).unwrap();
        assert_eq!(
            v.aggregate(Aggregation::Max, 2.0),
            Some(7.0),
            "seconds 2 and 3 only"
        );
        w.add(&s(6.0, 5100, id), &tags); // second 5: seconds before 2 are no longer needed
        let all = w.value(1).map(|v| v.aggregate(Aggregation::Max, 2.0));
        assert_eq!(
            all, None,
            "second 0 was dropped once the window moved past it"
        );
    }
}
