//! k6's `ramping-arrival-rate`: the rate of iteration starts follows stages (open model), on
//! VUs taken from a pool that may grow.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    arrival_vus, count, ser_ms, stages, time_unit, vu_range, Drive, Key, OptionError, RateCurve,
    Schedule, StageOpt, Unknown,
};
use crate::duration::{format_duration, Dur};
use crate::plan::Stage;

/// Its options as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Options {
    /// Rate at the start (default 0).
    #[serde(alias = "startRate")]
    pub start_rate: Option<i64>,
    /// The rate's time unit (default 1s).
    #[serde(alias = "timeUnit")]
    pub time_unit: Option<Dur>,
    /// The ramp; targets are iterations per time unit.
    pub stages: Option<Vec<StageOpt>>,
    /// VUs initialised before the start (required).
    #[serde(alias = "preAllocatedVUs")]
    pub pre_allocated_vus: Option<i64>,
    /// VUs the pool may grow to (default: pre-allocated).
    #[serde(alias = "maxVUs")]
    pub max_vus: Option<i64>,
    /// Keys that are not its options.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// The arrival rate follows `stages` (targets in iterations per `time_unit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RampingArrivalRate {
    /// Rate at the start.
    pub start_rate: u64,
    /// The rate's time unit.
    #[serde(serialize_with = "ser_ms", rename = "time_unit_ms")]
    pub time_unit: Duration,
    /// The ramp.
    pub stages: Vec<Stage>,
    /// VUs initialised before the start.
    pub pre_allocated_vus: u32,
    /// VUs the executor may grow to.
    pub max_vus: u32,
}

impl Options {
    /// Validates the options.
    pub fn resolve(&self, key: &Key) -> Result<RampingArrivalRate, OptionError> {
        let (pre_allocated_vus, max_vus) = arrival_vus(key, self.pre_allocated_vus, self.max_vus)?;
        Ok(RampingArrivalRate {
            start_rate: count(key, "start-rate", self.start_rate, 0, 0)?,
            time_unit: time_unit(key, self.time_unit)?,
            stages: stages(key, self.stages.as_deref())?,
            pre_allocated_vus,
            max_vus,
        })
    }
}

impl RampingArrivalRate {
    fn curve(&self) -> RateCurve {
        RateCurve::ramping(self.start_rate, self.time_unit, &self.stages)
    }
}

impl Schedule for RampingArrivalRate {
    fn max_vus(&self) -> u32 {
        self.max_vus
    }

    fn initial_vus(&self) -> u32 {
        self.pre_allocated_vus
    }

    fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    fn drive(&self) -> Drive {
        Drive::Open(self.curve())
    }

    fn describe(&self, stop: &str) -> String {
        format!(
            "Up to {:.2} iterations/s for {} over {} stages (maxVUs: {}, {stop})",
            self.curve().peak_rate() / self.time_unit.as_secs_f64(),
            format_duration(self.duration()),
            self.stages.len(),
            vu_range(self.pre_allocated_vus, self.max_vus)
        )
    }
}
