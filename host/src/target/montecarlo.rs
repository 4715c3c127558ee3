//! The built-in Monte Carlo target, the default system under test.
//!
//! It imitates a CPU-bound Python app served by Gunicorn with N sync workers. `GET /` prices a
//! European call option by simulating geometric Brownian motion paths; the simulation runs on a
//! fixed pool of OS worker threads fed by a FIFO queue, so once every worker is busy requests
//! wait and latency grows with load. `GET /health` answers at once without touching the pool.
//! Connections are served asynchronously on tokio by hyper (HTTP/1.1 with keep-alive).
//!
//! This module owns the HTTP front end, the worker pool, the pricing model (the simulation and
//! its Black-Scholes reference price) and the small PRNG the simulation draws from.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::f64::consts::{FRAC_2_SQRT_PI, SQRT_2};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

/// Spot price of the underlying.
const SPOT: f64 = 100.0;
/// Strike price of the option.
const STRIKE: f64 = 105.0;
/// Risk-free rate, continuously compounded.
const RATE: f64 = 0.05;
/// Annual volatility.
const VOLATILITY: f64 = 0.2;
/// Time to expiry in years.
const MATURITY: f64 = 1.0;

/// Fewest paths a request may ask for (the standard error needs two).
const MIN_PATHS: u32 = 2;
/// Most paths a request may ask for.
const MAX_PATHS: u32 = 1_000_000;
/// Fewest time steps per path.
const MIN_STEPS: u32 = 1;
/// Most time steps per path.
const MAX_STEPS: u32 = 1_000;
/// Most normal draws (paths × steps) one request may cost: roughly a second of CPU.
const MAX_DRAWS: u64 = 100_000_000;
/// Most worker threads a target may run.
const MAX_WORKERS: usize = 1_024;
/// How long shutdown waits for open connections to finish before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// How much work one `GET /` costs and how many requests are simulated at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetConfig {
    /// Paths simulated per request unless the query sets `paths` (2..=1_000_000).
    pub paths: u32,
    /// Time steps per path unless the query sets `steps` (1..=1_000).
    pub steps: u32,
    /// Worker threads, i.e. requests simulated concurrently (1..=1_024); the rest queue FIFO.
    pub workers: usize,
}

impl Default for TargetConfig {
    /// 2 million normal draws per request (about 23 ms of CPU on an idle x86 core, release
    /// build) and two workers.
    fn default() -> Self {
        Self {
            paths: 20_000,
            steps: 100,
            workers: 2,
        }
    }
}

/// Why a target could not start.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The configuration is out of range; the message says which field.
    #[error("invalid target configuration: {0}")]
    Config(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A worker thread could not be spawned.
    #[error("cannot spawn a target worker thread")]
    Spawn(#[source] std::io::Error),
}

/// A running target; dropping it or calling shutdown stops accepting and ends the worker threads.
pub struct RunningTarget {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    pool: Arc<Pool>,
    server: Option<JoinHandle<()>>,
    workers_alive: Option<mpsc::Receiver<()>>,
}

impl RunningTarget {
    /// The address the target listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL to load, e.g. `http://127.0.0.1:8080`; an unspecified bind address becomes loopback.
    pub fn base_url(&self) -> String {
        let ip = match self.local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.local_addr.port()))
    }

    /// Stops accepting, fails queued requests with 503, lets running simulations finish, closes
    /// open connections (waiting at most five seconds) and waits for the worker threads to end.
    pub async fn shutdown(mut self) {
        self.signal_stop();
        if let Some(server) = self.server.take() {
            // The server task neither panics nor gets aborted; nothing to report either way.
            let _ = server.await;
        }
        if let Some(mut workers_alive) = self.workers_alive.take() {
            // Every worker holds a sender; `None` means all of them have returned.
            while workers_alive.recv().await.is_some() {}
        }
    }

    /// Tells the accept loop and connections to stop and the workers to quit.
    fn signal_stop(&self) {
        self.stop.send_replace(true);
        self.pool.close();
    }
}

