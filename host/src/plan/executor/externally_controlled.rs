//! k6's `externally-controlled`: looping VUs whose count is changed at run time through the
//! control API (`volley scale`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{required, ser_ms, vus_count, Closed, Drive, Key, OptionError, Schedule, Unknown};
use crate::duration::{format_duration, Dur};

/// Its options as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Options {
    /// VUs at the start (default 1).
    pub vus: Option<i64>,
    /// Most VUs it can be scaled to (default: `vus`).
    #[serde(alias = "maxVUs")]
    pub max_vus: Option<i64>,
    /// How long (required; 0s runs until stopped).
    pub duration: Option<Dur>,
    /// Keys that are not its options.
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `vus` looping VUs, changed at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternallyControlled {
    /// VUs at the start.
    pub vus: u32,
    /// Most VUs it can be scaled to.
    pub max_vus: u32,
    /// How long; zero runs until stopped.
    #[serde(serialize_with = "ser_ms", rename = "duration_ms")]
    pub duration: Duration,
}

impl Options {
    /// Validates the options.
    pub fn resolve(&self, key: &Key) -> Result<ExternallyControlled, OptionError> {
        let vus = vus_count(key, "vus", self.vus, 1, 0)?;
        let max_vus = vus_count(key, "max-vus", self.max_vus, i64::from(vus), 0)?;
        if max_vus < vus {
            return Err(key.error("max-vus", format!("{max_vus} is less than vus ({vus})")));
        }
        let duration = required(key, "duration", self.duration)
            .map_err(|_| key.error("duration", "is required (0s runs until stopped)"))?
            .0;
        Ok(ExternallyControlled {
            vus,
            max_vus,
            duration,
        })
    }
}

impl Schedule for ExternallyControlled {
    fn max_vus(&self) -> u32 {
        self.max_vus
    }

    fn duration(&self) -> Duration {
        self.duration
    }

    fn graceful_stop_applies(&self) -> bool {
        false
    }

    fn drive(&self) -> Drive {
        Drive::Closed(Closed::External {
            vus: self.vus,
            max_vus: self.max_vus,
            duration: self.duration,
        })
    }

    fn describe(&self, _stop: &str) -> String {
        format!(
            "Externally controlled execution with {} VUs, {} max VUs, {} duration",
            self.vus,
            self.max_vus,
            if self.duration.is_zero() {
                "infinite".to_string()
            } else {
                format_duration(self.duration)
            }
        )
    }
}
