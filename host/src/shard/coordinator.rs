//! The coordinator: starts the shards (child processes of this `volley`), starts their
//! scenarios together with shard 0's `setup` data and lets shard 0 run `teardown` once the
//! others are done, merges their metric deltas into the run's one [`Aggregate`], draws one progress, evaluates `abortOnFail`
//! thresholds on the merged metrics, forwards Ctrl-C as Stop, and fails the run when a shard
//! dies. Every shard is killed when the coordinator returns or exits.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::{mpsc, watch};

use super::protocol::{self, Command, Outcome, Progress, ProtocolError, Report, Tick};
use super::ShardId;
use crate::app::{exit, Prepared};
use crate::engine::progress::Progress as ProgressBlock;
use crate::engine::{Abort, Live, RunReport};
use crate::metrics::{builtin, thresholds, Aggregate, MetricId, Sample, TagSetId, BUILTINS};
use crate::vu::GuestError;

/// How often thresholds with `abortOnFail` are evaluated on the merged metrics (k6: 2 s).
const THRESHOLDS_EVERY: Duration = Duration::from_secs(2);

/// Why a sharded run failed.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// A shard process could not be started.
    #[error("cannot start shard {index}: {source}")]
    Spawn {
        /// Its index.
        index: u32,
        /// Why.
        source: std::io::Error,
    },
    /// The built scenario could not be handed to the shards.
    #[error("cannot write the built scenario for the shards to {path}: {source}")]
    Artifact {
        /// Where it was to go.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A shard ended without finishing its report: it crashed or was killed.
    #[error("shard {index} (segment {segment}, pid {pid}) {status} before the end of the run{}",
        last_line.as_ref().map(|l| format!("; its last stderr line: {l}")).unwrap_or_default())]
    Died {
        /// Its index.
        index: u32,
        /// Its execution segment.
        segment: String,
        /// Its process id.
        pid: u32,
        /// How it ended, e.g. `was killed by signal 9 (SIGKILL)`.
        status: String,
        /// The last line it wrote to stderr.
        last_line: Option<String>,
    },
    /// A shard's report stream could not be read.
    #[error("shard {index} (segment {segment}, pid {pid}): {source}")]
    Protocol {
        /// Its index.
        index: u32,
        /// Its execution segment.
        segment: String,
        /// Its process id.
        pid: u32,
        /// What was wrong.
        source: ProtocolError,
    },
    /// The control API (for `--paused`) could not start.
    #[error(transparent)]
    Control(#[from] crate::engine::control::ControlError),
    /// A shard could not run the test (it reported why).
    #[error("shard {index} (segment {segment}): {message}")]
    Failed {
        /// Its index.
        index: u32,
        /// Its execution segment.
        segment: String,
        /// Its error.
        message: String,
        /// Its exit code.
        exit_code: i32,
    },
}

impl ShardError {
    /// The process exit code: the shard's own when it reported an error, k6's "host failed"
    /// otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            ShardError::Failed { exit_code, .. } => *exit_code,
            _ => exit::HOST_PANIC,
        }
    }
}

/// What a shard's reader tasks tell the coordinator.
enum Event {
    Report(Report),
    /// The report stream ended (`Some`: with an error).
    End(Option<ProtocolError>),
}

/// One running shard.
struct Shard {
    id: ShardId,
    pid: u32,
    child: Child,
    stdin: Option<ChildStdin>,
    last_line: Arc<Mutex<Option<String>>>,
    /// Its custom metric ids (from `BUILTINS.len()` on) in the coordinator's ids.
    metrics: Vec<MetricId>,
    /// Its tag set ids in the coordinator's ids.
    tags: Vec<TagSetId>,
    progress: Progress,
    /// It reported its VUs ready.
    ready: bool,
    outcome: Option<Outcome>,
    /// Milliseconds to add to the shard's sample times to get the coordinator's.
    clock_offset: Option<i64>,
}

