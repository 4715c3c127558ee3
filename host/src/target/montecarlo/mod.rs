//! The built-in Monte Carlo target, the default system under test.
//!
//! It imitates a CPU-bound Python app served by Gunicorn with N sync workers. `GET /` prices a
//! European call option by simulating geometric Brownian motion paths; the simulation runs on a
//! fixed pool of OS worker threads fed by a FIFO queue, so once every worker is busy requests
//! wait and latency grows with load. `GET /health` answers at once without touching the pool.
//! Connections are served asynchronously on tokio by hyper (HTTP/1.1 with keep-alive).
//!
//! This module starts and stops a target; `server` is its HTTP front end, `pool` the worker
//! pool, `params` a request's simulation size, `model` the pricing (the simulation and its
//! Black-Scholes reference price) and `rng` the small PRNG the simulation draws from.

mod model;
mod params;
mod pool;
mod rng;
mod server;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use model::{black_scholes_call, simulate, Estimate};
use params::Params;
use pool::{spawn_workers, Pool};
use rng::SeedSource;
use server::{serve, App};

/// Most worker threads a target may run.
const MAX_WORKERS: usize = 1_024;

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
    /// Ctrl-C could not be listened for.
    #[error(transparent)]
    Signal(std::io::Error),
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

/// `volley target montecarlo`: serves on `addr` until Ctrl-C, then shuts the target down.
pub async fn serve_until_ctrl_c(addr: SocketAddr, config: TargetConfig) -> Result<(), TargetError> {
    let target = start(addr, config).await?;
    eprintln!(
        "Monte Carlo target listening on http://{} (Ctrl-C to stop)",
        target.local_addr()
    );
    tokio::signal::ctrl_c().await.map_err(TargetError::Signal)?;
    target.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests;
