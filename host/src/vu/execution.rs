//! The host side of the WIT `execution` import (k6's `k6/execution`): the VU's, its scenario's
//! and this process's counters, the VU's metric tags, tagged checks, and `test.abort()`; and of
//! the `test-status` import (`test.fail()`).
//!
//! The run's counters live in the engine, which implements [`RunView`] for its VUs; a VU outside
//! a run (reading options, benchmarks) sees [`Detached`]. What a guest can make the host hold
//! here is its VU tags, bounded by [`MAX_VU_TAGS`], [`MAX_TAG_NAME_BYTES`] and
//! [`MAX_TAG_VALUE_BYTES`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::bindings::{execution, http, test_status};
use super::state::VuState;

/// Most tags a guest adds to its VU's base tags (k6 sets no limit; every one is on every sample).
pub const MAX_VU_TAGS: usize = 64;
/// Longest VU tag name, in bytes.
pub const MAX_TAG_NAME_BYTES: usize = 128;
/// Longest VU tag value, in bytes.
pub const MAX_TAG_VALUE_BYTES: usize = 1024;
/// Longest `test.abort` or `test.fail` reason kept, in bytes (longer ones are cut).
pub const MAX_ABORT_REASON_BYTES: usize = 4096;
/// Calls of `test.fail` a run logs (k6 logs every one); later calls only mark the test again.
pub const MAX_FAIL_LOGS: u64 = 10;
/// k6's message for `test.fail()`, before the script's reason.
pub const MARKED_AS_FAILED: &str = "test marked as failed";

/// What the run a VU belongs to tells `k6/execution`, and how the VU stops it. The engine
/// implements it; every method is cheap (atomic loads) and never blocks.
pub trait RunView: Send + Sync {
    /// Scenario `index`'s progress, 0 to 1.
    fn progress(&self, index: usize) -> f64;
    /// When scenario `index` started, in ms since the Unix epoch (0 before it started).
    fn scenario_start_ms(&self, index: usize) -> f64;
    /// Iterations completed and interrupted in this process, over all scenarios.
    fn iterations(&self) -> (u64, u64);
    /// VUs running an iteration, and VUs created.
    fn vus(&self) -> (u64, u64);
    /// Milliseconds since the scenarios started (0 before).
    fn run_ms(&self) -> f64;
    /// The test's options as a JSON object.
    fn options_json(&self) -> String;
    /// Stops the whole test for `reason` (the first reason wins).
    fn abort(&self, reason: String);
    /// Marks the whole test failed (`test.fail()`); it runs on. `reason` is already cut to
    /// [`MAX_ABORT_REASON_BYTES`].
    fn fail(&self, reason: Option<String>);
    /// The number in the whole test of this process's `local`-th iteration of scenario `index`
    /// (`local` itself for a single process).
    fn iteration_in_test(&self, index: usize, local: u64) -> u64;
}

/// The view of a VU outside any run: nothing has started, and `abort` is ignored.
pub struct Detached;

impl RunView for Detached {
    fn progress(&self, _: usize) -> f64 {
        0.0
    }
    fn scenario_start_ms(&self, _: usize) -> f64 {
        0.0
    }
    fn iterations(&self) -> (u64, u64) {
        (0, 0)
    }
    fn vus(&self) -> (u64, u64) {
        (0, 0)
    }
    fn run_ms(&self) -> f64 {
        0.0
    }
    fn options_json(&self) -> String {
        "{}".into()
    }
    fn abort(&self, _: String) {}
    fn fail(&self, _: Option<String>) {}
    fn iteration_in_test(&self, _: usize, local: u64) -> u64 {
        local
    }
}

/// A scenario as its VUs see it: its place in the test, executor, and the counter that numbers
/// its iterations in this process.
pub struct ScenarioRun {
    /// Index in the test's scenarios; `None` for the setup/teardown VU.
    pub index: Option<usize>,
    /// Executor name, e.g. `constant-vus`.
    pub executor: &'static str,
    /// Iterations started in this process.
    started: AtomicU64,
}

impl ScenarioRun {
    /// Scenario `index` (or the setup/teardown VU's, `None`) run by `executor`.
    pub fn new(index: Option<usize>, executor: &'static str) -> Arc<ScenarioRun> {
        Arc::new(ScenarioRun {
            index,
            executor,
            started: AtomicU64::new(0),
        })
    }

    /// Numbers a new iteration.
    pub(super) fn next_iteration(&self) -> u64 {
        self.started.fetch_add(1, Ordering::Relaxed)
    }
}

/// A VU's place in its run.
#[derive(Clone)]
pub struct Execution {
    /// The run.
    pub run: Arc<dyn RunView>,
    /// The VU's scenario.
    pub scenario: Arc<ScenarioRun>,
    /// VU id in the whole test (differs from the VU's id in a shard).
    pub id_in_test: u32,
}

