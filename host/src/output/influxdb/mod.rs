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

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::duration::parse_duration;
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
/// Most writes in flight a user may ask for.
const MAX_CONCURRENT_WRITES: usize = 64;
/// Longest error text kept from a server's answer.
const MAX_ERROR_BYTES: usize = 512;

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// The URL does not parse or is not http(s).
    #[error("invalid output influxdb={url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting has a value it cannot take.
    #[error("influxdb: {name}={value:?}: {expected}")]
    Value {
        /// The setting (environment variable or URL parameter).
        name: String,
        /// Its value.
        value: String,
        /// What it accepts.
        expected: &'static str,
    },
}

/// Timestamp precision of the points (k6's `precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Nanoseconds (the default).
    Nanos,
    /// Microseconds.
    Micros,
    /// Milliseconds.
    Millis,
    /// Seconds.
    Seconds,
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
}

impl Precision {
    fn parse(text: &str) -> Option<Precision> {
        Some(match text {
            "" | "n" | "ns" => Precision::Nanos,
            "u" | "us" | "µ" => Precision::Micros,
            "ms" => Precision::Millis,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            _ => return None,
        })
    }

    /// The `precision` parameter of `/write`, and nanoseconds per unit.
    fn param(self) -> (&'static str, i64) {
        match self {
            Precision::Nanos => ("ns", 1),
            Precision::Micros => ("u", 1_000),
            Precision::Millis => ("ms", 1_000_000),
            Precision::Seconds => ("s", 1_000_000_000),
            Precision::Minutes => ("m", 60_000_000_000),
            Precision::Hours => ("h", 3_600_000_000_000),
        }
    }
}

/// Where and how to write.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// `scheme://host:port` and any path prefix, without the database.
    pub addr: String,
    /// The database.
    pub db: String,
    /// Basic-auth user, when set.
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<String>,
    /// Accept any TLS certificate.
    pub insecure: bool,
    /// Time between writes.
    pub push_interval: Duration,
    /// Writes in flight at most.
    pub concurrent_writes: usize,
    /// Timestamp precision.
    pub precision: Precision,
    /// Retention policy (`rp`), when set.
    pub retention: Option<String>,
    /// Write consistency, when set.
    pub consistency: Option<String>,
    /// Tags written as fields, with their types.
    pub tags_as_fields: Vec<(String, FieldKind)>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password stays out of logs.
        f.debug_struct("Settings")
            .field("addr", &self.addr)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("push_interval", &self.push_interval)
            .field("concurrent_writes", &self.concurrent_writes)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.db)
    }
}

impl Settings {
    /// Settings for `url` (empty: `K6_INFLUXDB_ADDR` or `http://localhost:8086`), over the
    /// environment's `K6_INFLUXDB_*`/`VOLLEY_INFLUXDB_*`.
    pub fn new(url: &str) -> Result<Settings, SettingsError> {
        Settings::resolve(url, |name| {
            std::env::var(format!("VOLLEY_INFLUXDB_{name}"))
                .or_else(|_| std::env::var(format!("K6_INFLUXDB_{name}")))
                .ok()
        })
    }

    /// k6's layering: defaults < environment (`env` looks up a name without its prefix) < URL.
    fn resolve(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let mut s = Settings {
            addr: "http://localhost:8086".into(),
            db: "k6".into(),
            username: None,
            password: None,
            insecure: false,
            push_interval: Duration::from_secs(1),
            concurrent_writes: 4,
            precision: Precision::Nanos,
            retention: None,
            consistency: None,
            tags_as_fields: ["vu", "iter", "url"]
                .map(|t| (t.to_string(), FieldKind::String))
                .to_vec(),
        };
        let var = |name: &str| format!("K6_INFLUXDB_{name}");
        if env("PROXY").is_some() {
            return Err(value(
                &var("PROXY"),
                "",
                "not supported by Volley: unset it",
            ));
        }
        if let Some(addr) = env("ADDR") {
            s.addr = addr.trim_end_matches('/').to_string();
        }
        if let Some(db) = env("DB") {
            s.db = db;
        }
        s.username = env("USERNAME").or(s.username);
        s.password = env("PASSWORD").or(s.password);
        if let Some(v) = env("INSECURE") {
            s.set("INSECURE", &v)?;
        }
        for name in [
            "PUSH_INTERVAL",
            "CONCURRENT_WRITES",
            "PRECISION",
            "RETENTION",
            "CONSISTENCY",
            "TAGS_AS_FIELDS",
        ] {
            if let Some(v) = env(name) {
                s.set(name, &v)?;
            }
        }
        if !url.is_empty() {
            s.apply_url(url)?;
        }
        if !(s.addr.starts_with("http://") || s.addr.starts_with("https://")) {
            return Err(SettingsError::Url {
                url: s.addr.clone(),
                reason: "expected an http(s) address such as http://127.0.0.1:8086/k6 \
                         (udp:// is not supported)"
                    .into(),
            });
        }
        if s.db.is_empty() {
            s.db = "k6".into();
        }
        Ok(s)
    }

