//! What a run tells its VUs' `k6/execution` ([`crate::vu::RunView`]): scenario progress and
//! start times, this process's iteration and VU counters, the test's options, and the channel
//! `test.abort()` stops the run through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::Live;
use crate::config::TestConfig;
use crate::plan::executor::Drive;
use crate::plan::segment::ExecutionTuple;
use crate::plan::Scenario;
use crate::transport::{DEFAULT_BATCH, DEFAULT_BATCH_PER_HOST};
use crate::vu::{RunView, ScenarioRun, MARKED_AS_FAILED, MAX_FAIL_LOGS};

/// A run as its VUs see it.
pub struct RunState {
    scenarios: Vec<Scenario>,
    /// Per scenario: the tuple that numbers its iterations in the whole test.
    tuples: Vec<ExecutionTuple>,
    /// Per scenario: iterations this process plans (progress of iteration-based executors).
    planned: Vec<u64>,
    live: Live,
    /// The wall clock when the scenarios started, beside `live.started`.
    wall: OnceLock<SystemTime>,
    options: String,
    abort: watch::Sender<Option<String>>,
    /// Calls of `test.fail()` so far (the test is marked failed when there was one).
    failures: AtomicU64,
}

impl RunState {
    /// The view of `test` run as segment `tuple`, counting in `live`; also the receiver that
    /// yields the reason of the first `test.abort()`.
    pub fn new(
        test: &TestConfig,
        tuple: &ExecutionTuple,
        live: Live,
    ) -> (Arc<RunState>, watch::Receiver<Option<String>>) {
        let (abort, aborted) = watch::channel(None);
        let tuples = test
            .scenarios
            .iter()
            .map(|sc| match sc.drive() {
                Drive::Open(_) => sc.arrival_tuple(tuple),
                Drive::Closed(_) => tuple.clone(),
            })
            .collect();
        let run = RunState {
            scenarios: test.scenarios.clone(),
            tuples,
            planned: test
                .scenarios
                .iter()
                .map(|sc| sc.local_iterations(tuple))
                .collect(),
            live,
            wall: OnceLock::new(),
            options: options_json(test).to_string(),
            abort,
            failures: AtomicU64::new(0),
        };
        (Arc::new(run), aborted)
    }

    /// Marks the moment the scenarios start (`live.started` is set by the engine beside it).
    pub fn started_now(&self) {
        let _ = self.wall.set(SystemTime::now());
    }

    /// Whether the script called `test.fail()` (k6: the run then exits with code 110).
    pub fn marked_failed(&self) -> bool {
        self.failures.load(Ordering::Relaxed) > 0
    }

    /// The [`ScenarioRun`] of scenario `index`.
    pub fn scenario_run(&self, index: usize) -> Arc<ScenarioRun> {
        ScenarioRun::new(Some(index), executor_name(&self.scenarios[index]))
    }

    fn since_start(&self) -> Option<Duration> {
        self.live.started.get().map(Instant::elapsed)
    }
}

impl RunView for RunState {
    fn progress(&self, index: usize) -> f64 {
        let (Some(sc), Some(counters), Some(run)) = (
            self.scenarios.get(index),
            self.live.counters.get(index),
            self.since_start(),
        ) else {
            return 0.0;
        };
        let run = run.saturating_sub(sc.start_time);
        let total = sc.nominal_duration();
        let time = if total.is_zero() {
            0.0
        } else {
            run.as_secs_f64() / total.as_secs_f64()
        };
        let done = counters.complete.load(Ordering::Relaxed)
            + counters.interrupted.load(Ordering::Relaxed);
        sc.progress(done, self.planned[index], time)
            .0
            .clamp(0.0, 1.0)
    }

    fn scenario_start_ms(&self, index: usize) -> f64 {
        let (Some(sc), Some(wall), Some(run)) = (
            self.scenarios.get(index),
            self.wall.get(),
            self.since_start(),
        ) else {
            return 0.0;
        };
        if run < sc.start_time {
            return 0.0;
        }
        (*wall + sc.start_time)
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_millis() as f64)
    }

    fn iterations(&self) -> (u64, u64) {
        self.live.counters.iter().fold((0, 0), |(c, i), k| {
            (
                c + k.complete.load(Ordering::Relaxed),
                i + k.interrupted.load(Ordering::Relaxed),
            )
        })
    }

    fn vus(&self) -> (u64, u64) {
        (
            self.live.active.load(Ordering::Relaxed),
            self.live.vus_max.load(Ordering::Relaxed),
        )
    }

    fn run_ms(&self) -> f64 {
        self.since_start().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }

    fn options_json(&self) -> String {
        self.options.clone()
    }

    fn abort(&self, reason: String) {
        self.abort.send_if_modified(|r| {
            if r.is_some() {
                return false;
            }
            *r = Some(reason);
            true
        });
    }

    fn fail(&self, reason: Option<String>) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed);
        if n < MAX_FAIL_LOGS {
            let message = match reason {
                Some(r) => format!("{MARKED_AS_FAILED}: {r}"),
                None => MARKED_AS_FAILED.to_string(),
            };
            crate::logging::host(crate::logging::Level::Error, &message);
        }
        if n + 1 == MAX_FAIL_LOGS {
            crate::logging::host(
                crate::logging::Level::Error,
                &format!("{MARKED_AS_FAILED}: further test.fail() calls are not logged"),
            );
        }
    }

    fn iteration_in_test(&self, index: usize, local: u64) -> u64 {
        match self.tuples.get(index) {
            Some(t) if t.nth_owned(local) != u64::MAX => t.nth_owned(local),
            _ => local,
        }
    }
}

