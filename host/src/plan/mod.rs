//! Execution plans: what each scenario's executor does and when, as pure functions of the
//! configuration. Testable without running anything; printed by `volley inspect`.

pub mod arrival_rate;
pub mod ramping_vus;
pub mod segment;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::duration::format_duration;
use segment::ExecutionTuple;

/// One stage of a ramp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// Length of the stage.
    #[serde(serialize_with = "ser_ms", rename = "duration_ms")]
    pub duration: Duration,
    /// VU count reached at its end.
    pub target: u32,
}

/// An executor with its options (k6 names and semantics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "executor", rename_all = "kebab-case")]
pub enum Executor {
    /// `vus` VUs loop for `duration`.
    ConstantVus {
        /// VUs.
        vus: u32,
        /// How long.
        #[serde(serialize_with = "ser_ms", rename = "duration_ms")]
        duration: Duration,
    },
    /// The VU count follows `stages`, starting from `start_vus`.
    RampingVus {
        /// VUs at the start.
        start_vus: u32,
        /// The ramp.
        stages: Vec<Stage>,
        /// Time a VU removed by a ramp-down gets to finish its iteration.
        #[serde(serialize_with = "ser_ms", rename = "graceful_ramp_down_ms")]
        graceful_ramp_down: Duration,
    },
    /// `iterations` iterations shared among `vus` VUs.
    SharedIterations {
        /// VUs.
        vus: u32,
        /// Total iterations.
        iterations: u64,
        /// Time limit.
        #[serde(serialize_with = "ser_ms", rename = "max_duration_ms")]
        max_duration: Duration,
    },
    /// Each of `vus` VUs runs `iterations` iterations.
    PerVuIterations {
        /// VUs.
        vus: u32,
        /// Iterations per VU.
        iterations: u64,
        /// Time limit.
        #[serde(serialize_with = "ser_ms", rename = "max_duration_ms")]
        max_duration: Duration,
    },
    /// `rate` iterations per `time_unit` for `duration`, whether or not earlier ones finished.
    ConstantArrivalRate {
        /// Iterations per time unit.
        rate: u64,
        /// The rate's time unit.
        #[serde(serialize_with = "ser_ms", rename = "time_unit_ms")]
        time_unit: Duration,
        /// How long.
        #[serde(serialize_with = "ser_ms", rename = "duration_ms")]
        duration: Duration,
        /// VUs initialised before the start.
        pre_allocated_vus: u32,
        /// VUs the executor may grow to.
        max_vus: u32,
    },
    /// The arrival rate follows `stages` (targets in iterations per `time_unit`).
    RampingArrivalRate {
        /// Rate at the start.
        start_rate: u64,
        /// The rate's time unit.
        #[serde(serialize_with = "ser_ms", rename = "time_unit_ms")]
        time_unit: Duration,
        /// The ramp.
        stages: Vec<Stage>,
        /// VUs initialised before the start.
        pre_allocated_vus: u32,
        /// VUs the executor may grow to.
        max_vus: u32,
    },
    /// `vus` looping VUs, changed at run time through the control API (`volley scale`).
    ExternallyControlled {
        /// VUs at the start.
        vus: u32,
        /// Most VUs it can be scaled to.
        max_vus: u32,
        /// How long; zero runs until stopped.
        #[serde(serialize_with = "ser_ms", rename = "duration_ms")]
        duration: Duration,
    },
}

/// A named scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scenario {
    /// Its name (the `scenario` tag).
    pub name: String,
    /// What runs.
    #[serde(flatten)]
    pub executor: Executor,
    /// The entry point its iterations run (k6's `exec`; `default` is the `iteration` export).
    pub exec: String,
    /// Offset from the start of the test.
    #[serde(serialize_with = "ser_ms", rename = "start_time_ms")]
    pub start_time: Duration,
    /// Time running iterations get to finish at the end.
    #[serde(serialize_with = "ser_ms", rename = "graceful_stop_ms")]
    pub graceful_stop: Duration,
    /// Extra variables for this scenario.
    pub env: BTreeMap<String, String>,
    /// Extra tags for this scenario's samples.
    pub tags: BTreeMap<String, String>,
}

