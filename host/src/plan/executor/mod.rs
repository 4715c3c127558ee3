//! k6's executors. Each file here owns one executor: its options as written, their
//! validation, and its schedule (VUs, duration, banner line, progress and how the engine
//! drives it). Adding one: a file, a variant in [`ExecutorOpt`] and in [`Executor`]; the
//! compiler then names every `match` that needs an arm.

pub mod constant_arrival_rate;
pub mod constant_vus;
pub mod externally_controlled;
pub mod per_vu_iterations;
pub mod ramping_arrival_rate;
pub mod ramping_vus;
pub mod rate_curve;
pub mod shared_iterations;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::{Stage, Step};
use crate::duration::Dur;
pub use constant_arrival_rate::ConstantArrivalRate;
pub use constant_vus::ConstantVus;
pub use externally_controlled::ExternallyControlled;
pub use per_vu_iterations::PerVuIterations;
pub use ramping_arrival_rate::RampingArrivalRate;
pub use ramping_vus::RampingVus;
pub use rate_curve::RateCurve;
pub use shared_iterations::SharedIterations;

/// The most VUs one scenario may plan (before it is split into execution segments).
pub const MAX_VUS: u32 = 10_000_000;

/// k6's default `gracefulStop` and `gracefulRampDown`.
pub const DEFAULT_GRACEFUL: Duration = Duration::from_secs(30);

/// k6's default `maxDuration` of the iteration-counting executors.
const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(600);

/// An executor's options as written (k6's `executor` key picks the variant).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "executor", rename_all = "kebab-case")]
pub enum ExecutorOpt {
    /// `constant-vus`.
    ConstantVus(constant_vus::Options),
    /// `ramping-vus`.
    RampingVus(ramping_vus::Options),
    /// `shared-iterations`.
    SharedIterations(shared_iterations::Options),
    /// `per-vu-iterations`.
    PerVuIterations(per_vu_iterations::Options),
    /// `constant-arrival-rate`.
    ConstantArrivalRate(constant_arrival_rate::Options),
    /// `ramping-arrival-rate`.
    RampingArrivalRate(ramping_arrival_rate::Options),
    /// `externally-controlled`.
    ExternallyControlled(externally_controlled::Options),
}

impl ExecutorOpt {
    /// Every executor's name, as written in `executor = "..."`.
    pub const NAMES: [&'static str; 7] = [
        "constant-vus",
        "ramping-vus",
        "shared-iterations",
        "per-vu-iterations",
        "constant-arrival-rate",
        "ramping-arrival-rate",
        "externally-controlled",
    ];

    /// Validates the options into an executor; `key` names the scenario in errors.
    pub fn resolve(&self, key: &Key) -> Result<Executor, OptionError> {
        let (name, unknown) = match self {
            ExecutorOpt::ConstantVus(o) => (Self::NAMES[0], &o.unknown),
            ExecutorOpt::RampingVus(o) => (Self::NAMES[1], &o.unknown),
            ExecutorOpt::SharedIterations(o) => (Self::NAMES[2], &o.unknown),
            ExecutorOpt::PerVuIterations(o) => (Self::NAMES[3], &o.unknown),
            ExecutorOpt::ConstantArrivalRate(o) => (Self::NAMES[4], &o.unknown),
            ExecutorOpt::RampingArrivalRate(o) => (Self::NAMES[5], &o.unknown),
            ExecutorOpt::ExternallyControlled(o) => (Self::NAMES[6], &o.unknown),
        };
        if let Some(field) = unknown.keys().next() {
            return Err(key.error(field, format!("not an option of executor {name}")));
        }
        Ok(match self {
            ExecutorOpt::ConstantVus(o) => Executor::ConstantVus(o.resolve(key)?),
            ExecutorOpt::RampingVus(o) => Executor::RampingVus(o.resolve(key)?),
            ExecutorOpt::SharedIterations(o) => Executor::SharedIterations(o.resolve(key)?),
            ExecutorOpt::PerVuIterations(o) => Executor::PerVuIterations(o.resolve(key)?),
            ExecutorOpt::ConstantArrivalRate(o) => Executor::ConstantArrivalRate(o.resolve(key)?),
            ExecutorOpt::RampingArrivalRate(o) => Executor::RampingArrivalRate(o.resolve(key)?),
            ExecutorOpt::ExternallyControlled(o) => Executor::ExternallyControlled(o.resolve(key)?),
        })
    }
}

/// Keys a scenario table carries that its executor does not know (named in the error).
pub type Unknown = BTreeMap<String, IgnoredAny>;

