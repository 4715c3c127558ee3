//! k6's `constant-vus`: a fixed number of VUs loop for a duration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{at_least_1s, ser_ms, vus_count, Closed, Drive, Key, OptionError, Schedule, Unknown};
use crate::duration::{format_duration, Dur};

/// Its options as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Options {
    /// VUs (default 1).
    pub vus: Option<i64>,
    /// How long (at least 1s).
    pub duration: Option<Dur>,
    /// Keys that are not its options.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `vus` VUs loop for `duration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConstantVus {
    /// VUs.
    pub vus: u32,
    /// How long.
    #[serde(serialize_with = "ser_ms", rename = "duration_ms")]
    pub duration: Duration,
}

impl Options {
    /// Validates the options.
    pub fn resolve(&self, key: &Key) -> Result<ConstantVus, OptionError> {
        Ok(ConstantVus {
            vus: vus_count(key, "vus", self.vus, 1, 1)?,
            duration: at_least_1s(key, "duration", self.duration)?,
        })
    }
}

impl Schedule for ConstantVus {
    fn max_vus(&self) -> u32 {
        self.vus
    }

    fn duration(&self) -> Duration {
        self.duration
    }

    fn drive(&self) -> Drive {
        Drive::Closed(Closed::For(self.duration))
    }

    fn describe(&self, stop: &str) -> String {
        format!(
            "{} looping VUs for {} ({stop})",
            self.vus,
            format_duration(self.duration)
        )
    }
}