impl Drop for RunningTarget {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

impl fmt::Debug for RunningTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningTarget")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Binds `addr` (e.g. 127.0.0.1:0) and serves in a spawned tokio task.
///
/// Fails with [`TargetError::Bind`] when the address cannot be bound, [`TargetError::Config`]
/// for out-of-range settings and [`TargetError::Spawn`] when a worker thread cannot be started.
/// Must run inside a tokio runtime.
pub async fn start(addr: SocketAddr, config: TargetConfig) -> Result<RunningTarget, TargetError> {
    let defaults = Params::validated(config.paths, config.steps).map_err(TargetError::Config)?;
    if !(1..=MAX_WORKERS).contains(&config.workers) {
        return Err(TargetError::Config(format!(
            "workers must be from 1 to {MAX_WORKERS}, got {}",
            config.workers
        )));
    }
    let bind_error = |source| TargetError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    let pool = Arc::new(Pool::default());
    let workers_alive = spawn_workers(&pool, config.workers)?;
    let (stop, stop_rx) = watch::channel(false);
    let app = Arc::new(App {
        pool: Arc::clone(&pool),
        defaults,
        seeds: SeedSource::new(),
    });
    let server = tokio::spawn(serve(listener, app, stop_rx));
    Ok(RunningTarget {
        local_addr,
        stop,
        pool,
        server: Some(server),
        workers_alive: Some(workers_alive),
    })
}

/// A Monte Carlo price with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Mean discounted payoff over the simulated paths.
    pub price: f64,
    /// Standard error of that mean (NaN with fewer than two paths).
    pub std_error: f64,
}

/// Prices the call (S0=100, K=105, r=0.05, σ=0.2, T=1) from `paths` simulated paths of `steps`
/// exact log-normal steps each; the same `seed` gives the same estimate. `steps` of 0 counts as 1,
/// `paths` of 0 gives NaN.
pub fn simulate(paths: u32, steps: u32, seed: u64) -> Estimate {
    let steps = steps.max(1);
    let dt = MATURITY / f64::from(steps);
    let drift = (RATE - 0.5 * VOLATILITY * VOLATILITY) * dt;
    let shock = VOLATILITY * dt.sqrt();
    let discount = (-RATE * MATURITY).exp();
    let mut normals = Normals::new(seed);
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for _ in 0..paths {
        let log_growth = simulate_log_growth(&mut normals, steps, drift, shock);
        let payoff = discount * (SPOT * log_growth.exp() - STRIKE).max(0.0);
        sum += payoff;
        sum_sq += payoff * payoff;
    }
    summarize(sum, sum_sq, paths)
}

/// Black-Scholes price of a European call; `t <= 0` gives the payoff at expiry and
/// `sigma <= 0` the discounted deterministic payoff. Expects positive `s0` and `k`.
pub fn black_scholes_call(s0: f64, k: f64, r: f64, sigma: f64, t: f64) -> f64 {
    if t <= 0.0 {
        return (s0 - k).max(0.0);
    }
    let discounted_strike = k * (-r * t).exp();
    if sigma <= 0.0 {
        return (s0 - discounted_strike).max(0.0);
    }
    let spread = sigma * t.sqrt();
    let d1 = ((s0 / k).ln() + (r + 0.5 * sigma * sigma) * t) / spread;
    let d2 = d1 - spread;
    s0 * normal_cdf(d1) - discounted_strike * normal_cdf(d2)
}

/// Log of S_T / S_0 along one path.
fn simulate_log_growth(normals: &mut Normals, steps: u32, drift: f64, shock: f64) -> f64 {
    let mut log_growth = 0.0;
    for _ in 0..steps {
        log_growth += drift + shock * normals.next();
    }
    log_growth
}

/// Mean and standard error of `n` samples from their sum and sum of squares.
fn summarize(sum: f64, sum_sq: f64, n: u32) -> Estimate {
    let count = f64::from(n);
    let price = sum / count;
    let std_error = if n < 2 {
        f64::NAN
    } else {
        let variance = ((sum_sq - sum * price) / (count - 1.0)).max(0.0);
        (variance / count).sqrt()
    };
    Estimate { price, std_error }
}

/// Standard normal cumulative distribution function.
fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / SQRT_2)
}

/// Complementary error function, accurate to about 1e-13 relative.
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        2.0 - erfc(-x)
    } else if x < 2.0 {
        1.0 - erf_series(x)
    } else {
        erfc_continued_fraction(x)
    }
}

