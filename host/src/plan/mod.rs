//! Execution plans: what each scenario's executor does and when, as pure functions of the
//! configuration. Testable without running anything; printed by `volley inspect`.

pub mod ramping_vus;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::config::duration::format_duration;

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
}

/// A named scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scenario {
    /// Its name (the `scenario` tag).
    pub name: String,
    /// What runs.
    #[serde(flatten)]
    pub executor: Executor,
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
        }
    }

    /// The executor's nominal duration (without graceful stop).
    pub fn nominal_duration(&self) -> Duration {
        match &self.executor {
            Executor::ConstantVus { duration, .. } => *duration,
            Executor::RampingVus { stages, .. } => stages.iter().map(|s| s.duration).sum(),
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
        }
    }
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}
