//! k6's `shared-iterations`: a number of iterations shared among VUs, each taken by whichever
//! VU is free.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    count, digits, ser_ms, vus_count, Closed, Drive, Iterations, Key, OptionError, Schedule,
    Unknown, DEFAULT_MAX_DURATION,
};
use crate::duration::{format_duration, Dur};

/// Its options as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Options {
    /// VUs (default 1).
    pub vus: Option<i64>,
    /// Total iterations (default 1; at least `vus`).
    pub iterations: Option<i64>,
    /// Time limit (default 10m).
    #[serde(alias = "maxDuration")]
    pub max_duration: Option<Dur>,
    /// Keys that are not its options.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `iterations` iterations shared among `vus` VUs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharedIterations {
    /// VUs.
    pub vus: u32,
    /// Total iterations.
    pub iterations: u64,
    /// Time limit.
    #[serde(serialize_with = "ser_ms", rename = "max_duration_ms")]
    pub max_duration: Duration,
}

impl Options {
    /// Validates the options.
    pub fn resolve(&self, key: &Key) -> Result<SharedIterations, OptionError> {
        let vus = vus_count(key, "vus", self.vus, 1, 1)?;
        let iterations = count(key, "iterations", self.iterations, 1, 1)?;
        let max_duration = max_duration(key, self.max_duration)?;
        if iterations < u64::from(vus) {
            return Err(key.error(
                "iterations",
                format!(
                    "{iterations} iterations cannot be shared among {vus} VUs (iterations must be >= vus)"
                ),
            ));
        }
        Ok(SharedIterations {
            vus,
            iterations,
            max_duration,
        })
    }
}

/// The `max-duration` of an iteration-counting executor (default 10m, at least 1s).
pub(super) fn max_duration(key: &Key, d: Option<Dur>) -> Result<Duration, OptionError> {
    let d = d.map_or(DEFAULT_MAX_DURATION, |d| d.0);
    if d < Duration::from_secs(1) {
        return Err(key.error("max-duration", "must be at least 1s"));
    }
    Ok(d)
}

impl Schedule for SharedIterations {
    fn max_vus(&self) -> u32 {
        self.vus
    }

    fn duration(&self) -> Duration {
        self.max_duration
    }

    fn drive(&self) -> Drive {
        Drive::Closed(Closed::Iterations {
            budget: Iterations::Shared(self.iterations),
            max_duration: self.max_duration,
        })
    }

    fn describe(&self, stop: &str) -> String {
        format!(
            "{} iterations shared among {} VUs (maxDuration: {}, {stop})",
            self.iterations,
            self.vus,
            format_duration(self.max_duration)
        )
    }

    fn progress(&self, done: u64, planned: u64, _elapsed: f64) -> (f64, String) {
        (
            done as f64 / planned.max(1) as f64,
            format!("  {done:0w$}/{planned} shared iters", w = digits(planned)),
        )
    }
}