/// erf(x) = 2/√π · e^(−x²) · Σ (2x²)ⁿ x / (1·3·…·(2n+1)); every term is positive.
fn erf_series(x: f64) -> f64 {
    let two_x_sq = 2.0 * x * x;
    let (mut term, mut sum) = (x, x);
    for n in 1..200_u32 {
        term *= two_x_sq / f64::from(2 * n + 1);
        sum += term;
        if term <= sum * f64::EPSILON {
            break;
        }
    }
    sum * FRAC_2_SQRT_PI * (-x * x).exp()
}

/// erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …)))), for x ≥ 2.
fn erfc_continued_fraction(x: f64) -> f64 {
    let mut tail = x;
    for n in (1..=60_u32).rev() {
        tail = x + 0.5 * f64::from(n) / tail;
    }
    0.5 * FRAC_2_SQRT_PI * (-x * x).exp() / tail
}

/// Standard normal draws by the Marsaglia polar method, which yields them in pairs.
struct Normals {
    rng: Xoshiro256PlusPlus,
    spare: Option<f64>,
}

impl Normals {
    fn new(seed: u64) -> Self {
        Self {
            rng: Xoshiro256PlusPlus::seeded(seed),
            spare: None,
        }
    }

    fn next(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let (z, spare) = self.pair();
        self.spare = Some(spare);
        z
    }

    fn pair(&mut self) -> (f64, f64) {
        loop {
            let u = self.rng.next_signed_unit();
            let v = self.rng.next_signed_unit();
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let scale = (-2.0 * s.ln() / s).sqrt();
                return (u * scale, v * scale);
            }
        }
    }
}

/// The xoshiro256++ generator of Blackman and Vigna, seeded through splitmix64.
struct Xoshiro256PlusPlus {
    state: [u64; 4],
}

impl Xoshiro256PlusPlus {
    fn seeded(seed: u64) -> Self {
        let mut mix = seed;
        Self {
            state: [
                splitmix64(&mut mix),
                splitmix64(&mut mix),
                splitmix64(&mut mix),
                splitmix64(&mut mix),
            ],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let [mut s0, mut s1, mut s2, mut s3] = self.state;
        let result = s0.wrapping_add(s3).rotate_left(23).wrapping_add(s0);
        let t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = s3.rotate_left(45);
        self.state = [s0, s1, s2, s3];
        result
    }

    /// Uniform on [-1, 1) with 53 random bits.
    fn next_signed_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * f64::EPSILON - 1.0
    }
}

/// The splitmix64 step: advances `state` and returns a well-mixed value.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A distinct seed per request: a start-time base plus a counter, mixed by splitmix64.
struct SeedSource {
    base: u64,
    counter: AtomicU64,
}

impl SeedSource {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64);
        Self {
            base: nanos,
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> u64 {
        let mut state = self
            .base
            .wrapping_add(self.counter.fetch_add(1, Ordering::Relaxed));
        splitmix64(&mut state)
    }
}

/// Simulation size of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Params {
    paths: u32,
    steps: u32,
}

impl Params {
    /// Checks both sizes and their product against the limits.
    fn validated(paths: u32, steps: u32) -> Result<Self, String> {
        check_range("paths", paths, MIN_PATHS, MAX_PATHS)?;
        check_range("steps", steps, MIN_STEPS, MAX_STEPS)?;
        if u64::from(paths) * u64::from(steps) > MAX_DRAWS {
            return Err(format!("paths * steps must be at most {MAX_DRAWS}"));
        }
        Ok(Self { paths, steps })
    }
}

fn check_range(name: &str, value: u32, min: u32, max: u32) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("{name} must be from {min} to {max}, got {value}"))
    }
}

/// Reads `paths` and `steps` from a query string over `defaults`; other keys are ignored.
fn parse_query(query: Option<&str>, defaults: Params) -> Result<Params, String> {
    let (mut paths, mut steps) = (defaults.paths, defaults.steps);
    for pair in query.unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "paths" => paths = parse_count(key, value)?,
            "steps" => steps = parse_count(key, value)?,
            _ => {}
        }
    }
    Params::validated(paths, steps)
}

fn parse_count(key: &str, value: &str) -> Result<u32, String> {
    value
        .parse()
        .map_err(|_| format!("{key} must be a whole number"))
}

