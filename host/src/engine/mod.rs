//! The engine: runs a validated test on the tokio runtime. Creates every VU from the plugin,
//! calls `setup`, drives each scenario from its start time, samples `vus`, merges metrics and
//! evaluates thresholds on timers, then calls `teardown`.

mod arrival;
mod clock;
pub mod control;
mod errors;
mod execution;
mod factory;
pub mod progress;
mod scenario;
mod vu_task;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

pub use errors::ErrorLog;
pub use vu_task::ScenarioCounters;

use std::net::SocketAddr;

use control::{Control, ControlError};
use factory::{ScenarioVus, VuFactory};

use crate::config::TestConfig;
use crate::metrics::thresholds;
use crate::metrics::{builtin, Aggregate, Sample, TagSetId};
use crate::plan::executor::{Closed, Drive};
use crate::plan::segment::ExecutionTuple;
use crate::vu::{GuestError, Plugin};

/// How often VU buffers are merged into the aggregate.
const COLLECT_EVERY: Duration = Duration::from_millis(250);
/// Longest `teardown` may run once the user stopped the test.
const TEARDOWN_AFTER_SIGNAL: Duration = Duration::from_secs(5);
/// How often thresholds with `abortOnFail` are evaluated (k6: 2 s).
const THRESHOLDS_EVERY: Duration = Duration::from_secs(2);

/// Why a test could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A VU could not be created.
    #[error("cannot initialise VU {vu}: {source}")]
    Init {
        /// The VU id.
        vu: u32,
        /// What failed.
        source: GuestError,
    },
    /// The plugin's `setup` failed.
    #[error("setup failed: {0}")]
    Setup(GuestError),
    /// The control API could not start.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// Ctrl-C or SIGTERM arrived before the first iteration started.
    #[error("stopped before the test started")]
    Interrupted,
}

/// Why the test ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abort {
    /// Ctrl-C or SIGTERM.
    Signal,
    /// A threshold with `abortOnFail` failed.
    Threshold(String),
    /// The script called `test.abort(reason)` (k6/execution).
    Script(String),
}

/// What a run produced besides its metrics.
#[derive(Debug)]
pub struct RunReport {
    /// Time from the start of the first scenario to the end of the last (before teardown).
    pub elapsed: Duration,
    /// Completed iterations per scenario, then interrupted ones.
    pub scenarios: Vec<(String, u64, u64)>,
    /// Why the test ended early, if it did.
    pub aborted: Option<Abort>,
    /// Distinct iteration errors with counts.
    pub errors: BTreeMap<String, u64>,
    /// Most VUs initialised.
    pub vus_max: u32,
    /// `teardown` failed (or timed out, then `Some(GuestError::Timeout)`).
    pub teardown: Option<GuestError>,
    /// A scenario's task panicked (a host bug): its message. The run was stopped.
    pub panicked: Option<String>,
    /// The script called `test.fail()` (k6/execution): the run exits with code 110.
    pub marked_failed: bool,
}

/// How a run is set up beyond its test configuration.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// This process's execution segment (`0:1` for a single run).
    pub segment: ExecutionTuple,
    /// Where the control API listens when a scenario is externally controlled.
    pub control_address: SocketAddr,
    /// The HTTP client configuration every VU shares.
    pub http: Arc<crate::transport::HttpConfig>,
    /// Counters the caller reads while the run goes (a shard reports them to its coordinator);
    /// when given, the engine draws no progress of its own.
    pub live: Option<Live>,
    /// How this process meets the other shards of its run; `None`: it is the whole run.
    pub gate: Option<Gate>,
}

/// Where a shard meets the others of its run, so the test's `setup` and `teardown` run once,
/// on the lifecycle shard, and every shard starts its scenarios at the same moment.
#[derive(Debug, Clone)]
pub struct Gate {
    /// This shard runs `setup` and `teardown` for the whole run.
    pub lifecycle: bool,
    /// Told once this process's VUs are initialised, with `setup`'s data when it ran setup.
    pub ready: tokio::sync::mpsc::UnboundedSender<Option<String>>,
    /// `setup`'s data for every shard, given once every shard is ready.
    pub start: watch::Receiver<Option<Arc<str>>>,
    /// True once every other shard is done: the lifecycle shard may run `teardown`.
    pub teardown: watch::Receiver<bool>,
    /// Told when the script calls `test.abort(reason)`, so that every shard stops.
    pub aborted: tokio::sync::mpsc::UnboundedSender<String>,
}