    /// Applies `url`'s address, database, credentials and query parameters.
    fn apply_url(&mut self, text: &str) -> Result<(), SettingsError> {
        let bad = |reason: &str| SettingsError::Url {
            url: text.to_string(),
            reason: reason.to_string(),
        };
        let url = reqwest::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(
                "expected an http(s) URL such as http://127.0.0.1:8086/k6 (udp:// is not supported)",
            ));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        let path = url.path();
        let (prefix, db) = match path.strip_suffix('/') {
            Some(rest) => (rest, ""),
            None => path.rsplit_once('/').unwrap_or(("", path)),
        };
        self.addr = match url.port() {
            Some(port) => format!("{}://{host}:{port}{prefix}", url.scheme()),
            None => format!("{}://{host}{prefix}", url.scheme()),
        };
        if !db.is_empty() {
            self.db = percent_decode(db);
        }
        if !url.username().is_empty() {
            self.username = Some(percent_decode(url.username()));
            self.password = Some(url.password().map(percent_decode).unwrap_or_default());
        }
        let mut tags_as_fields = Vec::new();
        for (k, v) in url.query_pairs() {
            let name = match k.as_ref() {
                "insecure" if v.is_empty() => continue,
                "insecure" if !matches!(v.as_ref(), "true" | "false") => {
                    return Err(value("insecure", &v, "true or false"))
                }
                "insecure" => "INSECURE",
                "precision" => "PRECISION",
                "retention" => "RETENTION",
                "consistency" => "CONSISTENCY",
                "pushInterval" => "PUSH_INTERVAL",
                "concurrentWrites" => "CONCURRENT_WRITES",
                "payload_size" => continue, // UDP only, as in k6
                "tagsAsFields" => {
                    tags_as_fields.push(v.into_owned());
                    continue;
                }
                other => return Err(bad(&format!("unknown query parameter: {other}"))),
            };
            self.set(name, &v)?;
        }
        if !tags_as_fields.is_empty() {
            self.set("TAGS_AS_FIELDS", &tags_as_fields.join(","))?;
        }
        Ok(())
    }

    /// Sets one of the typed settings from its text.
    fn set(&mut self, name: &str, v: &str) -> Result<(), SettingsError> {
        let var = format!("K6_INFLUXDB_{name}");
        match name {
            "INSECURE" => {
                self.insecure = match v {
                    "true" | "1" | "t" | "T" | "TRUE" | "True" => true,
                    "false" | "0" | "f" | "F" | "FALSE" | "False" => false,
                    _ => return Err(value(&var, v, "true or false")),
                }
            }
            "PUSH_INTERVAL" => {
                self.push_interval = parse_duration(v)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| value(&var, v, "a duration above 0 such as 1s"))?;
            }
            "CONCURRENT_WRITES" => {
                self.concurrent_writes = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_CONCURRENT_WRITES).contains(n))
                    .ok_or_else(|| value(&var, v, "a number from 1 to 64"))?;
            }
            "PRECISION" => {
                self.precision = Precision::parse(v)
                    .ok_or_else(|| value(&var, v, "one of ns, u, ms, s, m, h"))?;
            }
            "RETENTION" => self.retention = Some(v.to_string()).filter(|v| !v.is_empty()),
            "CONSISTENCY" => self.consistency = Some(v.to_string()).filter(|v| !v.is_empty()),
            "TAGS_AS_FIELDS" => {
                let mut fields: Vec<(String, FieldKind)> = Vec::new();
                for spec in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (tag, kind) = FieldKind::parse(spec).ok_or_else(|| {
                        value(
                            &var,
                            v,
                            "tags as name or name:type (string, int, float, bool)",
                        )
                    })?;
                    if fields.iter().any(|(t, _)| *t == tag) {
                        return Err(value(&var, v, "each tag at most once"));
                    }
                    fields.push((tag, kind));
                }
                if !fields.is_empty() {
                    self.tags_as_fields = fields;
                }
            }
            _ => unreachable!("not a typed setting: {name}"),
        }
        Ok(())
    }

    fn endpoint(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Url {
        let mut url = reqwest::Url::parse(&format!("{}/{path}", self.addr))
            .expect("the address was checked when parsed");
        url.query_pairs_mut().extend_pairs(params);
        url
    }

    /// The URL of `/write`.
    fn write_url(&self) -> reqwest::Url {
        let mut params = vec![
            ("db", self.db.as_str()),
            ("precision", self.precision.param().0),
        ];
        if let Some(rp) = &self.retention {
            params.push(("rp", rp));
        }
        if let Some(c) = &self.consistency {
            params.push(("consistency", c));
        }
        self.endpoint("write", &params)
    }
}