impl Shard {
    /// Merges a tick into `aggregate`, translating the shard's ids.
    fn apply(&mut self, tick: Tick, aggregate: &Aggregate) -> Result<(), ProtocolError> {
        let invalid = |m: String| ProtocolError::Invalid(m);
        for def in tick.metrics {
            let id = aggregate
                .metrics()
                .custom(&def.name, def.kind, def.contains)
                .map_err(|e| invalid(e.to_string()))?;
            self.metrics.push(id);
        }
        if !tick.tag_sets.is_empty() && tick.first_tag_set as usize != self.tags.len() {
            return Err(invalid(format!(
                "tag sets from id {} were sent, expected {}",
                tick.first_tag_set,
                self.tags.len()
            )));
        }
        for set in tick.tag_sets {
            self.tags.push(aggregate.tags().intern(set));
        }
        let mut deltas = Vec::with_capacity(tick.deltas.len());
        for d in tick.deltas {
            let Some((metric, tags)) = self.series(d.metric, d.tags)? else {
                continue;
            };
            let value = d.value.to_value().map_err(|e| invalid(e.to_string()))?;
            let kind = aggregate.metrics().def(metric).kind;
            if std::mem::discriminant(&value)
                != std::mem::discriminant(&crate::metrics::MetricValue::new(kind))
            {
                return Err(invalid(format!(
                    "a value of the wrong type for metric {}",
                    aggregate.metrics().def(metric).name
                )));
            }
            deltas.push((metric, tags, value));
        }
        aggregate.merge_deltas(&deltas);
        if !tick.samples.is_empty() {
            let offset = *self
                .clock_offset
                .get_or_insert(i64::from(aggregate.now_ms()) - i64::from(tick.now_ms));
            let mut samples = Vec::with_capacity(tick.samples.len());
            for (metric, tags, value, at) in tick.samples {
                if let Some((metric, tags)) = self.series(metric, tags)? {
                    let at = (i64::from(at) + offset).clamp(0, i64::from(u32::MAX)) as u32;
                    samples.push(Sample {
                        metric,
                        tags,
                        value,
                        at,
                    });
                }
            }
            aggregate.stream_samples(&samples);
        }
        if let Some(progress) = tick.progress {
            self.progress = progress;
        }
        Ok(())
    }

    /// The coordinator's ids for the shard's series (`None`: `vus` and `vus_max`, which the
    /// coordinator samples itself because the shards' add up).
    fn series(
        &self,
        metric: u16,
        tags: u32,
    ) -> Result<Option<(MetricId, TagSetId)>, ProtocolError> {
        let invalid = |m: String| ProtocolError::Invalid(m);
        let id = match (metric as usize).checked_sub(BUILTINS.len()) {
            None => MetricId(metric),
            Some(i) => *self
                .metrics
                .get(i)
                .ok_or_else(|| invalid(format!("unknown metric id {metric}")))?,
        };
        if id == builtin::VUS || id == builtin::VUS_MAX {
            return Ok(None);
        }
        let set = *self
            .tags
            .get(tags as usize)
            .ok_or_else(|| invalid(format!("unknown tag set id {tags}")))?;
        Ok(Some((id, set)))
    }

    async fn stop(&mut self) {
        self.send(&Command::Stop).await;
    }

    async fn send(&mut self, command: &Command) {
        if let Some(stdin) = self.stdin.as_mut() {
            if stdin.write_all(&protocol::encode(command)).await.is_err() {
                self.stdin = None;
            }
        }
    }

