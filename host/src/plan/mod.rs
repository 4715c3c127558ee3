//! Execution plans: what each scenario's executor does and when, as pure functions of the
//! configuration. Testable without running anything; printed by `volley inspect`.

pub mod executor;
mod scenario;
pub mod segment;

use std::time::Duration;

use serde::Serialize;

use executor::ser_ms;
pub use executor::{Executor, ExecutorOpt, StageOpt};
pub use scenario::{Scenario, ScenarioOpt};

/// One stage of a ramp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// Length of the stage.
    #[serde(serialize_with = "ser_ms", rename = "duration_ms")]
    pub duration: Duration,
    /// VU count reached at its end.
    pub target: u32,
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
