//! k6's `per-vu-iterations`: each VU runs the same number of iterations.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::shared_iterations::max_duration;
use super::{
    count, digits, ser_ms, vus_count, Closed, Drive, Iterations, Key, OptionError, Schedule,
    Unknown,
};
use crate::duration::{format_duration, Dur};

/// Its options as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Options {
    /// VUs (default 1).
    pub vus: Option<i64>,
    /// Iterations per VU (default 1).
    pub iterations: Option<i64>,
    /// Time limit (default 10m).
    #[serde(alias = "maxDuration")]
    pub max_duration: Option<Dur>,
    /// Keys that are not its options.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// Each of `vus` VUs runs `iterations` iterations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PerVuIterations {
    /// VUs.
    pub vus: u32,
    /// Iterations per VU.
    pub iterations: u64,
    /// Time limit.
    #[serde(serialize_with = "ser_ms", rename = "max_duration_ms")]
    pub max_duration: Duration,
}

impl Options {
    /// Validates the options.
    pub fn resolve(&self, key: &Key) -> Result<PerVuIterations, OptionError> {
        Ok(PerVuIterations {
            vus: vus_count(key, "vus", self.vus, 1, 1)?,
            iterations: count(key, "iterations", self.iterations, 1, 1)?,
            max_duration: max_duration(key, self.max_duration)?,
        })
    }
}

impl Schedule for PerVuIterations {
    fn max_vus(&self) -> u32 {
        self.vus
    }

    fn duration(&self) -> Duration {
        self.max_duration
    }

    fn drive(&self) -> Drive {
        Drive::Closed(Closed::Iterations {
            budget: Iterations::PerVu(self.iterations),
            max_duration: self.max_duration,
        })
    }

    fn describe(&self, stop: &str) -> String {
        format!(
            "{} iterations for each of {} VUs (maxDuration: {}, {stop})",
            self.iterations,
            self.vus,
            format_duration(self.max_duration)
        )
    }

    fn progress(&self, done: u64, planned: u64, _elapsed: f64) -> (f64, String) {
        (
            done as f64 / planned.max(1) as f64,
            format!(
                "  {done:0w$}/{planned} iters, {} per VU",
                self.iterations,
                w = digits(planned)
            ),
        )
    }
}
