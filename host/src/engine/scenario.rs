//! Drives one scenario's VUs through its executor's plan: when each VU runs, stops and ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::clock::{sleep_until, wait_stop};
use super::vu_task::{Command, Iterations, ScenarioCounters, VuTask};
use crate::plan::executor::{Closed, Iterations as Budget};
use crate::plan::segment::ExecutionTuple;
use crate::plan::Scenario;
use crate::vu::Vu;

/// The shared pieces every VU task of a scenario gets.
pub struct Shared {
    /// The data `setup` returned.
    pub data: Arc<str>,
    /// Test-wide active VU count.
    pub active_total: Arc<AtomicU64>,
    /// Deduplicated error log.
    pub errors: Arc<super::errors::ErrorLog>,
    /// Becomes true when the whole test must stop now (Ctrl-C, abortOnFail).
    pub stop: watch::Receiver<bool>,
    /// Shortest iteration (k6's `minIterationDuration`).
    pub min_iteration: Option<std::time::Duration>,
}

/// What a finished scenario reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScenarioResult {
    /// Iterations left undone at the end (shared/per-VU iterations).
    pub dropped: u64,
}

/// Runs a closed-model `scenario` as `closed` says, with `vus` (this segment's share of its
/// VUs) from `start`. `external` carries the VU target of an externally-controlled scenario.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    scenario: &Scenario,
    closed: Closed,
    vus: Vec<Vu>,
    start: Instant,
    counters: Arc<ScenarioCounters>,
    shared: Shared,
    tuple: &ExecutionTuple,
    mut external: Option<watch::Receiver<u32>>,
) -> ScenarioResult {
    let mut stop = shared.stop.clone();
    let budget = match closed {
        Closed::Iterations { budget, .. } => Some(budget),
        Closed::For(_) | Closed::Steps { .. } | Closed::External { .. } => None,
    };
    let shared_pool = matches!(budget, Some(Budget::Shared(_)))
        .then(|| Arc::new(AtomicU64::new(scenario.local_iterations(tuple))));
    let per_vu = match budget {
        Some(Budget::PerVu(n)) => Some(n),
        Some(Budget::Shared(_)) | None => None,
    };
    let mut senders = Vec::with_capacity(vus.len());
    let mut tasks = JoinSet::new();
    for vu in vus {
        let (tx, rx) = watch::channel(Command::Idle);
        senders.push(tx);
        let iterations = match (&shared_pool, per_vu) {
            (Some(pool), _) => Iterations::Shared(pool.clone()),
            (None, Some(n)) => Iterations::PerVu(n),
            (None, None) => Iterations::Unlimited,
        };
        let task = VuTask {
            commands: rx,
            iterations,
            data: shared.data.clone(),
            counters: counters.clone(),
            active_total: shared.active_total.clone(),
            errors: shared.errors.clone(),
            min_iteration: shared.min_iteration,
        };
        tasks.spawn(task.run(vu));
    }
    let send_all = |cmd: Command| {
        for tx in &senders {
            tx.send_replace(cmd);
        }
    };
    let graceful_stop = scenario.graceful_stop;
    let mut stopped = false;
    match closed {
        Closed::For(duration) => {
            send_all(Command::Run);
            stopped = !sleep_until(start + duration, &mut stop).await;
        }
        Closed::Steps { graceful_ramp_down } => {
            let mut running = 0usize;
            for step in scenario.local_steps(tuple) {
                if !sleep_until(start + step.at, &mut stop).await {
                    stopped = true;
                    break;
                }
                let target = step.vus as usize;
                for tx in senders.iter().take(target).skip(running) {
                    tx.send_replace(Command::Run);
                }
                let hard_at = Instant::now() + graceful_ramp_down;
                for tx in senders.iter().take(running).skip(target) {
                    tx.send_replace(Command::Stop { hard_at });
                }
                running = target;
            }
            if !stopped {
                stopped = !sleep_until(start + scenario.nominal_duration(), &mut stop).await;
            }
        }
        Closed::External { duration, .. } => {
            let mut target = external.take();
            let end = (!duration.is_zero()).then(|| start + duration);
            let mut running = 0usize;
            loop {
                let want = target
                    .as_mut()
                    .map_or(0, |t| *t.borrow_and_update() as usize)
                    .min(senders.len());
                for tx in senders.iter().take(want).skip(running) {
                    tx.send_replace(Command::Run);
                }
                // Scaled-down VUs finish their iteration; the end of the test cuts them.
                let far = Instant::now() + std::time::Duration::from_secs(86_400 * 365);
                for tx in senders.iter().take(running).skip(want) {
                    tx.send_replace(Command::Stop { hard_at: far });
                }
                running = want;
                let until_end = async {
                    match end {
                        Some(at) => tokio::time::sleep_until(at.into()).await,
                        None => std::future::pending().await,
                    }
                };
                let changed = async {
                    let open = match target.as_mut() {
                        Some(t) => t.changed().await.is_ok(),
                        None => false,
                    };
                    if !open {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    _ = changed => {}
                    _ = until_end => break,
                    _ = wait_stop(&mut stop) => { stopped = true; break }
                }
            }
        }
        Closed::Iterations { max_duration, .. } => {
            send_all(Command::Run);
            let deadline = tokio::time::sleep_until((start + max_duration).into());
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    joined = tasks.join_next() => if joined.is_none() { break },
                    _ = &mut deadline => break,
                    _ = wait_stop(&mut stop) => { stopped = true; break }
                }
            }
        }
    }
    let hard_at = if stopped {
        Instant::now()
    } else {
        Instant::now() + graceful_stop
    };
    send_all(Command::Exit { hard_at });
    if !stopped {
        // A stop during the graceful period ends the running iterations right away.
        let mut all = std::pin::pin!(async { while tasks.join_next().await.is_some() {} });
        tokio::select! {
            _ = &mut all => {}
            _ = wait_stop(&mut stop) => {
                send_all(Command::Exit { hard_at: Instant::now() });
                all.await;
            }
        }
    } else {
        while tasks.join_next().await.is_some() {}
    }
    let dropped = match (&shared_pool, per_vu) {
        (Some(pool), _) => pool.load(Ordering::Acquire),
        (None, Some(n)) => {
            let planned = n * senders.len() as u64;
            let done = counters.complete.load(Ordering::Acquire)
                + counters.interrupted.load(Ordering::Acquire);
            planned.saturating_sub(done)
        }
        _ => 0,
    };
    ScenarioResult { dropped }
}