/// A change of the planned VU count at an offset from the scenario start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Offset from the scenario start.
    #[serde(serialize_with = "ser_ms", rename = "at_ms")]
    pub at: Duration,
    /// Planned VUs from then on.
    pub vus: u32,
}

impl Scenario {
    /// The most VUs this scenario ever needs.
    pub fn max_vus(&self) -> u32 {
        match &self.executor {
            Executor::ConstantVus { vus, .. }
            | Executor::SharedIterations { vus, .. }
            | Executor::PerVuIterations { vus, .. } => *vus,
            Executor::RampingVus {
                start_vus, stages, ..
            } => stages.iter().map(|s| s.target).fold(*start_vus, u32::max),
            Executor::ConstantArrivalRate { max_vus, .. }
            | Executor::RampingArrivalRate { max_vus, .. }
            | Executor::ExternallyControlled { max_vus, .. } => *max_vus,
        }
    }

    /// VUs initialised before the scenario starts (the rest are created on demand).
    pub fn initial_vus(&self) -> u32 {
        match &self.executor {
            Executor::ConstantArrivalRate {
                pre_allocated_vus, ..
            }
            | Executor::RampingArrivalRate {
                pre_allocated_vus, ..
            } => *pre_allocated_vus,
            _ => self.max_vus(),
        }
    }

    /// The rate curve of an arrival-rate scenario.
    pub fn rate_curve(&self) -> Option<arrival_rate::RateCurve> {
        match &self.executor {
            Executor::ConstantArrivalRate {
                rate,
                time_unit,
                duration,
                ..
            } => Some(arrival_rate::RateCurve::constant(
                *rate, *time_unit, *duration,
            )),
            Executor::RampingArrivalRate {
                start_rate,
                time_unit,
                stages,
                ..
            } => Some(arrival_rate::RateCurve::ramping(
                *start_rate,
                *time_unit,
                stages,
            )),
            _ => None,
        }
    }

    /// The executor's nominal duration (without graceful stop).
    pub fn nominal_duration(&self) -> Duration {
        match &self.executor {
            Executor::ConstantVus { duration, .. }
            | Executor::ConstantArrivalRate { duration, .. }
            | Executor::ExternallyControlled { duration, .. } => *duration,
            Executor::RampingVus { stages, .. } | Executor::RampingArrivalRate { stages, .. } => {
                stages.iter().map(|s| s.duration).sum()
            }
            Executor::SharedIterations { max_duration, .. }
            | Executor::PerVuIterations { max_duration, .. } => *max_duration,
        }
    }

    /// Latest end of this scenario, from the test start, including graceful stop.
    pub fn max_end(&self) -> Duration {
        self.start_time + self.nominal_duration() + self.graceful_stop
    }

    /// The planned VU count over time (ramping-vus: k6's exact steps; others: start and end).
    pub fn steps(&self) -> Vec<Step> {
        match &self.executor {
            Executor::RampingVus {
                start_vus, stages, ..
            } => ramping_vus::raw_steps(*start_vus, stages),
            _ => vec![
                Step {
                    at: Duration::ZERO,
                    vus: self.max_vus(),
                },
                Step {
                    at: self.nominal_duration(),
                    vus: 0,
                },
            ],
        }
    }

    /// This segment's share of the VUs created before the scenario starts.
    pub fn local_initial_vus(&self, t: &ExecutionTuple) -> u32 {
        scale32(t, self.initial_vus())
    }

    /// This segment's share of the most VUs the scenario needs.
    pub fn local_max_vus(&self, t: &ExecutionTuple) -> u32 {
        scale32(t, self.max_vus())
    }

