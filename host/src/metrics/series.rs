//! Per-second aggregates of the headline metrics (VUs, requests, failures, checks, iterations,
//! latency percentiles) for the HTML report. Memory stays bounded: a few numbers per second,
//! and a latency histogram only for the last few seconds that may still receive samples.

use std::collections::BTreeMap;

use super::{builtin, MetricId, MetricValue, Sample, Trend};

/// Seconds kept open for late samples (buffers are merged every 250 ms).
const OPEN_SECONDS: u32 = 3;

/// One second of the test.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Point {
    /// Seconds since the start.
    pub second: u32,
    /// Active VUs (last sample in the second).
    pub vus: f64,
    /// Requests finished.
    pub requests: u64,
    /// Of which failed (`http_req_failed`).
    pub failed: u64,
    /// Checks that passed.
    pub checks_passed: u64,
    /// All checks.
    pub checks: u64,
    /// Iterations completed.
    pub iterations: u64,
    /// Request duration percentiles (ms).
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// The series.
#[derive(Debug, Default)]
pub struct Series {
    open: BTreeMap<u32, (Point, Trend)>,
    closed: Vec<Point>,
    last_vus: f64,
}

impl Series {
    /// Adds one sample to its second.
    pub fn add(&mut self, s: &Sample) {
        self.in_second(s.at / 1000, |point, latency| match s.metric {
            m if m == builtin::VUS => point.vus = s.value,
            m if m == builtin::HTTP_REQS => point.requests += 1,
            m if m == builtin::HTTP_REQ_FAILED => point.failed += u64::from(s.value != 0.0),
            m if m == builtin::CHECKS => {
                point.checks += 1;
                point.checks_passed += u64::from(s.value != 0.0);
            }
            m if m == builtin::ITERATIONS => point.iterations += 1,
            m if m == builtin::HTTP_REQ_DURATION => latency.record(s.value),
            _ => {}
        });
    }

    /// Adds an aggregated change of `metric` (a shard's delta) to `second`: the same as adding
    /// the samples it was made of.
    pub fn merge(&mut self, second: u32, metric: MetricId, value: &MetricValue) {
        self.in_second(second, |point, latency| match value {
            MetricValue::Gauge { last, .. } if metric == builtin::VUS => point.vus = *last,
            MetricValue::Counter { sum } if metric == builtin::HTTP_REQS => {
                point.requests += *sum as u64;
            }
            MetricValue::Rate { nonzero, .. } if metric == builtin::HTTP_REQ_FAILED => {
                point.failed += nonzero;
            }
            MetricValue::Rate { nonzero, total } if metric == builtin::CHECKS => {
                point.checks += total;
                point.checks_passed += nonzero;
            }
            MetricValue::Counter { sum } if metric == builtin::ITERATIONS => {
                point.iterations += *sum as u64;
            }
            MetricValue::Trend(t) if metric == builtin::HTTP_REQ_DURATION => latency.merge(t),
            _ => {}
        });
    }

    /// Applies `f` to `second`'s point and latency (a closed second's late data goes to the
    /// oldest open one), then closes the seconds no longer open.
    fn in_second(&mut self, second: u32, f: impl FnOnce(&mut Point, &mut Trend)) {
        let newest_closed = self.closed.last().map(|p| p.second);
        let late = newest_closed.is_some_and(|c| c >= second);
        let second = match newest_closed {
            Some(c) if late => c + 1,
            _ => second,
        };
        let (point, latency) = self.open.entry(second).or_insert_with(|| {
            (
                Point {
                    second,
                    ..Point::default()
                },
                Trend::new(),
            )
        });
        f(point, latency);
        if late {
            return;
        }
        let newest = self.open.keys().next_back().copied().unwrap_or(0);
        while let Some((&oldest, _)) = self.open.iter().next() {
            if oldest + OPEN_SECONDS > newest {
                break;
            }
            self.close(oldest);
        }
    }

    fn close(&mut self, second: u32) {
        let Some((mut point, latency)) = self.open.remove(&second) else {
            return;
        };
        // Gaps between closed seconds are filled with empty seconds carrying the VU count.
        let next = self.closed.last().map_or(0, |p| p.second + 1);
        for gap in next..second {
            self.closed.push(Point {
                second: gap,
                vus: self.last_vus,
                ..Point::default()
            });
        }
        if point.vus == 0.0 {
            point.vus = self.last_vus;
        }
        self.last_vus = point.vus;
        point.p50 = latency.percentile(50.0);
        point.p90 = latency.percentile(90.0);
        point.p95 = latency.percentile(95.0);
        point.p99 = latency.percentile(99.0);
        self.closed.push(point);
    }

    /// The newest closed second (it lags the clock by the seconds kept open).
    pub fn latest(&self) -> Option<Point> {
        self.closed.last().copied()
    }

    /// The series so far without closing anything: the closed seconds, then the open ones but
    /// the newest (still filling), as they would close now. For a live view during the run.
    pub fn snapshot(&self) -> Vec<Point> {
        let mut copy = Series {
            open: self.open.clone(),
            closed: self.closed.clone(),
            last_vus: self.last_vus,
        };
        copy.open.pop_last();
        copy.finish()
    }

    /// Closes every open second and returns the whole series.
    pub fn finish(&mut self) -> Vec<Point> {
        let open: Vec<u32> = self.open.keys().copied().collect();
        for second in open {
            self.close(second);
        }
        self.closed.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::TagSetId;
    use super::*;

    fn sample(metric: MetricId, value: f64, at: u32) -> Sample {
        Sample {
            metric,
            tags: TagSetId(0),
            value,
            at,
        }
    }

    #[test]
    fn buckets_by_second_with_percentiles_and_gaps() {
        let mut s = Series::default();
        for i in 0..100 {
            s.add(&sample(builtin::HTTP_REQS, 1.0, 10 * i));
            s.add(&sample(
                builtin::HTTP_REQ_DURATION,
                f64::from(i + 1),
                10 * i,
            ));
        }
        s.add(&sample(builtin::VUS, 5.0, 500));
        s.add(&sample(builtin::HTTP_REQ_FAILED, 1.0, 3_500));
        s.add(&sample(builtin::CHECKS, 1.0, 3_600));
        s.add(&sample(builtin::CHECKS, 0.0, 3_700));
        let points = s.finish();
        assert_eq!(points.len(), 4, "seconds 0..=3, with 1 and 2 filled in");
        assert_eq!(s.latest(), Some(points[3]));
        assert_eq!(points[0].requests, 100);
        assert!((points[0].p95 - 95.0).abs() <= 0.1, "{}", points[0].p95);
        assert_eq!(points[1].vus, 5.0, "gaps carry the VU count");
        assert_eq!(
            (points[3].failed, points[3].checks, points[3].checks_passed),
            (1, 2, 1)
        );
    }

    /// A live view must not close seconds early: a late sample for a second the snapshot
    /// showed still lands in that second, and the newest (filling) second is left out.
    #[test]
    fn snapshot_leaves_open_seconds_open() {
        let mut s = Series::default();
        s.add(&sample(builtin::HTTP_REQS, 1.0, 100));
        s.add(&sample(builtin::HTTP_REQS, 1.0, 1_100));
        let seen = s.snapshot();
        assert_eq!(seen.len(), 1, "second 1 is still filling: {seen:?}");
        assert_eq!(seen[0].requests, 1);
        s.add(&sample(builtin::HTTP_REQS, 1.0, 200));
        let points = s.finish();
        assert_eq!(points[0].requests, 2, "the late sample joined second 0");
        assert_eq!(points[1].requests, 1);
    }
}
