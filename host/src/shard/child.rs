//! The shard side: runs one execution segment of the test with no output of its own and reports
//! to its coordinator over the shard protocol, on the stdout it was started with; takes the
//! coordinator's commands on stdin.

use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tokio::sync::watch;

use super::protocol::{self, Command, Delta, MetricDefWire, Outcome, Progress, Report, Tick};
use super::ShardId;
use crate::app::{self, AppError};
use crate::cli::RunArgs;
use crate::engine::{self, Gate, Live, RunSettings};
use crate::metrics::{Aggregate, TagSetId, Tags, BUILTINS};
use crate::transport::HttpConfig;
use crate::vu::GuestError;

/// How often a shard sends what changed.
pub const TICK: Duration = Duration::from_millis(250);
/// Most samples in one message (about 8 MB of JSON, well under the protocol's limit).
const SAMPLES_PER_MESSAGE: usize = 200_000;

/// Runs shard `id` of the test `args` describes and returns the process's exit code. `signal`
/// (Ctrl-C, SIGTERM) stops it as a Stop command does.
pub async fn run(args: &RunArgs, id: ShardId, signal: watch::Receiver<bool>) -> i32 {
    let out = match Out::take_stdout() {
        Ok(out) => out,
        Err(e) => {
            eprintln!(
                "error: shard {}: cannot set up its report stream: {e}",
                id.index
            );
            return 1;
        }
    };
    let args = shard_args(args, id);
    out.send(&Report::Hello {
        index: id.index,
        pid: std::process::id(),
        segment: id.segment(),
    });
    let commands = Commands::read(signal);
    match run_segment(&args, id, &out, commands).await {
        Ok(outcome) => {
            out.send(&Report::Done(outcome));
            out.finish();
            0
        }
        Err(e) => {
            let exit_code = e.exit_code();
            out.send(&Report::Failed {
                message: e.to_string(),
                exit_code,
            });
            out.finish();
            exit_code
        }
    }
}

/// The coordinator's options as this shard runs them: its segment, and nothing the coordinator
/// does once for all (outputs, summary, thresholds, progress).
fn shard_args(args: &RunArgs, id: ShardId) -> RunArgs {
    let mut a = args.clone();
    a.execution_segment = Some(id.segment());
    a.execution_segment_sequence = Some(id.sequence());
    a.outputs.clear();
    a.report = None;
    a.summary_export = None;
    a.no_summary = true;
    a.no_thresholds = true;
    a.quiet = true;
    a
}

