//! The loop one VU runs: wait to be activated, take an iteration, run it racing the hard-stop
//! deadline, record the result, repeat. Commands arrive on a watch channel from the scenario.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::clock::sleep_until_deadline;
use super::errors::ErrorLog;
use crate::vu::{GuestError, Vu};

/// What the scenario wants a VU to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Wait, initialised but inactive.
    Idle,
    /// Loop iterations.
    Run,
    /// Finish the current iteration (unless `hard_at` passes first), then wait.
    Stop {
        /// When a running iteration is interrupted.
        hard_at: Instant,
    },
    /// Finish the current iteration (unless `hard_at` passes first), then end.
    Exit {
        /// When a running iteration is interrupted.
        hard_at: Instant,
    },
}

impl Command {
    fn deadline(self) -> Option<Instant> {
        match self {
            Command::Stop { hard_at } | Command::Exit { hard_at } => Some(hard_at),
            _ => None,
        }
    }
}

/// Where a VU's iterations come from.
#[derive(Debug, Clone)]
pub enum Iterations {
    /// As many as time allows.
    Unlimited,
    /// A pool shared by the scenario's VUs (remaining count).
    Shared(Arc<AtomicU64>),
    /// This many for this VU.
    PerVu(u64),
}

/// Counters a scenario's VUs share (for progress and the end report).
#[derive(Debug, Default)]
pub struct ScenarioCounters {
    /// Iterations that ran to their end, including ones that returned an error or trapped (k6
    /// counts an iteration that threw as complete).
    pub complete: AtomicU64,
    /// Iterations cut short at a hard deadline (graceful stop or ramp-down over, or Ctrl-C).
    pub interrupted: AtomicU64,
    /// VUs currently active.
    pub active: AtomicU64,
}

/// Everything a VU task needs besides its VU.
pub struct VuTask {
    /// Commands from the scenario.
    pub commands: watch::Receiver<Command>,
    /// Iteration source.
    pub iterations: Iterations,
    /// The data `setup` returned.
    pub data: Arc<str>,
    /// Scenario counters.
    pub counters: Arc<ScenarioCounters>,
    /// Test-wide active VU count.
    pub active_total: Arc<AtomicU64>,
    /// Deduplicated error log.
    pub errors: Arc<ErrorLog>,
    /// Shortest iteration (k6's `minIterationDuration`).
    pub min_iteration: Option<std::time::Duration>,
}

impl VuTask {
    /// Runs until told to exit (or out of iterations); gives the VU back.
    pub async fn run(mut self, mut vu: Vu) -> Vu {
        let mut done = 0u64;
        let mut active = false;
        loop {
            let cmd = *self.commands.borrow_and_update();
            match cmd {
                Command::Exit { .. } => break,
                Command::Idle | Command::Stop { .. } => {
                    self.set_active(&mut active, false);
                    if self.commands.changed().await.is_err() {
                        break;
                    }
                    continue;
                }
                Command::Run => {}
            }
            if !self.take_iteration(done) {
                break;
            }
            self.set_active(&mut active, true);
            vu.state().iteration = done;
            done += 1;
            let started = Instant::now();
            match self.iterate(&mut vu).await {
                // `test.abort()` (k6/execution) cuts its iteration short and stops the test:
                // this VU starts no other iteration while the stop reaches the scenario.
                Some(Err(GuestError::Aborted(_))) => {
                    vu.discard_instance();
                    self.counters.interrupted.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                None => {
                    vu.discard_instance();
                    self.counters.interrupted.fetch_add(1, Ordering::Relaxed);
                }
                Some(result) => {
                    // As k6: an iteration that failed (an exception there, an error or a trap
                    // here) still completed; its error is logged.
                    if let Err(e) = result {
                        self.errors.record(&e);
                    }
                    let ms = started.elapsed().as_secs_f64() * 1000.0;
                    vu.state().recorder.iteration(ms);
                    self.counters.complete.fetch_add(1, Ordering::Relaxed);
                    if let Some(min) = self.min_iteration {
                        // Any command (stop, exit) ends the wait: nothing runs in it.
                        tokio::select! {
                            () = tokio::time::sleep_until((started + min).into()) => {}
                            _ = self.commands.changed() => {}
                        }
                    }
                }
            }
        }
        self.set_active(&mut active, false);
        vu
    }

    fn take_iteration(&self, done: u64) -> bool {
        match &self.iterations {
            Iterations::Unlimited => true,
            Iterations::PerVu(n) => done < *n,
            Iterations::Shared(left) => left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok(),
        }
    }

    fn set_active(&self, active: &mut bool, now: bool) {
        if *active == now {
            return;
        }
        *active = now;
        if now {
            self.counters.active.fetch_add(1, Ordering::Relaxed);
            self.active_total.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.active.fetch_sub(1, Ordering::Relaxed);
            self.active_total.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// One iteration, or `None` when the hard deadline cut it short.
    async fn iterate(&mut self, vu: &mut Vu) -> Option<Result<(), GuestError>> {
        let data = self.data.clone();
        let mut iteration = std::pin::pin!(vu.iteration(&data));
        let mut deadline = self.commands.borrow().deadline();
        let mut open = true;
        loop {
            tokio::select! {
                r = iteration.as_mut() => return Some(r),
                changed = self.commands.changed(), if open => {
                    if changed.is_err() {
                        open = false;
                        continue;
                    }
                    let cmd = *self.commands.borrow();
                    deadline = match (cmd, deadline) {
                        (Command::Run | Command::Idle, _) => None,
                        (c, Some(d)) => c.deadline().map(|n| n.min(d)),
                        (c, None) => c.deadline(),
                    };
                }
                _ = sleep_until_deadline(deadline) => return None,
            }
        }
    }
}
