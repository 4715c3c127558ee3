//! The open model: arrival-rate scenarios start iterations at their scheduled times whether or
//! not earlier ones have finished. A start that finds no idle VU is dropped (counted in
//! `dropped_iterations`), and more VUs are created in the background — several at once, up to
//! `maxVUs` — without holding up the schedule. Each iteration also records how late it started
//! and its duration from the scheduled start (coordinated-omission corrected).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::clock::{sleep_until, sleep_until_deadline, wait_stop};
use super::factory::{ScenarioVus, VuFactory};
use super::scenario::{ScenarioResult, Shared};
use super::vu_task::ScenarioCounters;
use crate::logging::{self, Level};
use crate::metrics::builtin;
use crate::plan::executor::RateCurve;
use crate::plan::Scenario;
use crate::vu::{GuestError, Vu};

/// How to grow the VU pool.
pub struct Growth {
    /// Makes VUs.
    pub factory: VuFactory,
    /// The scenario's VU settings.
    pub vus: ScenarioVus,
    /// Ids for VUs created during the run, `next_id..next_id + (max - initial)`.
    pub next_id: u32,
    /// Most VUs this scenario may have.
    pub max: u32,
    /// Test-wide count of initialised VUs (`vus_max`), raised as VUs are added.
    pub initialised: Arc<AtomicU64>,
}

/// Runs an arrival-rate scenario's starts on `curve`. `owns(i)` says whether global start `i`
/// is this process's (execution segments); a single run owns every start.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    scenario: &Scenario,
    curve: RateCurve,
    vus: Vec<Vu>,
    start: Instant,
    counters: Arc<ScenarioCounters>,
    shared: Shared,
    growth: Growth,
    owns: impl Fn(u64) -> bool,
) -> ScenarioResult {
    let mut stop = shared.stop.clone();
    let idle = Arc::new(Mutex::new(vus));
    let created = Arc::new(AtomicU32::new(lock(&idle).len() as u32));
    let next_id = Arc::new(AtomicU32::new(growth.next_id));
    let (hard_tx, hard_rx) = watch::channel::<Option<Instant>>(None);
    let mut running = JoinSet::new();
    let mut growing = JoinSet::new();
    let mut dropped = 0u64;
    let mut warned = false;
    let mut stopped = false;
    let mut now = Instant::now();

    for (index, offset) in curve.starts().enumerate() {
        if !owns(index as u64) {
            continue;
        }
        let due = start + offset;
        if !until_due(due, &mut now, &mut stop).await {
            stopped = true;
            break;
        }
        let vu = lock(&idle).pop();
        let Some(vu) = vu else {
            dropped += 1;
            // Grow in the background, one new VU per dropped start, several in flight at once.
            if created.load(Ordering::Acquire) < growth.max {
                created.fetch_add(1, Ordering::AcqRel);
                let (factory, settings, idle) =
                    (growth.factory.clone(), growth.vus.clone(), idle.clone());
                let initialised = growth.initialised.clone();
                let id = next_id.fetch_add(1, Ordering::AcqRel);
                growing.spawn(async move {
                    match factory.create(id, &settings).await {
                        Ok(vu) => {
                            initialised.fetch_add(1, Ordering::Relaxed);
                            lock(&idle).push(vu);
                        }
                        Err(e) => logging::host(Level::Error, &e.to_string()),
                    }
                });
            } else if !warned {
                warned = true;
                logging::host(
                    Level::Warn,
                    &format!(
                        "Insufficient VUs, reached {} active VUs and cannot initialize more (scenario {})",
                        growth.max, scenario.name
                    ),
                );
            }
            continue;
        };
        let task = Iteration {
            idle: idle.clone(),
            counters: counters.clone(),
            shared_active: shared.active_total.clone(),
            errors: shared.errors.clone(),
            data: shared.data.clone(),
            hard: hard_rx.clone(),
            due,
            min_iteration: shared.min_iteration,
        };
        running.spawn(task.run(vu));
        // Reap finished tasks so the set does not grow with the test's length.
        while running.try_join_next().is_some() {}
    }

    let hard_at = if stopped {
        Instant::now()
    } else {
        Instant::now() + scenario.graceful_stop
    };
    hard_tx.send_replace(Some(hard_at));
    let mut all = std::pin::pin!(async { while running.join_next().await.is_some() {} });
    tokio::select! {
        _ = &mut all => {}
        _ = wait_stop(&mut stop), if !stopped => {
            hard_tx.send_replace(Some(Instant::now()));
            all.await;
        }
    }
    growing.abort_all();
    ScenarioResult { dropped }
}