    /// The error for a shard whose stream ended before `Done`.
    async fn died(&mut self, error: Option<ProtocolError>) -> ShardError {
        let segment = self.id.segment();
        if let Some(source) = error.filter(|e| !matches!(e, ProtocolError::Truncated)) {
            return ShardError::Protocol {
                index: self.id.index,
                segment,
                pid: self.pid,
                source,
            };
        }
        let status = match self.child.wait().await {
            Ok(s) => describe(s),
            Err(e) => format!("could not be waited for ({e})"),
        };
        ShardError::Died {
            index: self.id.index,
            segment,
            pid: self.pid,
            status,
            last_line: self
                .last_line
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

/// How a process ended, in words.
fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig} ({})", signal_name(sig)),
        _ => "ended".into(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGINT => "SIGINT",
        libc::SIGBUS => "SIGBUS",
        _ => "signal",
    }
}

/// A JavaScript scenario built once by the coordinator, in a file the shards read; removed when
/// the run ends.
struct Artifact(PathBuf);

impl Artifact {
    fn write(p: &Prepared) -> Result<Option<Artifact>, ShardError> {
        if !crate::script_build::is_script(std::path::Path::new(&p.origin)) {
            return Ok(None);
        }
        let path = std::env::temp_dir().join(format!("volley-shard-{}.wasm", std::process::id()));
        std::fs::write(&path, &p.wasm).map_err(|source| ShardError::Artifact {
            path: path.clone(),
            source,
        })?;
        Ok(Some(Artifact(path)))
    }
}

impl Drop for Artifact {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the test `p` in `count` shards, merging their metrics into `aggregate`; returns the
/// merged report. `target` is the built-in target's URL when this process started it; with
/// `samples` the shards also send every sample, for the streaming outputs.
pub async fn coordinate(
    count: u32,
    p: &Prepared,
    target: Option<&str>,
    samples: bool,
    aggregate: &Arc<Aggregate>,
    control_address: std::net::SocketAddr,
    mut signal: watch::Receiver<bool>,
) -> Result<RunReport, ShardError> {
    let artifact = Artifact::write(p)?;
    // `--paused`: the shards get their Start once resumed (and ready).
    let (mut paused, _control) = if p.test.paused {
        let mut control = crate::engine::control::Control::default();
        let paused = control.pause();
        let task = Arc::new(control).serve(control_address).await?;
        crate::logging::host(
            crate::logging::Level::Info,
            &format!("paused: the test starts once VUs are ready and `volley resume --address {control_address}` is run"),
        );
        (Some(paused), Some(AbortOnDrop(task)))
    } else {
        (None, None)
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Event)>();
    let mut shards = Vec::new();
    for index in 0..count {
        let id = ShardId { index, count };
        shards.push(spawn(id, artifact.as_ref(), target, samples, tx.clone()).await?);
    }
    drop(tx);
    thresholds::track_windows(&p.test.thresholds, aggregate);
    let live = Live::new(&p.test);
    let run_tags = aggregate.tags().intern(
        p.test
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    let mut block: Option<ProgressBlock> = None;
    let mut start: Option<Instant> = None;
    let mut every_second = tokio::time::interval(Duration::from_secs(1));
    let mut evaluate = tokio::time::interval(THRESHOLDS_EVERY);
    let mut aborted: Option<Abort> = None;
    let mut vus_sampled = false;
    let mut ended = 0;
    // `setup` runs once, on shard 0; its data goes to every shard once all are ready.
    let mut setup: Option<String> = None;
    let mut started = false;
    let mut teardown_sent = false;
    while ended < shards.len() {
        tokio::select! {
            Some((i, event)) = rx.recv() => match event {
                Event::Report(Report::Hello { .. }) => {}
                Event::Report(Report::Ready { setup: data }) => {
                    shards[i].ready = true;
                    if data.is_some() {
                        setup = data;
                    }
                }
                Event::Report(Report::Tick(tick)) => {
                    let shard = &mut shards[i];
                    if let Err(source) = shard.apply(tick, aggregate) {
                        return Err(ShardError::Protocol { index: shard.id.index, segment: shard.id.segment(), pid: shard.pid, source });
                    }
                    sum_progress(&shards, &live);
                    // The run starts (for progress, `vus` and thresholds) once every shard
                    // runs, at the earliest shard's start.
                    let running: Option<Vec<u64>> = shards.iter().map(|s| s.progress.running_ms).collect();
                    if start.is_none() {
                        if let Some(ms) = running.and_then(|r| r.into_iter().max()) {
                            let s = Instant::now() - Duration::from_millis(ms);
                            start = Some(s);
                            block = Some(ProgressBlock::new(s, &p.test, &p.segment, live.counters.clone(), live.active.clone(), aggregate.clone()));
                        }
                    }
                }
                Event::Report(Report::Aborted { reason }) => {
                    if aborted.is_none() {
                        aborted = Some(Abort::Script(reason));
                        stop_all(&mut shards).await;
                    }
                }
                Event::Report(Report::Done(outcome)) => shards[i].outcome = Some(outcome),
                Event::Report(Report::Failed { message, exit_code }) => {
                    if aborted.is_some() && exit_code == exit::EXTERNAL_ABORT {
                        // Stopped before its scenarios started.
                        shards[i].outcome = Some(Outcome { stopped: true, ..Outcome::default() });
                    } else {
                        let id = shards[i].id;
                        return Err(ShardError::Failed { index: id.index, segment: id.segment(), message, exit_code });
                    }
                }
                Event::End(error) => {
                    ended += 1;
                    let shard = &mut shards[i];
                    if shard.outcome.is_none() {
                        return Err(shard.died(error).await);
                    }
                    let _ = shard.child.wait().await;
                }
            },
            _ = every_second.tick(), if start.is_some() => {
                aggregate.record(&[
                    sample(builtin::VUS, run_tags, live.active.load(Ordering::Relaxed), aggregate),
                    sample(builtin::VUS_MAX, run_tags, live.vus_max.load(Ordering::Relaxed), aggregate),
                ]);
                vus_sampled = true;
                if let Some(b) = block.as_mut() {
                    b.tick();
                }
            }
            _ = evaluate.tick(), if aborted.is_none() && start.is_some() => {
                let elapsed = start.map_or(Duration::ZERO, |s| s.elapsed());
                let failed = thresholds::aborting(&p.test.thresholds, aggregate, elapsed);
                if !failed.is_empty() {
                    aborted = Some(Abort::Threshold(failed.join(", ")));
                    stop_all(&mut shards).await;
                }
            }
            changed = signal.changed(), if aborted.is_none() => {
                if changed.is_ok() && *signal.borrow() {
                    aborted = Some(Abort::Signal);
                    stop_all(&mut shards).await;
                }
            }
            _ = resumed(&mut paused), if paused.as_ref().is_some_and(|p| *p.borrow()) => {}
        }
        let resumed = paused.as_ref().is_none_or(|p| !*p.borrow());
        if !started && resumed && shards.iter().all(|s| s.ready) {
            started = true;
            let start = Command::Start {
                setup: setup.take().unwrap_or_default(),
            };
            for s in shards.iter_mut() {
                s.send(&start).await;
            }
        }
        // `teardown` runs once, on shard 0, after every other shard is done.
        if !teardown_sent && shards[1..].iter().all(|s| s.outcome.is_some()) {
            teardown_sent = true;
            shards[0].send(&Command::Teardown).await;
        }
    }
    if !vus_sampled {
        aggregate.record(&[sample(
            builtin::VUS,
            run_tags,
            live.vus_max.load(Ordering::Relaxed),
            aggregate,
        )]);
    }
    if let Some(b) = block.as_mut() {
        b.finish();
    }
    drop(artifact);
    Ok(merged_report(
        shards.iter().filter_map(|s| s.outcome.as_ref()),
        &p.test.scenarios,
        aborted,
    ))
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Once a paused start is resumed (never without one).
async fn resumed(paused: &mut Option<watch::Receiver<bool>>) {
    match paused {
        Some(p) => {
            let _ = p.wait_for(|paused| !paused).await;
        }
        None => std::future::pending().await,
    }
}

fn sample(metric: MetricId, tags: TagSetId, value: u64, aggregate: &Aggregate) -> Sample {
    Sample {
        metric,
        tags,
        value: value as f64,
        at: aggregate.now_ms(),
    }
}

/// Starts shard `id`: this executable with the coordinator's arguments, its shard id, the built
/// scenario and the built-in target's URL. It dies with the coordinator (`PR_SET_PDEATHSIG`),
/// is killed when dropped, and has its own process group so a terminal's Ctrl-C reaches only
/// the coordinator, which forwards it.
async fn spawn(
    id: ShardId,
    artifact: Option<&Artifact>,
    target: Option<&str>,
    samples: bool,
    events: mpsc::UnboundedSender<(usize, Event)>,
) -> Result<Shard, ShardError> {
    let spawn_error = |source| ShardError::Spawn {
        index: id.index,
        source,
    };
    let exe = std::env::current_exe().map_err(spawn_error)?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1))
        .arg("--shard-child")
        .arg(format!("{}/{}", id.index, id.count));
    if let Some(a) = artifact {
        cmd.arg("--shard-plugin").arg(&a.0);
    }
    if let Some(url) = target {
        cmd.arg("-e").arg(OsString::from(format!("BASE_URL={url}")));
    }
    if samples {
        cmd.arg("--shard-samples");
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let parent = std::process::id();
    // PR_SET_PDEATHSIG fires when the thread that forked exits: this runs on the thread driving
    // the coordinator (the runtime's), which lives as long as the process.
    // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The coordinator died before prctl: do not run orphaned.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("the coordinator is gone"));
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(spawn_error)?;
    let pid = child.id().unwrap_or(0);
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(spawn_error(std::io::Error::other("no pipes")));
    };
    let _ = stdin.write_all(&protocol::header()).await;
    let index = id.index as usize;
    tokio::spawn(async move {
        let mut stdout = BufReader::new(stdout);
        let read = async {
            protocol::read_header(&mut stdout).await?;
            while let Some(report) = protocol::read_message::<_, Report>(&mut stdout).await? {
                let _ = events.send((index, Event::Report(report)));
            }
            Ok::<_, ProtocolError>(())
        };
        let error = read.await.err();
        let _ = events.send((index, Event::End(error)));
    });
    let last_line = Arc::new(Mutex::new(None));
    let last = last_line.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            crate::logging::relay(&line);
            if !line.trim().is_empty() {
                *last.lock().unwrap_or_else(|e| e.into_inner()) = Some(line);
            }
        }
    });
    Ok(Shard {
        id,
        pid,
        child,
        stdin: Some(stdin),
        last_line,
        metrics: Vec::new(),
        tags: Vec::new(),
        progress: Progress::default(),
        ready: false,
        outcome: None,
        clock_offset: None,
    })
}