fn value(name: &str, value: &str, expected: &'static str) -> SettingsError {
    SettingsError::Value {
        name: name.to_string(),
        value: value.to_string(),
        expected,
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

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

    fn resolve(url: &str, env: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::resolve(url, |name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn url_and_defaults_follow_k6() {
        let s = resolve("http://127.0.0.1:8086/k6", &[]).unwrap();
        assert_eq!(s.addr, "http://127.0.0.1:8086");
        assert_eq!(s.db, "k6");
        assert_eq!(s.push_interval, Duration::from_secs(1));
        assert_eq!(s.concurrent_writes, 4);
        let fields: Vec<&str> = s.tags_as_fields.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(fields, ["vu", "iter", "url"]);
        assert_eq!(
            s.write_url().as_str(),
            "http://127.0.0.1:8086/write?db=k6&precision=ns"
        );

        let s = resolve("https://u%40x:p%3Aw@influx.test/proxy/perf?insecure=true&pushInterval=5s&tagsAsFields=vu:int&tagsAsFields=url&retention=week", &[]).unwrap();
        assert_eq!(s.addr, "https://influx.test/proxy");
        assert_eq!(s.db, "perf");
        assert_eq!(s.username.as_deref(), Some("u@x"));
        assert_eq!(s.password.as_deref(), Some("p:w"));
        assert!(s.insecure);
        assert_eq!(s.push_interval, Duration::from_secs(5));
        assert_eq!(
            s.tags_as_fields,
            [
                ("vu".into(), FieldKind::Int),
                ("url".into(), FieldKind::String)
            ]
        );
        assert_eq!(
            s.write_url().as_str(),
            "https://influx.test/proxy/write?db=perf&precision=ns&rp=week"
        );
        assert!(!format!("{s:?}").contains("p:w"));
        assert!(!s.to_string().contains("p:w"));

        // A trailing slash: no database in the URL, k6's default.
        assert_eq!(resolve("http://h:8086/", &[]).unwrap().db, "k6");
    }

    #[test]
    fn environment_sits_below_the_url() {
        let env = [
            ("DB", "fromenv"),
            ("PUSH_INTERVAL", "250ms"),
            ("CONCURRENT_WRITES", "2"),
            ("TAGS_AS_FIELDS", "vu:int,iter:int"),
            ("USERNAME", "me"),
            ("PASSWORD", "secret"),
            ("ADDR", "http://10.0.0.1:8086"),
        ];
        let s = resolve("", &env).unwrap();
        assert_eq!(
            (s.addr.as_str(), s.db.as_str()),
            ("http://10.0.0.1:8086", "fromenv")
        );
        assert_eq!(s.push_interval, Duration::from_millis(250));
        assert_eq!(s.concurrent_writes, 2);
        assert_eq!(s.tags_as_fields.len(), 2);
        assert_eq!(s.username.as_deref(), Some("me"));
        let s = resolve("http://127.0.0.1:9999/other?concurrentWrites=8", &env).unwrap();
        assert_eq!(
            (s.addr.as_str(), s.db.as_str()),
            ("http://127.0.0.1:9999", "other")
        );
        assert_eq!(s.concurrent_writes, 8);
    }

    #[test]
    fn rejects_what_k6_rejects_and_what_volley_cannot_do() {
        let err = |url: &str, env: &[(&str, &str)]| resolve(url, env).unwrap_err().to_string();
        assert!(err("udp://127.0.0.1:8089", &[]).contains("udp:// is not supported"));
        assert!(err("http://h/k6?bogus=1", &[]).contains("unknown query parameter: bogus"));
        assert!(err("http://h/k6?insecure=yes", &[]).contains("true or false"));
        assert!(err("", &[("CONCURRENT_WRITES", "0")]).contains("K6_INFLUXDB_CONCURRENT_WRITES"));
        assert!(err("", &[("CONCURRENT_WRITES", "1000")]).contains("1 to 64"));
        assert!(err("", &[("PUSH_INTERVAL", "0s")]).contains("above 0"));
        assert!(err("", &[("TAGS_AS_FIELDS", "vu:date")]).contains("name:type"));
        assert!(err("", &[("TAGS_AS_FIELDS", "vu,vu:int")]).contains("at most once"));
        assert!(err("", &[("PRECISION", "fortnight")]).contains("ns, u, ms"));
        assert!(err("", &[("PROXY", "http://p")]).contains("not supported"));
    }

    #[test]
    fn same_millisecond_points_get_distinct_timestamps() {
        let tags = Tags::new();
        let id = tags.intern(vec![("status".into(), "200".into())]);
        let metrics = Registry::default();
        let settings = resolve("http://127.0.0.1:1/k6", &[]).unwrap();
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
