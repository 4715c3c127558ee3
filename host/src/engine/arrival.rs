//! The open model: arrival-rate scenarios start iterations at their scheduled times whether or
//! not earlier ones have finished. A start that finds no idle VU is dropped (counted in
//! `dropped_iterations`), and one more VU is created in the background, up to `maxVUs`, without
//! holding up the schedule. As in k6, one VU is made at a time: the drops of a stall would
//! otherwise ask for hundreds at once, and making them (~0.3 ms of CPU each) on the core that
//! runs the schedule kept it behind for long after the stall. Each iteration also records how
//! late it started and its duration from the scheduled start (coordinated-omission corrected).
//!
//! Each VU runs in a task of its own for the whole scenario (a [`Worker`]), idle until the
//! schedule hands it a start over its channel: a start costs a channel send, not a task spawned
//! (and a 3.5 KB future moved onto the heap three times) per iteration.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, watch};
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

/// The idle workers, each by the sender of its start channel; the last one back goes first.
type Idle = Arc<Mutex<Vec<mpsc::Sender<Instant>>>>;

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
    let idle: Idle = Arc::new(Mutex::new(Vec::with_capacity(vus.len())));
    let (hard_tx, hard_rx) = watch::channel::<Option<Instant>>(None);
    let worker = Worker {
        idle: idle.clone(),
        counters: counters.clone(),
        shared_active: shared.active_total.clone(),
        errors: shared.errors.clone(),
        data: shared.data.clone(),
        hard: hard_rx,
        min_iteration: shared.min_iteration,
    };
    let mut created = vus.len() as u32;
    let mut next_id = growth.next_id;
    let mut workers = JoinSet::new();
    for vu in vus {
        worker.start(vu, &mut workers);
    }
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
        // VUs created in the background join the pool as workers.
        while let Some(made) = growing.try_join_next() {
            if let Ok(Some(vu)) = made {
                worker.start(vu, &mut workers);
            }
        }
        let handed = lock(&idle).pop().is_some_and(|w| w.try_send(due).is_ok());
        if handed {
            continue;
        }
        dropped += 1;
        // Grow in the background, one VU at a time: a start dropped while one is being made
        // asks for no other (k6's "at most one mid-test init at a time").
        if created >= growth.max {
            if !warned {
                warned = true;
                logging::host(
                    Level::Warn,
                    &format!(
                        "Insufficient VUs, reached {} active VUs and cannot initialize more (scenario {})",
                        growth.max, scenario.name
                    ),
                );
            }
        } else if growing.is_empty() {
            created += 1;
            let (factory, settings) = (growth.factory.clone(), growth.vus.clone());
            let initialised = growth.initialised.clone();
            let id = next_id;
            next_id += 1;
            growing.spawn(async move {
                match factory.create(id, &settings).await {
                    Ok(vu) => {
                        initialised.fetch_add(1, Ordering::Relaxed);
                        Some(vu)
                    }
                    Err(e) => {
                        logging::host(Level::Error, &e.to_string());
                        None
                    }
                }
            });
        }
    }

    // The schedule is over: idle workers end now, busy ones after their iteration (or at the
    // hard deadline).
    let hard_at = if stopped {
        Instant::now()
    } else {
        Instant::now() + scenario.graceful_stop
    };
    hard_tx.send_replace(Some(hard_at));
    growing.abort_all();
    let mut all = std::pin::pin!(async { while workers.join_next().await.is_some() {} });
    tokio::select! {
        _ = &mut all => {}
        _ = wait_stop(&mut stop), if !stopped => {
            hard_tx.send_replace(Some(Instant::now()));
            all.await;
        }
    }
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

/// One VU's task for the whole scenario: waits idle for a start, runs it, goes back idle.
#[derive(Clone)]
struct Worker {
    idle: Idle,
    counters: Arc<ScenarioCounters>,
    shared_active: Arc<AtomicU64>,
    errors: Arc<super::errors::ErrorLog>,
    data: Arc<str>,
    /// The hard deadline, set when the schedule is over: idle workers end then.
    hard: watch::Receiver<Option<Instant>>,
    /// Shortest iteration (k6's `minIterationDuration`): the VU stays busy until then.
    min_iteration: Option<std::time::Duration>,
}

impl Worker {
    /// Starts a worker for `vu` in `workers`, idle at once: a start due now can have it.
    fn start(&self, vu: Vu, workers: &mut JoinSet<()>) {
        let (tx, starts) = mpsc::channel(1);
        lock(&self.idle).push(tx.clone());
        workers.spawn(self.clone().run(vu, tx, starts));
    }

    async fn run(
        mut self,
        mut vu: Vu,
        me: mpsc::Sender<Instant>,
        mut starts: mpsc::Receiver<Instant>,
    ) {
        loop {
            let due = tokio::select! {
                biased;
                due = starts.recv() => due,
                _ = self.hard.wait_for(Option::is_some) => None,
            };
            let Some(due) = due else { break };
            if !self.iteration(&mut vu, due).await || self.hard.borrow().is_some() {
                break;
            }
            lock(&self.idle).push(me.clone());
        }
    }

    /// Runs one iteration scheduled for `due`; false if the VU must start no other (it was
    /// cut at the hard deadline, or called `test.abort()`).
    async fn iteration(&mut self, vu: &mut Vu, due: Instant) -> bool {
        self.counters.active.fetch_add(1, Ordering::Relaxed);
        self.shared_active.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = {
            let mut iteration = std::pin::pin!(vu.iteration(&self.data));
            loop {
                let deadline = *self.hard.borrow_and_update();
                tokio::select! {
                    r = iteration.as_mut() => break Some(r),
                    _ = self.hard.changed() => continue,
                    _ = sleep_until_deadline(deadline) => break None,
                }
            }
        };
        let end = Instant::now();
        let state = vu.state();
        state.iteration += 1;
        let go_on = match outcome {
            // `test.abort()` (k6/execution) cuts its iteration short and stops the test.
            Some(Err(GuestError::Aborted(_))) | None => {
                vu.discard_instance();
                self.counters.interrupted.fetch_add(1, Ordering::Relaxed);
                false
            }
            Some(result) => {
                if let Err(e) = result {
                    self.errors.record(&e);
                }
                let rec = &mut state.recorder;
                rec.iteration(ms(end - started));
                rec.sample(
                    builtin::ITERATION_LATENESS,
                    ms(started.saturating_duration_since(due)),
                );
                rec.sample(
                    builtin::ITERATION_DURATION_INTENDED,
                    ms(end.saturating_duration_since(due)),
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
                true
            }
        };
        self.counters.active.fetch_sub(1, Ordering::Relaxed);
        self.shared_active.fetch_sub(1, Ordering::Relaxed);
        go_on
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
