//! k6's `constant-arrival-rate`: iterations start at a fixed rate whether or not earlier ones
//! finished (open model), on VUs taken from a pool that may grow.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    arrival_vus, at_least_1s, count, required, ser_ms, time_unit, vu_range, Drive, Key,
    OptionError, RateCurve, Schedule, Unknown,
};
use crate::duration::{format_duration, Dur};

/// Its options as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Options {
    /// Iterations per time unit (required, at least 1).
    pub rate: Option<i64>,
    /// The rate's time unit (default 1s).
    #[serde(alias = "timeUnit")]
    pub time_unit: Option<Dur>,
    /// How long (at least 1s).
    pub duration: Option<Dur>,
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

/// `rate` iterations per `time_unit` for `duration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConstantArrivalRate {
    /// Iterations per time unit.
    pub rate: u64,
    /// The rate's time unit.
    #[serde(serialize_with = "ser_ms", rename = "time_unit_ms")]
    pub time_unit: Duration,
    /// How long.
    #[serde(serialize_with = "ser_ms", rename = "duration_ms")]
    pub duration: Duration,
    /// VUs initialised before the start.
    pub pre_allocated_vus: u32,
    /// VUs the executor may grow to.
    pub max_vus: u32,
}

impl Options {
    /// Validates the options.
    pub fn resolve(&self, key: &Key) -> Result<ConstantArrivalRate, OptionError> {
        let (pre_allocated_vus, max_vus) = arrival_vus(key, self.pre_allocated_vus, self.max_vus)?;
        let rate = required(key, "rate", self.rate)?;
        Ok(ConstantArrivalRate {
            rate: count(key, "rate", Some(rate), 1, 1)?,
            time_unit: time_unit(key, self.time_unit)?,
            duration: at_least_1s(key, "duration", self.duration)?,
            pre_allocated_vus,
            max_vus,
        })
    }
}

impl ConstantArrivalRate {
    fn per_second(&self) -> f64 {
        self.rate as f64 / self.time_unit.as_secs_f64()
    }
}

impl Schedule for ConstantArrivalRate {
    fn max_vus(&self) -> u32 {
        self.max_vus
    }

    fn initial_vus(&self) -> u32 {
        self.pre_allocated_vus
    }

    fn duration(&self) -> Duration {
        self.duration
    }

    fn drive(&self) -> Drive {
        Drive::Open(RateCurve::constant(
            self.rate,
            self.time_unit,
            self.duration,
        ))
    }

    fn describe(&self, stop: &str) -> String {
        format!(
            "{:.2} iterations/s for {} (maxVUs: {}, {stop})",
            self.per_second(),
            format_duration(self.duration),
            vu_range(self.pre_allocated_vus, self.max_vus)
        )
    }

    fn progress(&self, _done: u64, _planned: u64, elapsed: f64) -> (f64, String) {
        (elapsed, format!("  {:.2} iters/s", self.per_second()))
    }
}