    /// This segment's planned VU count over time. Ramping-vus: the single-run steps, each
    /// count replaced by how many of the first N global VUs this segment owns (k6's striping).
    pub fn local_steps(&self, t: &ExecutionTuple) -> Vec<Step> {
        let mut out: Vec<Step> = Vec::new();
        for step in self.steps() {
            let vus = scale32(t, step.vus);
            if out.last().is_none_or(|last| last.vus != vus) {
                out.push(Step { at: step.at, vus });
            }
        }
        out
    }

    /// This segment's share of a shared-iterations scenario's iterations (striped over the
    /// VU split, as k6 does); 0 for other executors.
    pub fn local_iterations(&self, t: &ExecutionTuple) -> u64 {
        match &self.executor {
            Executor::SharedIterations {
                vus, iterations, ..
            } => t.for_value(u64::from(*vus)).scale(*iterations),
            _ => 0,
        }
    }

    /// The tuple that decides which arrival-rate starts are this segment's (striped over the
    /// VU split, as k6 does).
    pub fn arrival_tuple(&self, t: &ExecutionTuple) -> ExecutionTuple {
        t.for_value(u64::from(self.max_vus()))
    }

    /// The one-line description k6 prints in its banner.
    pub fn description(&self) -> String {
        let stop = format!("gracefulStop: {}", format_duration(self.graceful_stop));
        match &self.executor {
            Executor::ConstantVus { vus, duration } => format!(
                "{vus} looping VUs for {} ({stop})",
                format_duration(*duration)
            ),
            Executor::RampingVus {
                stages,
                graceful_ramp_down,
                ..
            } => format!(
                "Up to {} looping VUs for {} over {} stages (gracefulRampDown: {}, {stop})",
                self.max_vus(),
                format_duration(self.nominal_duration()),
                stages.len(),
                format_duration(*graceful_ramp_down)
            ),
            Executor::SharedIterations {
                vus,
                iterations,
                max_duration,
            } => format!(
                "{iterations} iterations shared among {vus} VUs (maxDuration: {}, {stop})",
                format_duration(*max_duration)
            ),
            Executor::PerVuIterations {
                vus,
                iterations,
                max_duration,
            } => format!(
                "{iterations} iterations for each of {vus} VUs (maxDuration: {}, {stop})",
                format_duration(*max_duration)
            ),
            Executor::ConstantArrivalRate {
                rate,
                time_unit,
                duration,
                pre_allocated_vus,
                max_vus,
            } => format!(
                "{:.2} iterations/s for {} (maxVUs: {}, {stop})",
                *rate as f64 / time_unit.as_secs_f64(),
                format_duration(*duration),
                vu_range(*pre_allocated_vus, *max_vus)
            ),
            Executor::RampingArrivalRate {
                time_unit,
                stages,
                pre_allocated_vus,
                max_vus,
                ..
            } => format!(
                "Up to {:.2} iterations/s for {} over {} stages (maxVUs: {}, {stop})",
                self.rate_curve().map_or(0.0, |c| c.peak_rate()) / time_unit.as_secs_f64(),
                format_duration(self.nominal_duration()),
                stages.len(),
                vu_range(*pre_allocated_vus, *max_vus)
            ),
            Executor::ExternallyControlled {
                vus,
                max_vus,
                duration,
            } => format!(
                "Externally controlled execution with {vus} VUs, {max_vus} max VUs, {} duration",
                if duration.is_zero() {
                    "infinite".to_string()
                } else {
                    format_duration(*duration)
                }
            ),
        }
    }
}

fn scale32(t: &ExecutionTuple, n: u32) -> u32 {
    u32::try_from(t.scale(u64::from(n))).unwrap_or(n)
}

/// `1-2` for pre-allocated and max VUs, or `2` when they are equal.
fn vu_range(pre: u32, max: u32) -> String {
    if pre == max {
        max.to_string()
    } else {
        format!("{pre}-{max}")
    }
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}