/// A validated executor (k6 names and semantics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "executor", rename_all = "kebab-case")]
pub enum Executor {
    /// `vus` VUs loop for `duration`.
    ConstantVus(ConstantVus),
    /// The VU count follows stages.
    RampingVus(RampingVus),
    /// Iterations shared among VUs.
    SharedIterations(SharedIterations),
    /// Each VU runs the same number of iterations.
    PerVuIterations(PerVuIterations),
    /// A constant rate of iteration starts (open model).
    ConstantArrivalRate(ConstantArrivalRate),
    /// A rate of iteration starts that follows stages (open model).
    RampingArrivalRate(RampingArrivalRate),
    /// Looping VUs scaled at run time through the control API.
    ExternallyControlled(ExternallyControlled),
}

impl Executor {
    /// The executor's schedule.
    pub fn schedule(&self) -> &dyn Schedule {
        match self {
            Executor::ConstantVus(e) => e,
            Executor::RampingVus(e) => e,
            Executor::SharedIterations(e) => e,
            Executor::PerVuIterations(e) => e,
            Executor::ConstantArrivalRate(e) => e,
            Executor::RampingArrivalRate(e) => e,
            Executor::ExternallyControlled(e) => e,
        }
    }
}

/// What an executor plans, as pure functions of its options.
pub trait Schedule {
    /// The most VUs it ever needs.
    fn max_vus(&self) -> u32;
    /// VUs initialised before it starts (the rest are created on demand).
    fn initial_vus(&self) -> u32 {
        self.max_vus()
    }
    /// Its nominal duration (without graceful stop).
    fn duration(&self) -> Duration;
    /// The planned VU count over time: all VUs from the start to the end unless it ramps.
    fn steps(&self) -> Vec<Step> {
        vec![
            Step {
                at: Duration::ZERO,
                vus: self.max_vus(),
            },
            Step {
                at: self.duration(),
                vus: 0,
            },
        ]
    }
    /// Whether `gracefulStop` applies to it.
    fn graceful_stop_applies(&self) -> bool {
        true
    }
    /// How the engine runs it.
    fn drive(&self) -> Drive;
    /// The line k6 prints for it in the banner; `stop` is the `gracefulStop: ...` part.
    fn describe(&self, stop: &str) -> String;
    /// The progress line's fraction done and extra text, from the iterations done, the
    /// iterations this process plans (iteration executors) and the elapsed fraction of time.
    fn progress(&self, _done: u64, _planned: u64, elapsed: f64) -> (f64, String) {
        (elapsed, String::new())
    }
}

/// How the engine runs a scenario.
#[derive(Debug, Clone, PartialEq)]
pub enum Drive {
    /// VUs loop (closed model): the next iteration starts when the last ends.
    Closed(Closed),
    /// Iterations start on a rate curve whether or not earlier ones finished (open model).
    Open(RateCurve),
}

/// How the VUs of a closed-model scenario are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Every VU loops for this long.
    For(Duration),
    /// VUs follow the planned steps; a VU a ramp-down removes gets `graceful_ramp_down`.
    Steps {
        /// Time a removed VU gets to finish its iteration.
        graceful_ramp_down: Duration,
    },
    /// VUs run until their iterations are done or `max_duration` passes.
    Iterations {
        /// How the iterations are counted.
        budget: Iterations,
        /// Time limit.
        max_duration: Duration,
    },
    /// The VU count is set at run time (`volley scale`); zero duration runs until stopped.
    External {
        /// VUs at the start.
        vus: u32,
        /// Most VUs.
        max_vus: u32,
        /// How long.
        duration: Duration,
    },
}

/// How many iterations a closed-model scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iterations {
    /// This many in total, taken by whichever VU is free.
    Shared(u64),
    /// This many per VU.
    PerVu(u64),
}

/// An executor option that is missing, out of range or not the executor's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct OptionError {
    /// Dotted key, e.g. `scenarios.load.rate`.
    pub key: String,
    /// What was wrong.
    pub reason: String,
}

/// Where a scenario's options are written, for error keys (`scenarios.NAME`).
#[derive(Debug, Clone)]
pub struct Key(String);

impl Key {
    /// The key of scenario `name`.
    pub fn scenario(name: &str) -> Self {
        Key(format!("scenarios.{name}"))
    }

    /// An error about the scenario itself.
    pub fn whole(&self, reason: impl Into<String>) -> OptionError {
        OptionError {
            key: self.0.clone(),
            reason: reason.into(),
        }
    }