async fn stop_all(shards: &mut [Shard]) {
    for s in shards.iter_mut() {
        s.stop().await;
    }
}

/// Adds the shards' counters into `live`, which the progress block reads.
fn sum_progress(shards: &[Shard], live: &Live) {
    let sum = |f: &dyn Fn(&Progress) -> u64| shards.iter().map(|s| f(&s.progress)).sum::<u64>();
    live.active.store(sum(&|p| p.active), Ordering::Relaxed);
    live.vus_max.store(sum(&|p| p.vus_max), Ordering::Relaxed);
    for (k, c) in live.counters.iter().enumerate() {
        let at = |p: &Progress, j: usize| p.scenarios.get(k).map_or(0, |s| s[j]);
        c.active.store(sum(&|p| at(p, 0)), Ordering::Relaxed);
        c.complete.store(sum(&|p| at(p, 1)), Ordering::Relaxed);
        c.interrupted.store(sum(&|p| at(p, 2)), Ordering::Relaxed);
    }
}

/// One report for the whole run from the shards' outcomes.
fn merged_report<'a>(
    outcomes: impl Iterator<Item = &'a Outcome>,
    scenarios: &[crate::plan::Scenario],
    aborted: Option<Abort>,
) -> RunReport {
    let mut report = RunReport {
        elapsed: Duration::ZERO,
        scenarios: scenarios.iter().map(|s| (s.name.clone(), 0, 0)).collect(),
        aborted,
        errors: Default::default(),
        vus_max: 0,
        teardown: None,
        panicked: None,
        marked_failed: false,
    };
    for o in outcomes {
        report.marked_failed |= o.marked_failed;
        report.elapsed = report.elapsed.max(Duration::from_millis(o.elapsed_ms));
        for (total, (_, complete, interrupted)) in report.scenarios.iter_mut().zip(&o.scenarios) {
            total.1 += complete;
            total.2 += interrupted;
        }
        for (msg, n) in &o.errors {
            *report.errors.entry(msg.clone()).or_default() += n;
        }
        report.vus_max += o.vus_max;
        if report.panicked.is_none() {
            report.panicked.clone_from(&o.panicked);
        }
        if report.teardown.is_none() {
            report.teardown = match (o.teardown_timeout_ms, &o.teardown) {
                (Some(ms), _) => Some(GuestError::Timeout {
                    call: "teardown()",
                    limit: Duration::from_millis(ms),
                }),
                (None, Some(msg)) => Some(GuestError::Failed(msg.clone())),
                (None, None) => None,
            };
        }
    }
    report
}