impl Execution {
    /// A VU outside any run.
    pub fn detached() -> Execution {
        Execution {
            run: Arc::new(Detached),
            scenario: ScenarioRun::new(None, ""),
            id_in_test: 0,
        }
    }
}

impl execution::Host for VuState {
    fn vu(&mut self) -> execution::VuState {
        execution::VuState {
            id_in_instance: self.id,
            id_in_test: if self.execution.id_in_test == 0 {
                self.id
            } else {
                self.execution.id_in_test
            },
            iteration_in_instance: self.iteration,
            iteration_in_scenario: self.iteration,
        }
    }

    fn scenario(&mut self) -> execution::ScenarioState {
        let ex = &self.execution;
        let local = self.scenario_iteration;
        let (progress, start, in_test) = match ex.scenario.index {
            Some(i) => (
                ex.run.progress(i),
                ex.run.scenario_start_ms(i),
                ex.run.iteration_in_test(i, local),
            ),
            None => (0.0, 0.0, local),
        };
        execution::ScenarioState {
            name: if ex.scenario.index.is_some() {
                self.scenario.to_string()
            } else {
                String::new()
            },
            executor: ex.scenario.executor.to_string(),
            start_time: start,
            progress,
            iteration_in_instance: local,
            iteration_in_test: in_test,
        }
    }

    fn instance(&mut self) -> execution::InstanceState {
        let run = &self.execution.run;
        let (completed, interrupted) = run.iterations();
        let (active, initialized) = run.vus();
        execution::InstanceState {
            iterations_completed: completed,
            iterations_interrupted: interrupted,
            vus_active: u32::try_from(active).unwrap_or(u32::MAX),
            vus_initialized: u32::try_from(initialized).unwrap_or(u32::MAX),
            current_test_run_duration: run.run_ms(),
        }
    }

    fn options(&mut self) -> String {
        self.execution.run.options_json()
    }

    fn tags(&mut self) -> Vec<http::Tag> {
        self.recorder
            .base_tags()
            .iter()
            .map(|(k, v)| http::Tag {
                key: k.clone(),
                value: v.clone(),
            })
            .collect()
    }

    fn set_tag(&mut self, key: String, value: String) -> Result<(), String> {
        if key.is_empty() || key.len() > MAX_TAG_NAME_BYTES {
            return Err(format!(
                "a VU tag name must have 1 to {MAX_TAG_NAME_BYTES} bytes, not {}",
                key.len()
            ));
        }
        if value.len() > MAX_TAG_VALUE_BYTES {
            return Err(format!(
                "VU tag '{key}': a value may have at most {MAX_TAG_VALUE_BYTES} bytes, not {}",
                value.len()
            ));
        }
        let exists = self.recorder.base_tags().iter().any(|(k, _)| *k == key);
        if !exists && self.vu_tags_added >= MAX_VU_TAGS {
            return Err(format!(
                "VU tag '{key}': a VU may add at most {MAX_VU_TAGS} tags"
            ));
        }
        if !exists {
            self.vu_tags_added += 1;
        }
        self.recorder.set_base_tag(&key, &value);
        Ok(())
    }

    fn delete_tag(&mut self, key: String) {
        if self.recorder.base_tags().iter().any(|(k, _)| *k == key) {
            self.recorder.remove_base_tag(&key);
            self.vu_tags_added = self.vu_tags_added.saturating_sub(1);
        }
    }

    fn abort(&mut self, reason: Option<String>) -> wasmtime::Result<()> {
        let reason = cut_reason(reason.unwrap_or_default());
        self.execution.run.abort(reason.clone());
        Err(wasmtime::format_err!("{ABORTED}{reason}"))
    }

    fn check_tagged(&mut self, name: String, passed: bool, tags: Vec<http::Tag>) -> bool {
        let tags: Vec<(String, String)> = tags.into_iter().map(|t| (t.key, t.value)).collect();
        self.recorder.check_tagged(&name, passed, &tags);
        passed
    }
}

impl test_status::Host for VuState {
    fn fail(&mut self, reason: Option<String>) {
        self.execution.run.fail(reason.map(cut_reason));
    }
}

/// `reason` cut to at most [`MAX_ABORT_REASON_BYTES`] (on a character boundary).
fn cut_reason(mut reason: String) -> String {
    if reason.len() > MAX_ABORT_REASON_BYTES {
        let mut cut = MAX_ABORT_REASON_BYTES;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
    }
    reason
}

/// How the trap `test.abort()` ends its call with begins (so the engine can tell it from others).
pub const ABORTED: &str = "test aborted: ";
