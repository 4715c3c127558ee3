//! `--out influxdb=URL`: every sample to an InfluxDB 1.x database, as k6's `influxdb` output
//! writes it (v1 line protocol, [`line`]).
//!
//! The URL is k6's: `http://host:8086/k6` (the last path segment is the database, default `k6`;
//! what comes before it is a path prefix), with `user:password@` and k6's query parameters
//! (`insecure`, `precision`, `retention`, `consistency`, `pushInterval`, `concurrentWrites`,
//! `tagsAsFields`). k6's `K6_INFLUXDB_*` variables apply below the URL (`VOLLEY_INFLUXDB_*` beside
//! them, winning): `ADDR`, `DB`, `USERNAME`, `PASSWORD`, `INSECURE`, `PUSH_INTERVAL` (1s),
//! `CONCURRENT_WRITES` (4), `PRECISION`, `RETENTION`, `CONSISTENCY`, `TAGS_AS_FIELDS`
//! (`vu,iter,url`; `name:int|float|bool|string`).
//!
//! The output's thread encodes each merged batch and, every push interval, hands what it holds
//! to a writer that keeps up to `CONCURRENT_WRITES` writes in flight, each timed out. It first
//! creates the database (`CREATE DATABASE`), as k6 does; a failure there is harmless when the
//! database exists. Nothing here waits on the run or makes it wait: past [`MAX_QUEUED_BYTES`] of
//! unwritten points new points are dropped and counted, a failed write is reported and its points
//! are lost (as in k6), and at the end the writer gets [`DRAIN_TIMEOUT`] to finish.
//!
//! InfluxDB keeps one point per series and timestamp, and samples are timed to the millisecond,
//! so the sub-millisecond digits of each timestamp carry a running count: points taken in the
//! same millisecond with the same tags stay distinct instead of overwriting each other.

pub mod line;
mod settings;

pub use settings::{Precision, Settings, SettingsError};

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::logging::{self, Level};
use crate::metrics::{MetricId, Registry, Sample, TagSetId, Tags};
use line::FieldKind;

/// Encoded points waiting to be written, at most; past it new points are dropped and counted.
pub const MAX_QUEUED_BYTES: usize = 64 << 20;
/// Largest write request body; InfluxDB refuses bodies over 25 MB by default.
const MAX_BODY_BYTES: usize = 4 << 20;
/// How long one write (or the `CREATE DATABASE`) may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the writer may take to finish once the run has ended.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest error text kept from a server's answer.
const MAX_ERROR_BYTES: usize = 512;

/// Encoded points ready to write.
struct Body {
    text: String,
    points: u64,
}

/// What the writer did, shared by its writes.
#[derive(Default)]
struct Tally {
    written: u64,
    lost: u64,
    failed_writes: u64,
    failing: bool,
    slow_warned: bool,
    last_error: Option<String>,
}

/// What is queued for the writer and not yet written (or lost).
#[derive(Default)]
struct Queue {
    bytes: AtomicUsize,
    points: AtomicU64,
}