/// Waits for a start `due`; false if the test was stopped first. A start already due at `now`
/// (several starts share a timer tick, or the loop is behind) goes without the timer: every
/// start due is handed out in one turn of the loop, instead of one timer registration and one
/// turn of the runtime's queue each (the cooperative budget would yield after ~64 starts and
/// put the loop behind every running iteration). `now` is refreshed only when a start is not
/// yet due by it.
async fn until_due(due: Instant, now: &mut Instant, stop: &mut watch::Receiver<bool>) -> bool {
    if due > *now {
        *now = Instant::now();
    }
    if due <= *now {
        return !*stop.borrow();
    }
    let woke = sleep_until(due, stop).await;
    *now = Instant::now();
    woke
}

/// One scheduled iteration on a VU taken from the idle pool.
struct Iteration {
    idle: Arc<Mutex<Vec<Vu>>>,
    counters: Arc<ScenarioCounters>,
    shared_active: Arc<AtomicU64>,
    errors: Arc<super::errors::ErrorLog>,
    data: Arc<str>,
    hard: watch::Receiver<Option<Instant>>,
    due: Instant,
    /// Shortest iteration (k6's `minIterationDuration`): the VU stays busy until then.
    min_iteration: Option<std::time::Duration>,
}

impl Iteration {
    async fn run(mut self, mut vu: Vu) {
        self.counters.active.fetch_add(1, Ordering::Relaxed);
        self.shared_active.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = {
            let data = self.data.clone();
            let iteration = vu.iteration(&data);
            tokio::pin!(iteration);
            loop {
                let deadline = *self.hard.borrow_and_update();
                tokio::select! {
                    r = &mut iteration => break Some(r),
                    _ = self.hard.changed() => continue,
                    _ = sleep_until_deadline(deadline) => break None,
                }
            }
        };
        let end = Instant::now();
        let state = vu.state();
        state.iteration += 1;
        match outcome {
            // `test.abort()` (k6/execution) cuts its iteration short and stops the test.
            Some(Err(GuestError::Aborted(_))) | None => {
                vu.discard_instance();
                self.counters.interrupted.fetch_add(1, Ordering::Relaxed);
            }
            Some(result) => {
                if let Err(e) = result {
                    self.errors.record(&e);
                }
                let rec = &mut state.recorder;
                rec.iteration(ms(end - started));
                rec.sample(
                    builtin::ITERATION_LATENESS,
                    ms(started.saturating_duration_since(self.due)),
                );
                rec.sample(
                    builtin::ITERATION_DURATION_INTENDED,
                    ms(end.saturating_duration_since(self.due)),
                );
                self.counters.complete.fetch_add(1, Ordering::Relaxed);
                if let Some(min) = self.min_iteration {
                    // Until the hard deadline, if one is set first (the scenario ends meanwhile).
                    let padded = tokio::time::sleep_until((started + min).into());
                    tokio::pin!(padded);
                    loop {
                        let deadline = *self.hard.borrow_and_update();
                        tokio::select! {
                            () = &mut padded => break,
                            _ = self.hard.changed() => continue,
                            _ = sleep_until_deadline(deadline) => break,
                        }
                    }
                }
            }
        }
        self.counters.active.fetch_sub(1, Ordering::Relaxed);
        self.shared_active.fetch_sub(1, Ordering::Relaxed);
        lock(&self.idle).push(vu);
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