/// One queued simulation and where to send its result.
struct Job {
    params: Params,
    seed: u64,
    queued_at: Instant,
    reply: oneshot::Sender<Outcome>,
}

/// What a worker sends back for a job.
struct Outcome {
    estimate: Estimate,
    queued: Duration,
    elapsed: Duration,
}

impl Job {
    /// Simulates and replies; skips the work if the requester has already gone.
    fn run(self) {
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
struct Pool {
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
    fn submit(&self, job: Job) -> bool {
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
    fn next_job(&self) -> Option<Job> {
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
    fn close(&self) {
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
fn spawn_workers(pool: &Arc<Pool>, count: usize) -> Result<mpsc::Receiver<()>, TargetError> {
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

/// State shared by every connection.
struct App {
    pool: Arc<Pool>,
    defaults: Params,
    seeds: SeedSource,
}

/// Resolves when `stop` turns true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender was dropped, which also means stop.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Accepts connections until told to stop, then drains them for up to [`DRAIN_TIMEOUT`].
async fn serve(listener: TcpListener, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&app), stop.clone()));
                }
                Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    // Connections still open after the timeout are aborted when `connections` drops.
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
}

/// Serves HTTP/1.1 on one connection; on stop, finishes the current request and closes.
async fn serve_connection(stream: TcpStream, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    // Best effort: without it small responses may wait for delayed ACKs.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(respond(&app, request).await) }
    });
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    // Connection errors (resets, malformed requests) concern only that client.
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// What a request asks for.
enum Action {
    Price(Params),
    Health,
    BadRequest(String),
    MethodNotAllowed,
    NotFound,
}

fn classify(method: &Method, uri: &Uri, defaults: Params) -> Action {
    let is_get = method == Method::GET;
    match uri.path() {
        "/" if is_get => match parse_query(uri.query(), defaults) {
            Ok(params) => Action::Price(params),
            Err(message) => Action::BadRequest(message),
        },
        "/health" if is_get => Action::Health,
        "/" | "/health" => Action::MethodNotAllowed,
        _ => Action::NotFound,
    }
}

async fn respond(app: &App, request: Request<Incoming>) -> Response<Full<Bytes>> {
    match classify(request.method(), request.uri(), app.defaults) {
        Action::Price(params) => price(app, params).await,
        Action::Health => response(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"ok"),
        ),
        Action::BadRequest(message) => error_response(StatusCode::BAD_REQUEST, &message),
        Action::MethodNotAllowed => {
            let mut response = error_response(StatusCode::METHOD_NOT_ALLOWED, "use GET");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            response
        }
        Action::NotFound => error_response(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Body of a successful `GET /`.
#[derive(Serialize)]
struct PriceBody {
    price: f64,
    std_error: f64,
    black_scholes: f64,
    paths: u32,
    steps: u32,
    /// Simulation time on the worker.
    elapsed_ms: f64,
    /// Time spent waiting in the queue for a free worker.
    queued_ms: f64,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

/// Queues the simulation and waits for a worker to answer.
async fn price(app: &App, params: Params) -> Response<Full<Bytes>> {
    let (reply, outcome) = oneshot::channel();
    let job = Job {
        params,
        seed: app.seeds.next(),
        queued_at: Instant::now(),
        reply,
    };
    if !app.pool.submit(job) {
        return shutting_down();
    }
    let Ok(outcome) = outcome.await else {
        return shutting_down();
    };
    let body = PriceBody {
        price: outcome.estimate.price,
        std_error: outcome.estimate.std_error,
        black_scholes: black_scholes_call(SPOT, STRIKE, RATE, VOLATILITY, MATURITY),
        paths: params.paths,
        steps: params.steps,
        elapsed_ms: outcome.elapsed.as_secs_f64() * 1e3,
        queued_ms: outcome.queued.as_secs_f64() * 1e3,
    };
    json_response(StatusCode::OK, &body)
}

fn shutting_down() -> Response<Full<Bytes>> {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "the target is shutting down",
    )
}

fn error_response(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_response(status, &ErrorBody { error: message })
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(body) {
        Ok(json) => response(status, "application/json", Bytes::from(json)),
        Err(_) => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            Bytes::from_static(br#"{"error":"cannot encode the response"}"#),
        ),
    }
}

fn response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests;