/// Runs the output until `rx` closes; returns the points written, or what was lost.
pub fn run(
    rx: mpsc::Receiver<Arc<Vec<Sample>>>,
    settings: Settings,
    tags: Tags,
    metrics: Registry,
    wall_start: SystemTime,
) -> Result<u64, String> {
    let queue = Arc::new(Queue::default());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let (body_tx, body_rx) = tokio::sync::mpsc::unbounded_channel::<Body>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let writer = {
        let (settings, queue, tally) = (settings.clone(), queue.clone(), tally.clone());
        std::thread::Builder::new()
            .name("volley-influxdb".into())
            .spawn(move || {
                write_all(settings, body_rx, queue, tally);
                let _ = done_tx.send(());
            })
            .map_err(|e| format!("influxdb: cannot start the writer: {e}"))?
    };
    let mut enc = Encoder::new(&settings, tags, metrics, wall_start);
    let mut next = Instant::now() + settings.push_interval;
    loop {
        match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(batch) => enc.ingest(&batch, &queue),
            Err(RecvTimeoutError::Timeout) => {
                enc.hand_over(&body_tx, &queue);
                next = Instant::now() + settings.push_interval;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    enc.hand_over(&body_tx, &queue);
    drop(body_tx);
    let abandoned = match done_rx.recv_timeout(DRAIN_TIMEOUT) {
        Ok(()) => {
            let _ = writer.join();
            0
        }
        // The writer thread is left to the process's exit.
        Err(_) => queue.points.load(Ordering::Relaxed),
    };
    let t = tally.lock().unwrap_or_else(|e| e.into_inner());
    let lost = t.lost + enc.dropped + enc.unsent + abandoned;
    if lost == 0 {
        return Ok(t.written);
    }
    let mut why = Vec::new();
    if t.failed_writes > 0 {
        why.push(format!(
            "{} writes failed, the last with: {}",
            t.failed_writes,
            t.last_error.as_deref().unwrap_or("?")
        ));
    }
    if enc.dropped > 0 {
        why.push(format!(
            "{} dropped while {} MiB waited to be written",
            enc.dropped,
            MAX_QUEUED_BYTES >> 20
        ));
    }
    if enc.unsent > 0 {
        why.push(format!("{} never reached the writer", enc.unsent));
    }
    if abandoned > 0 {
        why.push(format!(
            "{abandoned} still queued {}s after the run",
            DRAIN_TIMEOUT.as_secs()
        ));
    }
    Err(format!(
        "{lost} of {} points were not written ({})",
        t.written + lost,
        why.join("; ")
    ))
}

/// Turns samples into line-protocol bodies.
struct Encoder {
    tags: Tags,
    metrics: Registry,
    as_fields: Vec<(String, FieldKind)>,
    /// Each tag set rendered once, by id.
    rendered: Vec<Option<line::Rendered>>,
    names: Vec<Option<String>>,
    start_ns: i64,
    unit_ns: i64,
    seq: i64,
    ready: Vec<Body>,
    current: Body,
    dropped: u64,
    /// Points the writer never received.
    unsent: u64,
    warned: bool,
}

impl Encoder {
    fn new(settings: &Settings, tags: Tags, metrics: Registry, wall_start: SystemTime) -> Self {
        Encoder {
            tags,
            metrics,
            as_fields: settings.tags_as_fields.clone(),
            rendered: Vec::new(),
            names: Vec::new(),
            start_ns: wall_start
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64),
            unit_ns: settings.precision.param().1,
            seq: 0,
            ready: Vec::new(),
            current: Body {
                text: String::new(),
                points: 0,
            },
            dropped: 0,
            unsent: 0,
            warned: false,
        }
    }

    fn held(&self) -> usize {
        self.current.text.len() + self.ready.iter().map(|b| b.text.len()).sum::<usize>()
    }

    fn ingest(&mut self, batch: &[Sample], queue: &Queue) {
        if queue.bytes.load(Ordering::Relaxed) + self.held() > MAX_QUEUED_BYTES {
            self.dropped += batch.len() as u64;
            if !self.warned {
                self.warned = true;
                logging::host(
                    Level::Warn,
                    &format!(
                        "influxdb: {} MiB of points wait to be written; dropping new points \
                         until the server catches up",
                        MAX_QUEUED_BYTES >> 20
                    ),
                );
            }
            return;
        }
        for s in batch {
            if s.tags == TagSetId::OVERFLOW {
                continue;
            }
            let i = s.tags.0 as usize;
            if i >= self.rendered.len() {
                self.rendered.resize(i + 1, None);
            }
            let (tags, as_fields) = (&self.tags, &self.as_fields);
            let set =
                self.rendered[i].get_or_insert_with(|| line::render(&tags.get(s.tags), as_fields));
            let name = name_of(&mut self.names, &self.metrics, s.metric);
            let ns = self.start_ns + i64::from(s.at) * 1_000_000 + self.seq % 1_000_000;
            self.seq += 1;
            if line::point(
                &mut self.current.text,
                name,
                set,
                s.value,
                ns / self.unit_ns,
            ) {
                self.current.points += 1;
            }
            if self.current.text.len() >= MAX_BODY_BYTES {
                let full = std::mem::replace(
                    &mut self.current,
                    Body {
                        text: String::new(),
                        points: 0,
                    },
                );
                self.ready.push(full);
            }
        }
    }

    /// Queues everything held for the writer.
    fn hand_over(&mut self, tx: &tokio::sync::mpsc::UnboundedSender<Body>, queue: &Queue) {
        let current = std::mem::replace(
            &mut self.current,
            Body {
                text: String::new(),
                points: 0,
            },
        );
        self.ready.push(current);
        for body in self.ready.drain(..).filter(|b| b.points > 0) {
            queue.bytes.fetch_add(body.text.len(), Ordering::Relaxed);
            queue.points.fetch_add(body.points, Ordering::Relaxed);
            if let Err(e) = tx.send(body) {
                // The writer failed to start (and said why).
                queue.bytes.fetch_sub(e.0.text.len(), Ordering::Relaxed);
                queue.points.fetch_sub(e.0.points, Ordering::Relaxed);
                self.unsent += e.0.points;
            }
        }
    }
}

/// A metric's escaped measurement name, rendered once.
fn name_of<'a>(names: &'a mut Vec<Option<String>>, metrics: &Registry, id: MetricId) -> &'a str {
    let i = id.0 as usize;
    if i >= names.len() {
        names.resize(i + 1, None);
    }
    names[i].get_or_insert_with(|| line::measurement(metrics.def(id).name))
}

