//! The test-wide aggregate: one value per (metric, tag set), filled from the VUs' sample
//! buffers on a timer, queried for thresholds and the summary.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Instant, SystemTime};

use super::cap::{self, Refusal, SeriesCaps};
use super::series::{Point, Series};
use super::tags::matches;
use super::value::MetricValue;
use super::window::Window;
use super::{MetricId, Registry, Sample, SampleBuffer, TagSetId, Tags};
use crate::logging::{self, Level};

/// How long [`Aggregate::collect`] merges before it offers its core to another thread.
const COLLECT_SLICE: std::time::Duration = std::time::Duration::from_micros(200);

/// One value per series, and the limits on how many series there are.
#[derive(Debug, Default)]
struct Values {
    map: HashMap<(MetricId, TagSetId), MetricValue>,
    caps: SeriesCaps,
}

impl Values {
    /// Adds `s` to its series; `false` when it was dropped (a limit was reached).
    fn add(&mut self, s: &Sample, metrics: &Registry) -> bool {
        if s.tags == TagSetId::OVERFLOW {
            self.caps.refuse();
            return false;
        }
        match self.map.entry((s.metric, s.tags)) {
            Entry::Occupied(mut e) => e.get_mut().add(s.value),
            Entry::Vacant(e) => {
                if !self.caps.admit(s.metric) {
                    return false;
                }
                e.insert(MetricValue::new(metrics.def(s.metric).kind))
                    .add(s.value);
            }
        }
        true
    }

    /// Merges `v` into the series (`metric`, `set`); `false` when it was dropped (a limit).
    fn merge(&mut self, metric: MetricId, set: TagSetId, v: &MetricValue) -> bool {
        if set == TagSetId::OVERFLOW {
            self.caps.refuse();
            return false;
        }
        match self.map.entry((metric, set)) {
            Entry::Occupied(mut e) => e.get_mut().merge(v),
            Entry::Vacant(e) => {
                if !self.caps.admit(metric) {
                    return false;
                }
                e.insert(v.clone());
            }
        }
        true
    }

    /// Warns once per refusal seen since the last call, naming the tag that varies most.
    fn warn_new(&mut self, tags: &Tags, metrics: &Registry) {
        let new = self.caps.take_new();
        if new.is_empty() {
            return;
        }
        let sets = tags.all();
        for refusal in new {
            let varied = match refusal {
                Refusal::Metric(m) => cap::most_varied(
                    self.map
                        .keys()
                        .filter(|(metric, _)| *metric == m)
                        .filter_map(|(_, t)| sets.get(t.0 as usize)),
                ),
                Refusal::Run => cap::most_varied(sets.iter()),
            };
            logging::host(Level::Warn, &cap::warning(refusal, varied, metrics));
        }
    }
}

/// All of a test's metrics: the VU buffers and the aggregate they are merged into.
#[derive(Debug)]
pub struct Aggregate {
    tags: Tags,
    metrics: Registry,
    buffers: Mutex<Vec<Arc<SampleBuffer>>>,
    values: Mutex<Values>,
    start: Instant,
    wall_start: SystemTime,
    /// Streaming outputs: every merged batch is also sent to each (never blocking).
    outputs: Mutex<Vec<mpsc::Sender<Arc<Vec<Sample>>>>>,
    /// Per-second headline figures, kept only when something (the HTML report) asked for them.
    series: Mutex<Option<Series>>,
    /// Trackers for windowed thresholds.
    windows: Mutex<Vec<Window>>,
    /// In a shard: each series' change since the last [`Aggregate::take_deltas`].
    deltas: Mutex<Option<HashMap<(MetricId, TagSetId), MetricValue>>>,
    /// In a shard whose coordinator streams every sample: the samples since the last
    /// [`Aggregate::take_samples`].
    samples: Mutex<Option<Vec<Sample>>>,
}

/// The change of one series: what its samples since the last look add up to.
pub type Delta = (MetricId, TagSetId, MetricValue);

impl Aggregate {
    /// An empty aggregate using `tags` to resolve tag sets and `metrics` (the test's) to
    /// resolve metrics.
    pub fn new(tags: Tags, metrics: Registry) -> Arc<Self> {
        Arc::new(Aggregate {
            tags,
            metrics,
            buffers: Mutex::default(),
            values: Mutex::default(),
            start: Instant::now(),
            wall_start: SystemTime::now(),
            outputs: Mutex::default(),
            series: Mutex::default(),
            windows: Mutex::default(),
            deltas: Mutex::default(),
            samples: Mutex::default(),
        })
    }