    /// An error about one of the scenario's fields.
    pub fn error(&self, field: &str, reason: impl Into<String>) -> OptionError {
        OptionError {
            key: format!("{}.{field}", self.0),
            reason: reason.into(),
        }
    }
}

/// One stage of a ramp as written: reach `target` over `duration`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StageOpt {
    /// How long the stage lasts.
    pub duration: Dur,
    /// VUs (or iterations per time unit) at the end of the stage.
    pub target: i64,
}

/// A count of at least `min` (`default` when not written).
fn count(
    key: &Key,
    field: &str,
    v: Option<i64>,
    default: i64,
    min: i64,
) -> Result<u64, OptionError> {
    let v = v.unwrap_or(default);
    if v < min {
        return Err(key.error(field, format!("must be at least {min}, got {v}")));
    }
    Ok(v as u64)
}

/// A VU count of at least `min`, at most [`MAX_VUS`].
fn vus_count(
    key: &Key,
    field: &str,
    v: Option<i64>,
    default: i64,
    min: i64,
) -> Result<u32, OptionError> {
    let n = count(key, field, v, default, min)?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_VUS)
        .ok_or_else(|| key.error(field, format!("{n} is more than {MAX_VUS} VUs")))
}

/// A required value.
fn required<T: Copy>(key: &Key, field: &str, v: Option<T>) -> Result<T, OptionError> {
    v.ok_or_else(|| key.error(field, "is required"))
}

/// A required duration of at least one second.
fn at_least_1s(key: &Key, field: &str, d: Option<Dur>) -> Result<Duration, OptionError> {
    let d = required(key, field, d)?.0;
    if d < Duration::from_secs(1) {
        return Err(key.error(field, "must be at least 1s"));
    }
    Ok(d)
}

/// An arrival rate's time unit (default 1s).
fn time_unit(key: &Key, t: Option<Dur>) -> Result<Duration, OptionError> {
    let t = t.map_or(Duration::from_secs(1), |d| d.0);
    if t.is_zero() {
        return Err(key.error("time-unit", "must be greater than 0"));
    }
    Ok(t)
}

/// An arrival-rate executor's pre-allocated and most VUs.
fn arrival_vus(key: &Key, pre: Option<i64>, max: Option<i64>) -> Result<(u32, u32), OptionError> {
    let pre = required(key, "pre-allocated-vus", pre)?;
    let pre = vus_count(key, "pre-allocated-vus", Some(pre), 0, 0)?;
    let max = vus_count(key, "max-vus", max, i64::from(pre), 0)?;
    if max < pre {
        return Err(key.error(
            "max-vus",
            format!("{max} is less than pre-allocated-vus ({pre})"),
        ));
    }
    Ok((pre, max))
}

/// A ramp's stages; targets are VU counts or rates, at most [`MAX_VUS`].
fn stages(key: &Key, stages: Option<&[StageOpt]>) -> Result<Vec<Stage>, OptionError> {
    let stages = stages.unwrap_or_default();
    if stages.is_empty() {
        return Err(key.error("stages", "at least one stage is required"));
    }
    stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let target = u32::try_from(s.target)
                .ok()
                .filter(|t| *t <= MAX_VUS)
                .ok_or_else(|| {
                    key.error(
                        &format!("stages[{i}].target"),
                        format!("must be 0..={MAX_VUS}, got {}", s.target),
                    )
                })?;
            Ok(Stage {
                duration: s.duration.0,
                target,
            })
        })
        .collect()
}

/// `1-2` for pre-allocated and max VUs, or `2` when they are equal.
/// Decimal digits of `n`: iteration counts on the progress line are zero-padded to the total's
/// width, as k6 pads them, so the line does not jump about.
fn digits(n: u64) -> usize {
    n.max(1).ilog10() as usize + 1
}

fn vu_range(pre: u32, max: u32) -> String {
    if pre == max {
        max.to_string()
    } else {
        format!("{pre}-{max}")
    }
}

/// Serialises a duration as whole milliseconds (`volley inspect`).
pub(crate) fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_the_serde_tag_of_its_variant() {
        for (i, name) in ExecutorOpt::NAMES.iter().enumerate() {
            let table: toml::Table =
                toml::from_str(&format!("executor = \"{name}\"\nnope = 1")).expect("valid TOML");
            let opt = ExecutorOpt::deserialize(toml::Value::Table(table)).expect(name);
            let err = opt.resolve(&Key::scenario("s")).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("scenarios.s.nope: not an option of executor {name}"),
                "NAMES[{i}]"
            );
        }
    }
}
