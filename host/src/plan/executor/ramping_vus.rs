//! k6's `ramping-vus`: the VU count follows stages, one VU at a time, at the exact times k6
//! computes; a VU a ramp-down removes gets `gracefulRampDown` to finish its iteration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    ser_ms, stages, vus_count, Closed, Drive, Key, OptionError, Schedule, StageOpt, Unknown,
    DEFAULT_GRACEFUL,
};
use crate::duration::{format_duration, Dur};
use crate::plan::{Stage, Step};

/// Its options as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Options {
    /// VUs at the start (default 1).
    #[serde(alias = "startVUs")]
    pub start_vus: Option<i64>,
    /// The ramp.
    pub stages: Option<Vec<StageOpt>>,
    /// Time a VU removed by a ramp-down gets to finish its iteration (default 30s).
    #[serde(alias = "gracefulRampDown")]
    pub graceful_ramp_down: Option<Dur>,
    /// Keys that are not its options.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// The VU count follows `stages`, starting from `start_vus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RampingVus {
    /// VUs at the start.
    pub start_vus: u32,
    /// The ramp.
    pub stages: Vec<Stage>,
    /// Time a VU removed by a ramp-down gets to finish its iteration.
    #[serde(serialize_with = "ser_ms", rename = "graceful_ramp_down_ms")]
    pub graceful_ramp_down: Duration,
}

impl Options {
    /// Validates the options.
    pub fn resolve(&self, key: &Key) -> Result<RampingVus, OptionError> {
        Ok(RampingVus {
            start_vus: vus_count(key, "start-vus", self.start_vus, 1, 0)?,
            stages: stages(key, self.stages.as_deref())?,
            graceful_ramp_down: self.graceful_ramp_down.map_or(DEFAULT_GRACEFUL, |d| d.0),
        })
    }
}

impl Schedule for RampingVus {
    fn max_vus(&self) -> u32 {
        self.stages
            .iter()
            .map(|s| s.target)
            .fold(self.start_vus, u32::max)
    }

    fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    fn steps(&self) -> Vec<Step> {
        raw_steps(self.start_vus, &self.stages)
    }

    fn drive(&self) -> Drive {
        Drive::Closed(Closed::Steps {
            graceful_ramp_down: self.graceful_ramp_down,
        })
    }

    fn describe(&self, stop: &str) -> String {
        format!(
            "Up to {} looping VUs for {} over {} stages (gracefulRampDown: {}, {stop})",
            self.max_vus(),
            format_duration(self.duration()),
            self.stages.len(),
            format_duration(self.graceful_ramp_down)
        )
    }
}

/// k6's interpolation (`getRawExecutionSteps`): the planned VU count over time for `start_vus`
/// followed by `stages`, one entry per change (the first at 0), one VU at a time, in integer
/// nanoseconds as k6 computes it. Consecutive entries always differ.
pub fn raw_steps(start_vus: u32, stages: &[Stage]) -> Vec<Step> {
    let mut steps = vec![Step {
        at: Duration::ZERO,
        vus: start_vus,
    }];
    let mut push = |at_ns: i128, vus: u32| {
        let at = Duration::from_nanos(at_ns.max(0) as u64);
        match steps.last_mut() {
            Some(last) if last.vus == vus => {}
            Some(last) if last.at == at => last.vus = vus,
            _ => steps.push(Step { at, vus }),
        }
        // A change back to the previous count at the same instant collapses to nothing.
        if steps.len() >= 2 {
            let n = steps.len();
            if steps[n - 1].vus == steps[n - 2].vus {
                steps.pop();
            }
        }
    };
    let mut from = start_vus as i128;
    let mut end_ns: i128 = 0;
    for stage in stages {
        let d = stage.duration.as_nanos() as i128;
        let target = stage.target as i128;
        end_ns += d;
        if d == 0 {
            push(end_ns, stage.target);
        } else if target > from {
            let diff = target - from;
            for u in from + 1..=target {
                // Go's integer division truncates toward zero, as Rust's does.
                push(end_ns - d * (target - u) / diff, u as u32);
            }
        } else if target < from {
            let diff = target - from;
            for u in (target + 1..=from).rev() {
                push(end_ns - d * (target - u + 1) / diff, (u - 1) as u32);
            }
        }
        from = target;
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(secs: u64, target: u32) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            target,
        }
    }

    fn secs(steps: &[Step]) -> Vec<(f64, u32)> {
        steps.iter().map(|s| (s.at.as_secs_f64(), s.vus)).collect()
    }

    #[test]
    fn ramp_up_from_zero_starts_one_vu_per_second() {
        let steps = raw_steps(0, &[st(10, 10)]);
        let expected: Vec<(f64, u32)> = std::iter::once((0.0, 0))
            .chain((1..=10).map(|u| (u as f64, u)))
            .collect();
        assert_eq!(secs(&steps), expected);
    }

    #[test]
    fn ramp_down_stops_highest_vus_first() {
        let steps = raw_steps(10, &[st(10, 0)]);
        let expected: Vec<(f64, u32)> = std::iter::once((0.0, 10))
            .chain((1..=10).map(|i| (i as f64, 10 - i)))
            .collect();
        assert_eq!(secs(&steps), expected);
    }

    #[test]
    fn partial_ramp_from_start_vus() {
        // startVUs 3 → 5 over 2 s: VU4 at 1 s, VU5 at 2 s.
        assert_eq!(
            secs(&raw_steps(3, &[st(2, 5)])),
            vec![(0.0, 3), (1.0, 4), (2.0, 5)]
        );
    }

    #[test]
    fn k6_worked_example() {
        // From k6's ramping_vus_test.go.
        let stages = [
            st(2, 6),
            st(5, 1),
            st(4, 5),
            st(4, 1),
            st(3, 4),
            st(2, 4),
            st(0, 1),
            st(3, 1),
        ];
        let expected = vec![
            (0.0, 4),
            (1.0, 5),
            (2.0, 6),
            (3.0, 5),
            (4.0, 4),
            (5.0, 3),
            (6.0, 2),
            (7.0, 1),
            (8.0, 2),
            (9.0, 3),
            (10.0, 4),
            (11.0, 5),
            (12.0, 4),
            (13.0, 3),
            (14.0, 2),
            (15.0, 1),
            (16.0, 2),
            (17.0, 3),
            (18.0, 4),
            (20.0, 1),
        ];
        assert_eq!(secs(&raw_steps(4, &stages)), expected);
    }

    #[test]
    fn uneven_ramp_truncates_like_go() {
        // 0 → 3 over 1 s: VU u starts at 1s − 1s·(3−u)/3, truncated to whole nanoseconds.
        let steps = raw_steps(0, &[st(1, 3)]);
        assert_eq!(steps[1].at, Duration::from_nanos(333_333_334));
        assert_eq!(steps[2].at, Duration::from_nanos(666_666_667));
        assert_eq!(steps[3].at, Duration::from_secs(1));
    }

    #[test]
    fn monte_carlo_profile() {
        let steps = raw_steps(1, &[st(120, 100), st(360, 400), st(120, 0)]);
        assert_eq!(steps.first().unwrap().vus, 1);
        assert_eq!(steps.iter().map(|s| s.vus).max(), Some(400));
        let last = steps.last().unwrap();
        assert_eq!((last.at, last.vus), (Duration::from_secs(600), 0));
    }
}