async fn run_segment(
    args: &RunArgs,
    id: ShardId,
    out: &Out,
    commands: Commands,
) -> Result<Outcome, AppError> {
    let p = app::prepare(args).await?;
    let plugin = app::plugin_for_this_process(&p)?;
    let aggregate = Aggregate::new(Tags::new(), p.test.metrics.clone());
    aggregate.track_deltas();
    if args.shard_samples {
        aggregate.keep_samples();
    }
    let live = Live::new(&p.test);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
    let (aborted_tx, mut aborted_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut http = HttpConfig::new(&p.test.http)?;
    // Shards' loopback sources follow on from the shards before (about this many VUs each).
    http.vus_before = id
        .index
        .saturating_mul(p.test.max_vus().div_ceil(id.count.max(1)));
    // k6's `rps` is the whole test's: each of the equal shards sends its share.
    http.share_rps(id.count);
    let settings = RunSettings {
        http: Arc::new(http),
        segment: p.segment.clone(),
        control_address: args.address,
        live: Some(live.clone()),
        gate: Some(Gate {
            lifecycle: id.index == 0,
            ready: ready_tx,
            start: commands.start,
            teardown: commands.teardown,
            aborted: aborted_tx,
        }),
    };
    let mut ticks = Ticks::default();
    let run = engine::run(&p.test, plugin, aggregate.clone(), &settings, commands.stop);
    tokio::pin!(run);
    let mut timer = tokio::time::interval(TICK);
    let report = loop {
        tokio::select! {
            report = &mut run => break report?,
            Some(setup) = ready_rx.recv() => out.send(&Report::Ready { setup }),
            Some(reason) = aborted_rx.recv() => out.send(&Report::Aborted { reason }),
            _ = timer.tick() => ticks.send(&aggregate, &live, out),
        }
    };
    aggregate.collect();
    ticks.send(&aggregate, &live, out);
    Ok(Outcome {
        elapsed_ms: report.elapsed.as_millis() as u64,
        scenarios: report.scenarios,
        errors: report.errors,
        vus_max: report.vus_max,
        stopped: report.aborted.is_some(),
        panicked: report.panicked,
        teardown_timeout_ms: match &report.teardown {
            Some(GuestError::Timeout { limit, .. }) => Some(limit.as_millis() as u64),
            _ => None,
        },
        teardown: report.teardown.map(|e| e.to_string()),
        marked_failed: report.marked_failed,
    })
}

/// What the shard has told its coordinator so far: how many custom metrics and tag sets.
#[derive(Default)]
struct Ticks {
    metrics_sent: usize,
    tag_sets_sent: u32,
}

impl Ticks {
    /// Sends the next tick: every series' change since the last, with the definitions it needs
    /// (and the samples, when kept, over as many messages as they take).
    fn send(&mut self, aggregate: &Aggregate, live: &Live, out: &Out) {
        let mut tick = self.next(aggregate, live);
        let mut samples = std::mem::take(&mut tick.samples);
        let rest = samples.split_off(samples.len().min(SAMPLES_PER_MESSAGE));
        tick.samples = samples;
        out.send(&Report::Tick(tick));
        for chunk in rest.chunks(SAMPLES_PER_MESSAGE) {
            out.send(&Report::Tick(Tick {
                samples: chunk.to_vec(),
                now_ms: aggregate.now_ms(),
                ..Tick::default()
            }));
        }
    }

    fn next(&mut self, aggregate: &Aggregate, live: &Live) -> Tick {
        let deltas = aggregate.take_deltas();
        let samples = aggregate.take_samples();
        let defs = aggregate.metrics().all();
        let custom_known = self.metrics_sent.max(BUILTINS.len());
        let metrics: Vec<MetricDefWire> = defs
            .get(custom_known..)
            .unwrap_or_default()
            .iter()
            .map(|d| MetricDefWire {
                name: d.name.to_string(),
                kind: d.kind,
                contains: d.contains,
            })
            .collect();
        self.metrics_sent = custom_known + metrics.len();
        let first_tag_set = self.tag_sets_sent;
        let newest = deltas
            .iter()
            .map(|(_, t, _)| *t)
            .chain(samples.iter().map(|s| s.tags))
            .filter(|t| *t != TagSetId::OVERFLOW)
            .max();
        let tag_sets: Vec<Vec<(String, String)>> = match newest {
            Some(TagSetId(n)) if n >= first_tag_set => (first_tag_set..=n)
                .map(|i| aggregate.tags().get(TagSetId(i)).to_vec())
                .collect(),
            _ => Vec::new(),
        };
        self.tag_sets_sent += tag_sets.len() as u32;
        Tick {
            metrics,
            tag_sets,
            first_tag_set,
            deltas: deltas
                .iter()
                .map(|(m, t, v)| Delta {
                    metric: m.0,
                    tags: t.0,
                    value: protocol::ValueWire::from_value(v),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|s| (s.metric.0, s.tags.0, s.value, s.at))
                .collect(),
            now_ms: aggregate.now_ms(),
            progress: Some(progress(live)),
        }
    }
}

fn progress(live: &Live) -> Progress {
    Progress {
        running_ms: live.started.get().map(|s| s.elapsed().as_millis() as u64),
        active: live.active.load(Ordering::Relaxed),
        vus_max: live.vus_max.load(Ordering::Relaxed),
        scenarios: live
            .counters
            .iter()
            .map(|c| {
                [
                    c.active.load(Ordering::Relaxed),
                    c.complete.load(Ordering::Relaxed),
                    c.interrupted.load(Ordering::Relaxed),
                ]
            })
            .collect(),
    }
}

/// What the coordinator tells this shard, as watch channels the engine reads.
struct Commands {
    /// True once `signal` is, or the coordinator sends Stop, or its command stream ends (the
    /// coordinator is gone).
    stop: watch::Receiver<bool>,
    /// `setup`'s data, once the coordinator sends Start.
    start: watch::Receiver<Option<Arc<str>>>,
    /// True once the coordinator sends Teardown (or is gone).
    teardown: watch::Receiver<bool>,
}

impl Commands {
    /// Reads the coordinator's commands from stdin until the stream ends.
    fn read(mut signal: watch::Receiver<bool>) -> Commands {
        let (stop_tx, stop) = watch::channel(false);
        let stop_tx = Arc::new(stop_tx);
        let (start_tx, start) = watch::channel(None);
        let (teardown_tx, teardown) = watch::channel(false);
        let on_signal = stop_tx.clone();
        tokio::spawn(async move {
            if signal.wait_for(|stop| *stop).await.is_ok() {
                on_signal.send_replace(true);
            }
        });
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            if protocol::read_header(&mut stdin).await.is_ok() {
                while let Ok(Some(command)) = protocol::read_message::<_, Command>(&mut stdin).await
                {
                    match command {
                        Command::Stop => {
                            stop_tx.send_replace(true);
                        }
                        Command::Start { setup } => {
                            start_tx.send_replace(Some(Arc::from(setup)));
                        }
                        Command::Teardown => {
                            teardown_tx.send_replace(true);
                        }
                    }
                }
            }
            // The stream ended or is unreadable: the coordinator is gone. Stop, and let the
            // lifecycle shard's teardown run as a single process's would.
            stop_tx.send_replace(true);
            teardown_tx.send_replace(true);
        });
        Commands {
            stop,
            start,
            teardown,
        }
    }
}

/// The report stream: the stdout the shard was started with, written by its own thread so a
/// slow reader never blocks the run. Anything else printed to stdout goes to stderr instead.
struct Out {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Out {
    fn take_stdout() -> std::io::Result<Out> {
        // SAFETY: plain fd duplication; `dup` returns a new descriptor this function then owns.
        let fd = unsafe { libc::dup(1) };
        if fd < 0 || unsafe { libc::dup2(2, 1) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let writer = std::thread::Builder::new()
            .name("shard-report".into())
            .spawn(move || {
                if file.write_all(&protocol::header()).is_err() {
                    return;
                }
                for frame in rx {
                    if file.write_all(&frame).is_err() {
                        return;
                    }
                }
                let _ = file.flush();
            })?;
        Ok(Out {
            tx: Some(tx),
            writer: Some(writer),
        })
    }

    fn send(&self, report: &Report) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(protocol::encode(report));
        }
    }

    /// Writes everything sent, then closes the stream.
    fn finish(mut self) {
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}