    /// The monotonic and wall-clock instants sample times (`Sample::at`) count from.
    pub fn origin(&self) -> (Instant, SystemTime) {
        (self.start, self.wall_start)
    }

    /// Milliseconds since the aggregate started, for `Sample::at`.
    pub fn now_ms(&self) -> u32 {
        ms_since(self.start)
    }

    /// Sends every batch merged from now on to `tx` as well.
    pub fn add_output(&self, tx: mpsc::Sender<Arc<Vec<Sample>>>) {
        lock(&self.outputs).push(tx);
    }

    /// Closes the outputs' channels, so their writers finish. Called once at the end of the run,
    /// so it also reports the samples the series limits dropped.
    pub fn close_outputs(&self) {
        lock(&self.outputs).clear();
        if let Some(report) = self.drop_report() {
            logging::host(Level::Warn, &report);
        }
    }

    /// Samples dropped because a series limit was reached.
    pub fn dropped_samples(&self) -> u64 {
        lock(&self.values).caps.dropped()
    }

    /// The end-of-run line about dropped samples (`None` when nothing was dropped).
    fn drop_report(&self) -> Option<String> {
        let values = lock(&self.values);
        let total = values.caps.dropped();
        let by: Vec<String> = values
            .caps
            .dropped_by_metric(&self.metrics)
            .iter()
            .map(|(name, n)| format!("{name}: {n}"))
            .collect();
        (total > 0).then(|| {
            format!(
                "{total} metric samples were dropped by the tag-set limits ({})",
                by.join(", ")
            )
        })
    }

    /// Starts keeping the per-second series (off by default: it costs a little per sample).
    pub fn keep_series(&self) {
        lock(&self.series).get_or_insert_with(Series::default);
    }

    /// The newest closed second of the series, if it is kept.
    pub fn latest_second(&self) -> Option<Point> {
        lock(&self.series).as_ref().and_then(Series::latest)
    }

    /// The per-second series so far (closing the seconds still open); empty unless kept.
    pub fn series(&self) -> Vec<Point> {
        lock(&self.series)
            .as_mut()
            .map(Series::finish)
            .unwrap_or_default()
    }

    /// The per-second series so far, leaving it open (see [`Series::snapshot`]); empty unless kept.
    pub fn series_so_far(&self) -> Vec<Point> {
        lock(&self.series)
            .as_ref()
            .map(Series::snapshot)
            .unwrap_or_default()
    }

    /// Starts tracking `metric` (with `filter`) over a window of `seconds`, for a windowed
    /// threshold. Tracking the same thing twice is one tracker.
    pub fn track_window(&self, metric: MetricId, filter: Vec<(String, String)>, seconds: u32) {
        let mut windows = lock(&self.windows);
        if !windows.iter().any(|w| w.is(metric, &filter, seconds)) {
            windows.push(Window::new(
                metric,
                self.metrics.def(metric).kind,
                filter,
                seconds,
            ));
        }
    }

    /// The value of a tracked window ending now (`None`: not tracked, or no samples in it).
    pub fn window_value(
        &self,
        metric: MetricId,
        filter: &[(String, String)],
        seconds: u32,
    ) -> Option<MetricValue> {
        let now = self.now_ms() / 1000;
        lock(&self.windows)
            .iter()
            .find(|w| w.is(metric, filter, seconds))
            .and_then(|w| w.value(now))
    }

    /// Starts keeping each series' change for [`Aggregate::take_deltas`] (a shard does, for its
    /// coordinator).
    pub fn track_deltas(&self) {
        lock(&self.deltas).get_or_insert_with(HashMap::new);
    }

    /// Each series' change since the last call (nothing unless [`Aggregate::track_deltas`]).
    pub fn take_deltas(&self) -> Vec<Delta> {
        lock(&self.deltas)
            .as_mut()
            .map(|d| d.drain().map(|((m, t), v)| (m, t, v)).collect())
            .unwrap_or_default()
    }

    /// Starts keeping every merged sample for [`Aggregate::take_samples`] (a shard does when its
    /// coordinator has streaming outputs).
    pub fn keep_samples(&self) {
        lock(&self.samples).get_or_insert_with(Vec::new);
    }