/// A run's counters, shared with whoever watches it.
#[derive(Debug, Clone)]
pub struct Live {
    /// Per scenario, in the test's order.
    pub counters: Vec<Arc<ScenarioCounters>>,
    /// VUs running an iteration.
    pub active: Arc<AtomicU64>,
    /// VUs created.
    pub vus_max: Arc<AtomicU64>,
    /// When the scenarios started (after VUs were created and `setup` ran).
    pub started: Arc<std::sync::OnceLock<Instant>>,
}

impl Live {
    /// Zeroed counters for `test`.
    pub fn new(test: &TestConfig) -> Live {
        Live {
            counters: test
                .scenarios
                .iter()
                .map(|_| Arc::new(ScenarioCounters::default()))
                .collect(),
            active: Arc::default(),
            vus_max: Arc::default(),
            started: Arc::default(),
        }
    }
}

/// Runs `test` with `plugin`, recording into `aggregate`. `signal` becomes true on Ctrl-C.
pub async fn run(
    test: &TestConfig,
    plugin: Arc<Plugin>,
    aggregate: Arc<Aggregate>,
    settings: &RunSettings,
    mut signal: watch::Receiver<bool>,
) -> Result<RunReport, EngineError> {
    let test_start = Instant::now();
    let tuple = &settings.segment;
    thresholds::track_windows(&test.thresholds, &aggregate);
    let live = settings.live.clone().unwrap_or_else(|| Live::new(test));
    let (run_state, mut script_abort) = execution::RunState::new(test, tuple, live.clone());
    let factory = VuFactory::new(
        plugin,
        aggregate.clone(),
        test_start,
        Arc::new(test.sandbox.clone()),
        settings.http.clone(),
        run_state.clone(),
        tuple.clone(),
    );

    // Ctrl-C or SIGTERM while VUs are created or setup runs ends the run at once.
    let mut early = signal.clone();
    let interrupted = async move { clock::wait_stop(&mut early).await };
    let ready = async {
        // Initialise VUs up front, as k6 does, so the schedule is not delayed by it. Arrival-rate
        // scenarios start with their pre-allocated VUs and may grow to max-vus during the run.
        let mut per_scenario = Vec::new();
        let mut next_id = 1u32;
        let mut initialised = 0u64;
        let mut control = Control::default();
        for (index, sc) in test.scenarios.iter().enumerate() {
            let settings = ScenarioVus::new(sc, &test.env, &test.tags, test.system_tags)
                .in_run(run_state.scenario_run(index));
            let mut vus = Vec::with_capacity(sc.local_initial_vus(tuple) as usize);
            for _ in 0..sc.local_initial_vus(tuple) {
                vus.push(factory.create(next_id, &settings).await?);
                next_id += 1;
                initialised += 1;
            }
            let first_growth_id = next_id;
            next_id += sc.local_max_vus(tuple) - sc.local_initial_vus(tuple);
            let external = match sc.drive() {
                Drive::Closed(Closed::External { vus, max_vus, .. }) => {
                    Some(control.register(&sc.name, vus, max_vus))
                }
                Drive::Closed(
                    Closed::For(_) | Closed::Steps { .. } | Closed::Iterations { .. },
                )
                | Drive::Open(_) => None,
            };
            per_scenario.push((vus, settings, first_growth_id, external));
        }
        let vus_max = live.vus_max.clone();
        vus_max.store(initialised, Ordering::Relaxed);
        // Engine-level samples (vus, vus_max, dropped_iterations) carry the test's global tags.
        let run_tags = aggregate.tags().intern(
            test.tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        // A sharded run's coordinator holds a paused start (the shards wait for its Start).
        let mut paused = (test.paused && settings.gate.is_none()).then(|| control.pause());
        let control_task = if control.is_empty() {
            None
        } else {
            Some(Arc::new(control).serve(settings.control_address).await?)
        };
        if let Some(paused) = paused.as_mut() {
            wait_for_resume(paused, settings.control_address).await;
        }

        let mut lifecycle = factory
            .create(
                0,
                &ScenarioVus::lifecycle(&test.env, &test.tags, test.system_tags),
            )
            .await?;
        let runs_setup = !test.no_setup && settings.gate.as_ref().is_none_or(|g| g.lifecycle);
        let mut data: Arc<str> = if runs_setup {
            lifecycle
                .setup(test.setup_timeout)
                .await
                .map_err(EngineError::Setup)?
                .into()
        } else {
            Arc::from("")
        };
        if let Some(gate) = &settings.gate {
            let _ = gate.ready.send(runs_setup.then(|| data.to_string()));
            let mut start = gate.start.clone();
            data = match start.wait_for(Option::is_some).await {
                Ok(given) => given.clone().unwrap_or_default(),
                Err(_) => return Err(EngineError::Interrupted),
            };
        }
        Ok::<_, EngineError>((
            per_scenario,
            vus_max,
            run_tags,
            control_task,
            lifecycle,
            data,
        ))
    };
    let (per_scenario, vus_max, run_tags, control_task, mut lifecycle, data) = tokio::select! {
        ready = ready => ready?,
        () = interrupted => return Err(EngineError::Interrupted),
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let active_total = live.active.clone();
    let errors = Arc::new(ErrorLog::default());
    let counters = live.counters.clone();
    let start = Instant::now();
    let _ = live.started.set(start);
    run_state.started_now();

    let mut runs = tokio::task::JoinSet::new();
    for ((sc, (vus, vu_settings, growth_id, external)), counters) in
        test.scenarios.iter().zip(per_scenario).zip(&counters)
    {
        let sc = sc.clone();
        let counters = counters.clone();
        let tuple = tuple.clone();
        let growth = arrival::Growth {
            factory: factory.clone(),
            vus: vu_settings,
            next_id: growth_id,
            max: sc.local_max_vus(&tuple),
            initialised: vus_max.clone(),
        };
        let shared = scenario::Shared {
            data: data.clone(),
            active_total: active_total.clone(),
            errors: errors.clone(),
            stop: stop_rx.clone(),
            min_iteration: test.min_iteration_duration,
        };
        runs.spawn(async move {
            let mut stop = shared.stop.clone();
            let begin = start + sc.start_time;
            if !clock::sleep_until(begin, &mut stop).await {
                return (sc.name.clone(), scenario::ScenarioResult::default());
            }
            let r = match sc.drive() {
                Drive::Open(curve) => {
                    let starts = sc.arrival_tuple(&tuple);
                    arrival::run(&sc, curve, vus, begin, counters, shared, growth, |i| {
                        starts.owns(i)
                    })
                    .await
                }
                Drive::Closed(closed) => {
                    scenario::run(&sc, closed, vus, begin, counters, shared, &tuple, external).await
                }
            };
            (sc.name.clone(), r)
        });
    }

    let mut progress = settings.live.is_none().then(|| {
        progress::Progress::new(
            start,
            test,
            tuple,
            counters.clone(),
            active_total.clone(),
            aggregate.clone(),
        )
    });
    let mut collect = tokio::time::interval(COLLECT_EVERY);
    let mut evaluate = tokio::time::interval(THRESHOLDS_EVERY);
    let mut sample_vus = tokio::time::interval_at(
        (start + Duration::from_secs(1)).into(),
        Duration::from_secs(1),
    );
    let mut vus_sampled = false;
    let mut aborted = None;
    let mut dropped = 0u64;
    let mut panicked = None;
    let record_vus = |active: u64| {
        aggregate.record(&[
            vus_sample(builtin::VUS, run_tags, active as f64, aggregate.now_ms()),
            vus_sample(
                builtin::VUS_MAX,
                run_tags,
                vus_max.load(Ordering::Relaxed) as f64,
                aggregate.now_ms(),
            ),
        ]);
    };
    loop {
        tokio::select! {
            joined = runs.join_next() => match joined {
                Some(Ok((_, r))) => dropped += r.dropped,
                Some(Err(e)) => {
                    // A host bug, not the guest's: stop the test and say so at the end.
                    crate::logging::host(crate::logging::Level::Error, &format!("a scenario task failed: {e}"));
                    panicked.get_or_insert_with(|| e.to_string());
                    stop_tx.send_replace(true);
                }
                None => break,
            },
            _ = collect.tick() => aggregate.collect(),
            _ = sample_vus.tick() => {
                record_vus(active_total.load(Ordering::Relaxed));
                vus_sampled = true;
                if let Some(p) = progress.as_mut() {
                    p.tick();
                }
            }
            _ = evaluate.tick(), if aborted.is_none() => {
                aggregate.collect();
                let failed = thresholds::aborting(&test.thresholds, &aggregate, start.elapsed());
                if !failed.is_empty() {
                    aborted = Some(Abort::Threshold(failed.join(", ")));
                    stop_tx.send_replace(true);
                }
            }
            changed = script_abort.changed(), if aborted.is_none() => {
                let reason = script_abort.borrow().clone();
                if let (Ok(()), Some(reason)) = (changed, reason) {
                    if let Some(gate) = &settings.gate {
                        let _ = gate.aborted.send(reason.clone());
                    }
                    aborted = Some(Abort::Script(reason));
                    stop_tx.send_replace(true);
                }
            }
            changed = signal.changed(), if aborted.is_none() => {
                if changed.is_ok() && *signal.borrow() {
                    aborted = Some(Abort::Signal);
                    stop_tx.send_replace(true);
                }
            }
        }
    }
    let elapsed = start.elapsed();
    if dropped > 0 {
        let tags = run_tags;
        aggregate.record(&[Sample {
            metric: builtin::DROPPED_ITERATIONS,
            tags,
            value: dropped as f64,
            at: aggregate.now_ms(),
        }]);
    }
    if !vus_sampled {
        // A test shorter than the sampling period still reports its VUs.
        record_vus(vus_max.load(Ordering::Relaxed));
    }
    if let Some(task) = control_task {
        task.abort();
    }
    // After Ctrl-C or SIGTERM, teardown still runs, as in k6, but only briefly.
    let teardown_limit = match aborted {
        Some(Abort::Signal) => test.teardown_timeout.min(TEARDOWN_AFTER_SIGNAL),
        _ => test.teardown_timeout,
    };
    let teardown = match &settings.gate {
        _ if test.no_teardown => None,
        None => lifecycle.teardown(&data, teardown_limit).await.err(),
        Some(gate) if gate.lifecycle => {
            // After every other shard, as if the run were one process.
            let _ = gate.teardown.clone().wait_for(|go| *go).await;
            lifecycle.teardown(&data, teardown_limit).await.err()
        }
        Some(_) => None,
    };
    if let Some(e) = &teardown {
        crate::logging::host(
            crate::logging::Level::Error,
            &format!("teardown failed: {e}"),
        );
    }
    aggregate.collect();
    if let Some(p) = progress.as_mut() {
        p.finish();
    }
    let scenarios = test
        .scenarios
        .iter()
        .zip(&counters)
        .map(|(sc, c)| {
            (
                sc.name.clone(),
                c.complete.load(Ordering::Acquire),
                c.interrupted.load(Ordering::Acquire),
            )
        })
        .collect();
    Ok(RunReport {
        elapsed,
        scenarios,
        aborted,
        errors: errors.counts(),
        vus_max: vus_max.load(Ordering::Relaxed) as u32,
        teardown,
        panicked,
        marked_failed: run_state.marked_failed(),
    })
}

/// Waits, before `setup` as k6 does, until `volley resume` (or the control API's
/// `{"paused": false}`) starts a test run with `--paused`.
pub async fn wait_for_resume(paused: &mut watch::Receiver<bool>, address: SocketAddr) {
    crate::logging::host(
        crate::logging::Level::Info,
        &format!("paused: VUs are ready; the test starts on `volley resume --address {address}`"),
    );
    let _ = paused.wait_for(|paused| !paused).await;
}

fn vus_sample(metric: crate::metrics::MetricId, tags: TagSetId, value: f64, at: u32) -> Sample {
    Sample {
        metric,
        tags,
        value,
        at,
    }
}
