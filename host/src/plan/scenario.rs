//! A named scenario: the keys every executor shares (start time, graceful stop, exec, env,
//! tags) around one executor, as written and validated.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::executor::{
    ser_ms, Closed, Drive, Executor, ExecutorOpt, Iterations, Key, OptionError, DEFAULT_GRACEFUL,
};
use super::segment::ExecutionTuple;
use super::Step;
use crate::duration::{format_duration, Dur};

/// One named scenario as written, k6's `options.scenarios.NAME`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioOpt {
    /// The executor and its own options.
    pub executor: ExecutorOpt,
    /// Offset from the test start.
    pub start_time: Option<Dur>,
    /// Time running iterations get to finish when the scenario ends.
    pub graceful_stop: Option<Dur>,
    /// Entry point (default `default`).
    pub exec: Option<String>,
    /// Extra `-e` variables for this scenario.
    pub env: Option<BTreeMap<String, String>>,
    /// Extra tags for this scenario's samples.
    pub tags: Option<BTreeMap<String, String>>,
}

impl ScenarioOpt {
    /// A scenario of `executor` with nothing else set.
    pub fn of(executor: ExecutorOpt) -> Self {
        ScenarioOpt {
            executor,
            start_time: None,
            graceful_stop: None,
            exec: None,
            env: None,
            tags: None,
        }
    }
}

impl<'de> Deserialize<'de> for ScenarioOpt {
    /// The shared keys, then the rest by the `executor` tag; an unknown executor is named
    /// with the list of known ones.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;

        #[derive(Deserialize)]
        #[serde(rename_all = "kebab-case")]
        struct Shared {
            executor: String,
            #[serde(alias = "startTime")]
            start_time: Option<Dur>,
            #[serde(alias = "gracefulStop")]
            graceful_stop: Option<Dur>,
            exec: Option<String>,
            env: Option<BTreeMap<String, String>>,
            tags: Option<BTreeMap<String, String>>,
            #[serde(flatten)]
            own: toml::Table,
        }
        let Shared {
            executor,
            start_time,
            graceful_stop,
            exec,
            env,
            tags,
            own,
        } = Shared::deserialize(d)?;
        if !ExecutorOpt::NAMES.contains(&executor.as_str()) {
            return Err(D::Error::custom(format!(
                "unknown executor '{executor}' (expected {})",
                ExecutorOpt::NAMES.join(", ")
            )));
        }
        let tagged = |mut t: toml::Table| {
            t.insert("executor".into(), toml::Value::String(executor.clone()));
            ExecutorOpt::deserialize(toml::Value::Table(t))
        };
        let executor = tagged(own.clone()).map_err(|e| {
            // The tagged enum buffers the table, so its error lost the key: find it.
            let key = own.iter().find_map(|(k, v)| {
                tagged(toml::Table::from_iter([(k.clone(), v.clone())]))
                    .is_err()
                    .then_some(k)
            });
            match key {
                Some(key) => D::Error::custom(format!("{key}: {}", e.message())),
                None => D::Error::custom(e.message()),
            }
        })?;
        Ok(ScenarioOpt {
            executor,
            start_time,
            graceful_stop,
            exec,
            env,
            tags,
        })
    }
}

/// A named scenario, validated.
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

impl Scenario {
    /// Validates scenario `name` as written.
    pub fn resolve(name: &str, s: &ScenarioOpt) -> Result<Scenario, OptionError> {
        let key = Key::scenario(name);
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(key.whole("scenario names may only contain letters, digits, '_' and '-'"));
        }
        let executor = s.executor.resolve(&key)?;
        let schedule = executor.schedule();
        if !schedule.graceful_stop_applies() && s.graceful_stop.is_some() {
            return Err(key.error(
                "graceful-stop",
                "not an option of executor externally-controlled",
            ));
        }
        let exec = s.exec.clone().unwrap_or_else(|| "default".to_string());
        if exec.is_empty() {
            return Err(key.error("exec", "must not be empty"));
        }
        if schedule.max_vus() == 0 {
            return Err(key.whole("never runs a VU (every VU count is 0)"));
        }
        let graceful_stop = if schedule.graceful_stop_applies() {
            s.graceful_stop.map_or(DEFAULT_GRACEFUL, |d| d.0)
        } else {
            Duration::ZERO
        };
        Ok(Scenario {
            name: name.to_string(),
            executor,
            exec,
            start_time: s.start_time.map_or(Duration::ZERO, |d| d.0),
            graceful_stop,
            env: s.env.clone().unwrap_or_default(),
            tags: s.tags.clone().unwrap_or_default(),
        })
    }

    /// How the engine runs it.
    pub fn drive(&self) -> Drive {
        self.executor.schedule().drive()
    }

    /// The most VUs this scenario ever needs.
    pub fn max_vus(&self) -> u32 {
        self.executor.schedule().max_vus()
    }

    /// VUs initialised before the scenario starts (the rest are created on demand).
    pub fn initial_vus(&self) -> u32 {
        self.executor.schedule().initial_vus()
    }

    /// The executor's nominal duration (without graceful stop).
    pub fn nominal_duration(&self) -> Duration {
        self.executor.schedule().duration()
    }

    /// Latest end of this scenario, from the test start, including graceful stop.
    pub fn max_end(&self) -> Duration {
        self.start_time + self.nominal_duration() + self.graceful_stop
    }

    /// The planned VU count over time (ramping-vus: k6's exact steps; others: start and end).
    pub fn steps(&self) -> Vec<Step> {
        self.executor.schedule().steps()
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

    /// The iterations this segment runs: its share of shared iterations (striped over the VU
    /// split, as k6 does), or per-VU iterations times its VUs; 0 when the executor does not
    /// count iterations.
    pub fn local_iterations(&self, t: &ExecutionTuple) -> u64 {
        match self.drive() {
            Drive::Closed(Closed::Iterations { budget, .. }) => match budget {
                Iterations::Shared(n) => t.for_value(u64::from(self.max_vus())).scale(n),
                Iterations::PerVu(n) => n * u64::from(self.local_max_vus(t)),
            },
            Drive::Closed(Closed::For(_) | Closed::Steps { .. } | Closed::External { .. })
            | Drive::Open(_) => 0,
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
        self.executor.schedule().describe(&stop)
    }

    /// The progress line's fraction done and extra text.
    pub fn progress(&self, done: u64, planned: u64, elapsed: f64) -> (f64, String) {
        self.executor.schedule().progress(done, planned, elapsed)
    }
}

fn scale32(t: &ExecutionTuple, n: u32) -> u32 {
    u32::try_from(t.scale(u64::from(n))).unwrap_or(n)
}