/// The writer: creates the database, then writes each body with up to `concurrent_writes` in
/// flight, until the encoder closes the channel and every write has ended.
fn write_all(
    settings: Settings,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Body>,
    queue: Arc<Queue>,
    tally: Arc<Mutex<Tally>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            logging::host(Level::Error, &format!("influxdb: {e}"));
            return;
        }
    };
    let client = match reqwest::Client::builder()
        .timeout(WRITE_TIMEOUT)
        .connect_timeout(WRITE_TIMEOUT)
        .tls_danger_accept_invalid_certs(settings.insecure)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            logging::host(Level::Error, &format!("influxdb: {e}"));
            return;
        }
    };
    let settings = Arc::new(settings);
    runtime.block_on(async move {
        // As k6: most often harmless when it fails (the database exists, or the user may not
        // create one); a write that then fails says why.
        let create = format!("CREATE DATABASE \"{}\"", settings.db.replace('"', "\\\""));
        let _ = send(
            &client,
            &settings,
            settings.endpoint("query", &[("q", &create)]),
            String::new(),
        )
        .await;
        let permits = Arc::new(tokio::sync::Semaphore::new(settings.concurrent_writes));
        let url = settings.write_url();
        while let Some(body) = rx.recv().await {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let (client, settings, url, queue, tally) = (
                client.clone(),
                settings.clone(),
                url.clone(),
                queue.clone(),
                tally.clone(),
            );
            tokio::spawn(async move {
                let started = Instant::now();
                let (bytes, points) = (body.text.len(), body.points);
                let result = send(&client, &settings, url, body.text).await;
                let took = started.elapsed();
                queue.bytes.fetch_sub(bytes, Ordering::Relaxed);
                queue.points.fetch_sub(points, Ordering::Relaxed);
                record(&tally, &settings, result, points, took);
                drop(permit);
            });
        }
        let _ = permits
            .acquire_many(settings.concurrent_writes as u32)
            .await;
    });
}

/// Counts one write and reports what changed: the first failure after successes, and the first
/// write slower than the push interval (as k6 warns).
fn record(
    tally: &Mutex<Tally>,
    settings: &Settings,
    result: Result<(), String>,
    points: u64,
    took: Duration,
) {
    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
    match result {
        Ok(()) => {
            t.written += points;
            if t.failing {
                t.failing = false;
                logging::host(Level::Warn, "influxdb: writes succeed again");
            }
            if took > settings.push_interval && !t.slow_warned {
                t.slow_warned = true;
                logging::host(
                    Level::Warn,
                    &format!(
                        "influxdb: a write took {took:.1?}, longer than the push interval \
                         ({:?}); if this repeats, raise K6_INFLUXDB_PUSH_INTERVAL or \
                         K6_INFLUXDB_CONCURRENT_WRITES",
                        settings.push_interval
                    ),
                );
            }
        }
        Err(e) => {
            t.lost += points;
            t.failed_writes += 1;
            if !t.failing {
                t.failing = true;
                logging::host(Level::Warn, &format!("influxdb: {e}"));
            }
            t.last_error = Some(e);
        }
    }
}

/// POSTs `body` to `url`; an answer other than 2xx is an error with the server's text.
async fn send(
    client: &reqwest::Client,
    settings: &Settings,
    url: reqwest::Url,
    body: String,
) -> Result<(), String> {
    let mut request = client
        .post(url)
        .header("User-Agent", concat!("volley/", env!("CARGO_PKG_VERSION")))
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(body);
    if let Some(user) = &settings.username {
        request = request.basic_auth(user, settings.password.as_ref());
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| format!("write to {} failed: {}", settings.addr, chain(&e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let mut text = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        text.extend_from_slice(&chunk[..chunk.len().min(MAX_ERROR_BYTES - text.len())]);
        if text.len() >= MAX_ERROR_BYTES {
            break;
        }
    }
    let hint = if status == reqwest::StatusCode::UNAUTHORIZED {
        " (check K6_INFLUXDB_USERNAME and K6_INFLUXDB_PASSWORD; InfluxDB 2.x is not supported)"
    } else {
        ""
    };
    Err(format!(
        "{} answered {status}: {}{hint}",
        settings.addr,
        String::from_utf8_lossy(&text).trim()
    ))
}

/// An error and its causes, `a: b: c` (reqwest's own text leaves out why a request failed).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_millisecond_points_get_distinct_timestamps() {
        let tags = Tags::new();
        let id = tags.intern(vec![("status".into(), "200".into())]);
        let metrics = Registry::default();
        let settings = Settings::resolve("http://127.0.0.1:1/k6", |_| None).unwrap();
        let mut enc = Encoder::new(
            &settings,
            tags,
            metrics,
            UNIX_EPOCH + Duration::from_secs(1),
        );
        let metric = crate::metrics::builtin::HTTP_REQS;
        let sample = Sample {
            metric,
            tags: id,
            value: 1.0,
            at: 5,
        };
        enc.ingest(&[sample, sample], &Queue::default());
        assert_eq!(
            enc.current.text,
            "http_reqs,status=200 value=1 1005000000\nhttp_reqs,status=200 value=1 1005000001\n"
        );
        assert_eq!(enc.current.points, 2);
    }
}