    /// The samples merged since the last call (nothing unless [`Aggregate::keep_samples`]).
    pub fn take_samples(&self) -> Vec<Sample> {
        lock(&self.samples)
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Sends samples recorded elsewhere (a shard's, in this aggregate's ids) to the streaming
    /// outputs only: their values arrive as deltas.
    pub fn stream_samples(&self, batch: &[Sample]) {
        self.to_outputs(batch);
    }

    /// Merges series changes (a shard's deltas, in this aggregate's ids) into the values, the
    /// per-second series and the windows, at the current second: the same as recording the
    /// samples they were made of.
    pub fn merge_deltas(&self, deltas: &[Delta]) {
        let mut values = lock(&self.values);
        let kept: Vec<&Delta> = deltas
            .iter()
            .filter(|(m, t, v)| values.merge(*m, *t, v))
            .collect();
        values.warn_new(&self.tags, &self.metrics);
        drop(values);
        let second = self.now_ms() / 1000;
        if let Some(series) = lock(&self.series).as_mut() {
            for (m, _, v) in &kept {
                series.merge(second, *m, v);
            }
        }
        for w in lock(&self.windows).iter_mut() {
            for (m, t, v) in &kept {
                w.merge(*m, *t, second, v, &self.tags);
            }
        }
    }

    /// Feeds a merged batch to the series, the windows and the streaming outputs.
    fn forward(&self, batch: &[Sample]) {
        if let Some(deltas) = lock(&self.deltas).as_mut() {
            for s in batch {
                deltas
                    .entry((s.metric, s.tags))
                    .or_insert_with(|| MetricValue::new(self.metrics.def(s.metric).kind))
                    .add(s.value);
            }
        }
        if let Some(samples) = lock(&self.samples).as_mut() {
            samples.extend_from_slice(batch);
        }
        if let Some(series) = lock(&self.series).as_mut() {
            for s in batch {
                series.add(s);
            }
        }
        let mut windows = lock(&self.windows);
        if !windows.is_empty() {
            for s in batch {
                for w in windows.iter_mut() {
                    w.add(s, &self.tags);
                }
            }
        }
        drop(windows);
        self.to_outputs(batch);
    }

    /// Sends a batch to every streaming output (never blocking).
    fn to_outputs(&self, batch: &[Sample]) {
        let outputs = lock(&self.outputs);
        if outputs.is_empty() || batch.is_empty() {
            return;
        }
        let shared = Arc::new(batch.to_vec());
        for tx in outputs.iter() {
            let _ = tx.send(shared.clone());
        }
    }

    /// The tag interner.
    pub fn tags(&self) -> &Tags {
        &self.tags
    }

    /// The test's metric definitions.
    pub fn metrics(&self) -> &Registry {
        &self.metrics
    }

    /// A new sample buffer for one VU, merged from now on by [`Aggregate::collect`].
    pub fn buffer(&self) -> Arc<SampleBuffer> {
        let b = SampleBuffer::new();
        lock(&self.buffers).push(b.clone());
        b
    }

    /// Records samples directly (engine-level samples such as `vus`).
    pub fn record(&self, samples: &[Sample]) {
        let mut kept = samples.to_vec();
        let mut values = lock(&self.values);
        kept.retain(|s| values.add(s, &self.metrics));
        values.warn_new(&self.tags, &self.metrics);
        drop(values);
        self.forward(&kept);
    }

    /// Drains every VU buffer into the aggregate. Called on a timer and at the end.
    ///
    /// A VU with nothing new (asleep, say) costs one lock: with 100,000 VUs this runs over
    /// every buffer four times a second.
    ///
    /// Every [`COLLECT_SLICE`] of merging it offers its core to a runnable thread
    /// (`sched_yield`): a VU worker on the same core would otherwise wait out the whole merge,
    /// a few ms at 20,000 iterations a second, and start its iterations that much late.
    pub fn collect(&self) {
        let buffers = lock(&self.buffers);
        let mut scratch = Vec::new();
        let mut values = lock(&self.values);
        let mut slice = Instant::now();
        for b in buffers.iter() {
            b.drain_into(&mut scratch);
            if scratch.is_empty() {
                continue;
            }
            scratch.retain(|s| values.add(s, &self.metrics));
            self.forward(&scratch);
            scratch.clear();
            if slice.elapsed() >= COLLECT_SLICE {
                std::thread::yield_now();
                slice = Instant::now();
            }
        }
        values.warn_new(&self.tags, &self.metrics);
    }

    /// The merged value of `metric` over every tag set that contains all of `filter`.
    /// `None` when no sample matched.
    pub fn value(&self, metric: MetricId, filter: &[(String, String)]) -> Option<MetricValue> {
        let sets = self.tags.all();
        let values = lock(&self.values);
        let mut out: Option<MetricValue> = None;
        for ((m, t), v) in values.map.iter() {
            if *m == metric
                && sets
                    .get(t.0 as usize)
                    .is_some_and(|set| matches(set, filter))
            {
                match &mut out {
                    Some(o) => o.merge(v),
                    None => out = Some(v.clone()),
                }
            }
        }
        out
    }

    /// Values of `metric` grouped by the value of tag `key` (e.g. checks by `check`), sorted.
    pub fn by_tag(&self, metric: MetricId, key: &str) -> Vec<(String, MetricValue)> {
        let sets = self.tags.all();
        let values = lock(&self.values);
        let mut out: Vec<(String, MetricValue)> = Vec::new();
        for ((m, t), v) in values.map.iter() {
            if *m != metric {
                continue;
            }
            let set = sets.get(t.0 as usize).map_or(&[][..], |s| &s[..]);
            let Some((_, tag)) = set.iter().find(|(k, _)| k == key) else {
                continue;
            };
            match out.iter_mut().find(|(name, _)| name == tag) {
                Some((_, o)) => o.merge(v),
                None => out.push((tag.clone(), v.clone())),
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// Milliseconds from `start` to now, saturating.
pub fn ms_since(start: Instant) -> u32 {
    u32::try_from(start.elapsed().as_millis()).unwrap_or(u32::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::super::thresholds::Aggregation;
    use super::super::{builtin, MetricKind};
    use super::*;

    #[test]
    fn merges_buffers_and_filters_by_tags() {
        let agg = Aggregate::new(Tags::new(), Registry::new());
        let ok = agg.tags().intern(vec![("status".into(), "200".into())]);
        let bad = agg.tags().intern(vec![("status".into(), "500".into())]);
        let (b1, b2) = (agg.buffer(), agg.buffer());
        b1.push(Sample {
            metric: builtin::HTTP_REQ_FAILED,
            tags: ok,
            value: 0.0,
            at: 0,
        });
        b2.push(Sample {
            metric: builtin::HTTP_REQ_FAILED,
            tags: bad,
            value: 1.0,
            at: 0,
        });
        b2.push(Sample {
            metric: builtin::HTTP_REQ_FAILED,
            tags: ok,
            value: 0.0,
            at: 0,
        });
        agg.collect();
        let all = agg.value(builtin::HTTP_REQ_FAILED, &[]).unwrap();
        assert_eq!(all.aggregate(Aggregation::Rate, 1.0), Some(1.0 / 3.0));
        let only_ok = agg
            .value(builtin::HTTP_REQ_FAILED, &[("status".into(), "200".into())])
            .unwrap();
        assert_eq!(only_ok.aggregate(Aggregation::Rate, 1.0), Some(0.0));
        assert!(agg.value(builtin::HTTP_REQS, &[]).is_none());
        // Buffers were drained: collecting again adds nothing.
        agg.collect();
        let again = agg.value(builtin::HTTP_REQ_FAILED, &[]).unwrap();
        assert!(matches!(again, MetricValue::Rate { total: 3, .. }));
    }

    #[test]
    fn counter_rate_uses_elapsed_seconds() {
        let mut v = MetricValue::new(MetricKind::Counter);
        v.add(10.0);
        assert_eq!(v.aggregate(Aggregation::Count, 5.0), Some(10.0));
        assert_eq!(v.aggregate(Aggregation::Rate, 5.0), Some(2.0));
        assert_eq!(v.aggregate(Aggregation::Avg, 5.0), None);
    }

    #[test]
    fn series_past_the_limit_are_dropped_counted_and_not_forwarded() {
        let agg = Aggregate::new(Tags::new(), Registry::new());
        let (tx, rx) = mpsc::channel();
        agg.add_output(tx);
        let b = agg.buffer();
        let n = cap::MAX_SERIES_PER_METRIC + 25;
        for i in 0..n {
            let tags = agg
                .tags()
                .intern(vec![("url".into(), format!("/items/{i}"))]);
            b.push(Sample {
                metric: builtin::HTTP_REQ_DURATION,
                tags,
                value: 1.0,
                at: 0,
            });
        }
        b.push(Sample {
            metric: builtin::HTTP_REQ_DURATION,
            tags: TagSetId::OVERFLOW,
            value: 1.0,
            at: 0,
        });
        agg.collect();
        assert_eq!(agg.dropped_samples(), 26);
        let forwarded: usize = rx.try_iter().map(|batch| batch.len()).sum();
        assert_eq!(forwarded, cap::MAX_SERIES_PER_METRIC);
        let all = agg.value(builtin::HTTP_REQ_DURATION, &[]).unwrap();
        let MetricValue::Trend(t) = all else {
            panic!("not a trend")
        };
        assert_eq!(t.count(), cap::MAX_SERIES_PER_METRIC as u64);
        let report = agg.drop_report().unwrap();
        assert!(
            report.starts_with("26 metric samples were dropped"),
            "{report}"
        );
        assert!(report.contains("http_req_duration: 25"), "{report}");
    }
}
