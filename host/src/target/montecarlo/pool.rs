//! The worker pool: OS threads taking simulations from one FIFO queue, as Gunicorn's sync
//! workers take requests; a closed pool refuses new jobs and drops the queued ones.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::model::{simulate, Estimate};
use super::params::Params;
use super::TargetError;

/// One queued simulation and where to send its result.
pub(super) struct Job {
    pub(super) params: Params,
    pub(super) seed: u64,
    pub(super) queued_at: Instant,
    pub(super) reply: oneshot::Sender<Outcome>,
}

/// What a worker sends back for a job.
pub(super) struct Outcome {
    pub(super) estimate: Estimate,
    pub(super) queued: Duration,
    pub(super) elapsed: Duration,
}

impl Job {
    /// Simulates and replies; skips the work if the requester has already gone.
    pub(super) fn run(self) {
        if self.reply.is_closed() {
            return;
        }
        let started = Instant::now();
        let estimate = simulate(self.params.paths, self.params.steps, self.seed);
        let outcome = Outcome {
            estimate,
            queued: started.duration_since(self.queued_at),
            elapsed: started.elapsed(),
        };
        // The requester may have gone meanwhile; then nobody wants the result.
        let _ = self.reply.send(outcome);
    }
}

/// FIFO job queue shared by the worker threads.
#[derive(Default)]
pub(super) struct Pool {
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding the lock, so a poisoned queue is still consistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`; false (dropping the job) once the pool is closed.
    pub(super) fn submit(&self, job: Job) -> bool {
        let mut queue = self.lock();
        if queue.closed {
            return false;
        }
        queue.jobs.push_back(job);
        drop(queue);
        self.ready.notify_one();
        true
    }

    /// Blocks until a job is queued; `None` once the pool is closed.
    pub(super) fn next_job(&self) -> Option<Job> {
        let mut queue = self.lock();
        loop {
            if queue.closed {
                return None;
            }
            if let Some(job) = queue.jobs.pop_front() {
                return Some(job);
            }
            queue = self
                .ready
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Refuses new jobs, drops queued ones (their requesters see 503) and wakes idle workers.
    pub(super) fn close(&self) {
        let abandoned = {
            let mut queue = self.lock();
            queue.closed = true;
            std::mem::take(&mut queue.jobs)
        };
        self.ready.notify_all();
        drop(abandoned);
    }
}

/// Starts `count` worker threads; the returned receiver yields `None` once all have ended.
pub(super) fn spawn_workers(
    pool: &Arc<Pool>,
    count: usize,
) -> Result<mpsc::Receiver<()>, TargetError> {
    let (alive, all_done) = mpsc::channel(1);
    for index in 0..count {
        let worker_pool = Arc::clone(pool);
        let alive = alive.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("volley-target-{index}"))
            .spawn(move || run_worker(&worker_pool, alive));
        if let Err(source) = spawned {
            pool.close();
            return Err(TargetError::Spawn(source));
        }
    }
    Ok(all_done)
}

/// A worker's life: run jobs until the pool closes; `_alive` is dropped on return.
fn run_worker(pool: &Pool, _alive: mpsc::Sender<()>) {
    while let Some(job) = pool.next_job() {
        job.run();
    }
}