/// The executor's k6 name (`constant-vus`, ...).
fn executor_name(sc: &Scenario) -> &'static str {
    let name = serde_json::to_value(sc)
        .ok()
        .and_then(|v| v["executor"].as_str().map(str::to_string))
        .unwrap_or_default();
    crate::plan::executor::ExecutorOpt::NAMES
        .into_iter()
        .find(|n| *n == name)
        .unwrap_or("")
}

/// The test's resolved options as k6 names them (`exec.test.options`): scenarios with camelCase
/// keys and durations as k6 writes them, thresholds by metric, tags, the summary's trend
/// statistics and the setup/teardown settings.
fn options_json(test: &TestConfig) -> serde_json::Value {
    let scenarios: serde_json::Map<String, serde_json::Value> = test
        .scenarios
        .iter()
        .map(|sc| {
            let v = serde_json::to_value(sc).unwrap_or_default();
            let mut out = k6_keys(&v);
            if let Some(o) = out.as_object_mut() {
                o.remove("name");
            }
            (sc.name.clone(), out)
        })
        .collect();
    let thresholds: serde_json::Map<String, serde_json::Value> = test
        .thresholds
        .iter()
        .map(|t| {
            let exprs: Vec<serde_json::Value> = t
                .specs
                .iter()
                .map(|s| s.expr.source.clone().into())
                .collect();
            (t.selector.to_string(), exprs.into())
        })
        .collect();
    serde_json::json!({
        "scenarios": scenarios,
        "thresholds": thresholds,
        "tags": test.tags,
        "summaryTrendStats": test.summary.trend_stats,
        "setupTimeout": crate::duration::format_duration(test.setup_timeout),
        "teardownTimeout": crate::duration::format_duration(test.teardown_timeout),
        "noSetup": test.no_setup,
        "noTeardown": test.no_teardown,
        "throw": test.http.throw,
        "batch": test.http.batch.map_or(DEFAULT_BATCH, |b| b as usize),
        "batchPerHost": test.http.batch_per_host.map_or(DEFAULT_BATCH_PER_HOST, |b| b as usize),
        "rps": test.http.rps,
    })
}

/// `start_time_ms: 1500` → `startTime: "1.5s"`, `max_vus` → `maxVUs` (k6's spelling), nested.
fn k6_keys(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(
                |(k, v)| match k.strip_suffix("_ms").and_then(|_| v.as_u64()) {
                    Some(ms) => (
                        camel(k.trim_end_matches("_ms")),
                        crate::duration::format_duration(Duration::from_millis(ms)).into(),
                    ),
                    None => (camel(k), k6_keys(v)),
                },
            )
            .collect::<serde_json::Map<_, _>>()
            .into(),
        serde_json::Value::Array(a) => a.iter().map(k6_keys).collect(),
        other => other.clone(),
    }
}

fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for (i, part) in key.split(['_', '-']).enumerate() {
        if i == 0 {
            out.push_str(part);
        } else if part == "vus" {
            out.push_str("VUs");
        } else {
            let mut c = part.chars();
            if let Some(f) = c.next() {
                out.extend(f.to_uppercase());
                out.push_str(c.as_str());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_keys_are_k6s() {
        assert_eq!(camel("start_time"), "startTime");
        assert_eq!(camel("max_vus"), "maxVUs");
        assert_eq!(camel("pre_allocated_vus"), "preAllocatedVUs");
        let v = k6_keys(
            &serde_json::json!({"graceful_stop_ms": 30000, "stages": [{"duration_ms": 1500, "target": 2}]}),
        );
        assert_eq!(
            v,
            serde_json::json!({"gracefulStop": "30s", "stages": [{"duration": "1.5s", "target": 2}]})
        );
    }
}
