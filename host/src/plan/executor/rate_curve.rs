//! Start times of arrival-rate iterations (k6's open model): `rate` iterations per `time_unit`,
//! constant or piecewise-linear between stage targets. Iteration starts do not depend on
//! earlier iterations finishing.

use std::time::Duration;

use crate::plan::Stage;

/// A rate curve: iterations per `time_unit`, starting at `start_rate`, then linear to each
/// stage's target over its duration.
#[derive(Debug, Clone, PartialEq)]
pub struct RateCurve {
    time_unit: f64,
    /// (duration s, from rate/s, to rate/s) per segment of the curve.
    pieces: Vec<(f64, f64, f64)>,
    /// Whether the first iteration starts at t = 0 (constant-arrival-rate) or when the
    /// integral first reaches 1 (ramping-arrival-rate).
    start_at_zero: bool,
    /// Sum of the pieces' durations, seconds.
    total: f64,
}

impl RateCurve {
    /// constant-arrival-rate: `rate` per `time_unit` for `duration`; iterations at 0, T/r, 2T/r,
    /// ... up to and including `duration` (as k6 does).
    pub fn constant(rate: u64, time_unit: Duration, duration: Duration) -> Self {
        let per_s = rate as f64 / time_unit.as_secs_f64();
        RateCurve {
            time_unit: time_unit.as_secs_f64(),
            pieces: vec![(duration.as_secs_f64(), per_s, per_s)],
            start_at_zero: true,
            total: duration.as_secs_f64(),
        }
    }

    /// ramping-arrival-rate: iteration n (1-based) starts when the integral of the rate reaches n.
    pub fn ramping(start_rate: u64, time_unit: Duration, stages: &[Stage]) -> Self {
        let tu = time_unit.as_secs_f64();
        let mut from = start_rate as f64 / tu;
        let pieces = stages
            .iter()
            .map(|s| {
                let to = f64::from(s.target) / tu;
                let piece = (s.duration.as_secs_f64(), from, to);
                from = to;
                piece
            })
            .collect::<Vec<_>>();
        RateCurve {
            time_unit: tu,
            total: pieces.iter().map(|p| p.0).sum(),
            pieces,
            start_at_zero: false,
        }
    }

    /// Total length of the curve.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.total)
    }

    /// The highest rate on the curve, per time unit.
    pub fn peak_rate(&self) -> f64 {
        self.pieces
            .iter()
            .flat_map(|p| [p.1, p.2])
            .fold(0.0, f64::max)
            * self.time_unit
    }

    /// Start offsets of every iteration, in order (global index 0, 1, 2, ...).
    pub fn starts(&self) -> Starts<'_> {
        Starts {
            curve: self,
            next: if self.start_at_zero { 0 } else { 1 },
            piece: 0,
            piece_start: 0.0,
            integral_before: 0.0,
        }
    }
}

/// Iterator over iteration start offsets.
#[derive(Debug, Clone)]
pub struct Starts<'a> {
    curve: &'a RateCurve,
    next: u64,
    piece: usize,
    piece_start: f64,
    integral_before: f64,
}

impl Iterator for Starts<'_> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let target = self.next as f64;
        while let Some(&(d, r0, r1)) = self.curve.pieces.get(self.piece) {
            let area = (r0 + r1) / 2.0 * d;
            // The tolerance keeps float error from skipping an iteration at a piece border.
            if d > 0.0 && target <= self.integral_before + area + 1e-9 {
                // Solve r0·t + k·t² = x for t in this piece (stable for rising and falling rates).
                let x = (target - self.integral_before).max(0.0);
                let k = (r1 - r0) / (2.0 * d);
                let denom = r0 + (r0 * r0 + 4.0 * k * x).max(0.0).sqrt();
                let t = if denom > 0.0 { 2.0 * x / denom } else { 0.0 };
                let at = self.piece_start + t.min(d);
                // As k6: an iteration due exactly at the end still starts (4/s for 2 s starts 9).
                if at > self.curve.total + 1e-9 {
                    return None;
                }
                self.next += 1;
                return Some(Duration::from_secs_f64(at));
            }
            self.integral_before += area;
            self.piece_start += d;
            self.piece += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(it: impl Iterator<Item = Duration>) -> Vec<f64> {
        it.map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0)
            .collect()
    }

    #[test]
    fn constant_rate_is_evenly_spaced_from_zero() {
        // k6 v1.1.0 runs 9 iterations for 4/s over 2 s: both ends included.
        let c = RateCurve::constant(4, Duration::from_secs(1), Duration::from_secs(2));
        assert_eq!(
            secs(c.starts()),
            vec![0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
        );
        let per_minute = RateCurve::constant(30, Duration::from_secs(60), Duration::from_secs(10));
        assert_eq!(per_minute.starts().count(), 6);
    }

    #[test]
    fn ramping_starts_where_the_integral_reaches_each_iteration() {
        // k6: 0 → 1/s over 5 s starts iterations at 3.162 s and 4.472 s.
        let stages = [Stage {
            duration: Duration::from_secs(5),
            target: 1,
        }];
        let c = RateCurve::ramping(0, Duration::from_secs(1), &stages);
        assert_eq!(secs(c.starts()), vec![3.162, 4.472]);
    }

    #[test]
    fn ramping_hold_and_down() {
        let stages = [
            Stage {
                duration: Duration::from_secs(2),
                target: 10,
            },
            Stage {
                duration: Duration::from_secs(2),
                target: 0,
            },
        ];
        let c = RateCurve::ramping(10, Duration::from_secs(1), &stages);
        let starts: Vec<Duration> = c.starts().collect();
        assert_eq!(starts.len(), 30, "20 in the hold + 10 in the ramp down");
        assert!(starts.windows(2).all(|w| w[0] <= w[1]));
        assert!((starts[0].as_secs_f64() - 0.1).abs() < 1e-9);
        assert!(starts.last().unwrap().as_secs_f64() <= 4.0);
        assert_eq!(c.peak_rate(), 10.0);
    }
}
