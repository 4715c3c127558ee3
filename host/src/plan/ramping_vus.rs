//! k6's ramping-vus interpolation (`getRawExecutionSteps`): the exact times at which the VU
//! count changes, one VU at a time, computed in integer nanoseconds as k6 does.

use std::time::Duration;

use super::{Stage, Step};

/// The planned VU count over time for `start_vus` followed by `stages`, one entry per change
/// (the first entry is at 0). Consecutive entries always differ.
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
