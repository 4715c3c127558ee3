//! What a VU's Store holds, and the host side of the small WIT imports: `check` and timings go
//! to its recorder, `sleep` to a tokio timer (HTTP is in `http.rs`, WebSockets, gRPC and TCP
//! beside it). WASI is linked but
//! grants nothing: no preopened directories, no host environment, no sockets; guest
//! stdout/stderr go to the host's log.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{checks, group, http, log, metrics, timing, vu};
use super::recorder::Recorder;
use super::tcp::Slots;
use crate::logging::{GuestLog, Level, MAX_LINE_BYTES};
use crate::metrics::{Contains, MetricKind};
use crate::sandbox::Sandbox;
use crate::transport::{self, Client};

/// Everything one VU's Store owns.
pub struct VuState {
    wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(crate) limits: StoreLimits,
    /// VU id (1-based).
    pub id: u32,
    /// Current iteration number in the scenario.
    pub iteration: u64,
    /// Scenario name.
    pub scenario: Arc<str>,
    /// The scenario's entry point.
    pub exec: Arc<str>,
    /// Test variables.
    pub env: Arc<BTreeMap<String, String>>,
    /// The VU's own connections.
    pub client: Client,
    /// The VU's metric recorder.
    pub recorder: Recorder,
    /// When the test started.
    pub test_start: Instant,
    /// The sandbox the VU runs under.
    pub sandbox: Arc<Sandbox>,
    /// Epoch ticks (≈ ms of guest CPU) used by the current iteration; `None` outside one
    /// (the CPU budget is per iteration).
    pub cpu_ticks: Option<u64>,
    /// Open `tcp.connection`s, at most [`super::tcp::MAX_OPEN`].
    pub(super) tcp_slots: Slots,
    /// Open `websocket.connection`s, at most [`super::websocket::MAX_SESSIONS`].
    pub(super) ws_slots: Slots,
    /// Live `grpc.client`s, at most [`super::grpc::MAX_CLIENTS`].
    pub(super) grpc_slots: Slots,
    /// Open gRPC streams and their events (`grpc_stream.rs`).
    pub(super) grpc_streams: super::grpc_stream::Streams,
    /// The VU's log (`log.write`, stdout and stderr share its byte allowance).
    log: Arc<GuestLog>,
    /// k6's init context: embedded files, shared arrays, the init failure (`init.rs`).
    pub(super) init: super::init::InitState,
    /// The run this VU belongs to, as `k6/execution` sees it.
    pub execution: super::execution::Execution,
    /// The current iteration's number among its scenario's iterations in this process.
    pub scenario_iteration: u64,
    /// Tags the guest added to its VU's base tags, at most [`super::execution::MAX_VU_TAGS`].
    pub(super) vu_tags_added: usize,
}

/// What a new VU needs to know.
pub struct VuSetup {
    /// VU id.
    pub id: u32,
    /// Scenario name.
    pub scenario: Arc<str>,
    /// The scenario's entry point (`default` runs `iteration`).
    pub exec: Arc<str>,
    /// Test variables (test-wide merged with the scenario's).
    pub env: Arc<BTreeMap<String, String>>,
    /// Recorder for the VU's samples.
    pub recorder: Recorder,
    /// When the test started.
    pub test_start: Instant,
    /// The sandbox the VU runs under.
    pub sandbox: Arc<Sandbox>,
    /// The HTTP client configuration.
    pub http: Arc<transport::HttpConfig>,
    /// The run this VU belongs to, as `k6/execution` sees it.
    pub execution: super::execution::Execution,
    /// Longest its init context may run: [`super::INIT_TIMEOUT`], or longer only for the
    /// options pass of the user's own script (its `SharedArray`s may parse large files).
    pub init_limit: std::time::Duration,
}

impl VuSetup {
    /// A VU outside any test run (reading a plugin's options, benchmarks): no env, no tags,
    /// recording into `agg`, which nobody reads unless the caller does.
    pub fn standalone(
        id: u32,
        scenario: &str,
        agg: &crate::metrics::Aggregate,
        sandbox: Arc<Sandbox>,
        http: Arc<transport::HttpConfig>,
    ) -> Self {
        VuSetup {
            id,
            scenario: scenario.into(),
            exec: "default".into(),
            env: Default::default(),
            recorder: Recorder::new(agg, Vec::new(), crate::metrics::SystemTags::default()),
            test_start: Instant::now(),
            sandbox,
            http,
            execution: super::execution::Execution::detached(),
            init_limit: super::INIT_TIMEOUT,
        }
    }
}

impl VuState {
    /// A fresh state for a VU.
    pub fn new(setup: VuSetup) -> Self {
        let log = Arc::new(GuestLog::new(format!("vu={}", setup.id)));
        VuState {
            wasi: guest_wasi(&log),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(setup.sandbox.max_memory as usize)
                .trap_on_grow_failure(true)
                .build(),
            id: setup.id,
            iteration: 0,
            scenario: setup.scenario,
            exec: setup.exec,
            env: setup.env,
            client: Client::for_vu(setup.http, setup.id),
            recorder: setup.recorder,
            test_start: setup.test_start,
            sandbox: setup.sandbox,
            cpu_ticks: None,
            tcp_slots: Slots::new(super::tcp::MAX_OPEN, "TCP connections"),
            ws_slots: Slots::new(super::websocket::MAX_SESSIONS, "WebSocket sessions"),
            grpc_slots: Slots::new(super::grpc::MAX_CLIENTS, "gRPC clients"),
            grpc_streams: Default::default(),
            log,
            init: super::init::InitState {
                limit: setup.init_limit,
                ..super::init::InitState::empty()
            },
            execution: setup.execution,
            scenario_iteration: 0,
            vu_tags_added: 0,
        }
    }
}

impl VuState {
    /// Fresh WASI state for a new instance of the same VU.
    pub fn reset_wasi(&mut self) {
        self.wasi = guest_wasi(&self.log);
        self.table = ResourceTable::new();
        self.grpc_streams = Default::default();
    }
}

/// WASI that grants nothing: no preopens, no env, no args, no network; output to the log.
fn guest_wasi(log: &Arc<GuestLog>) -> WasiCtx {
    WasiCtx::builder()
        .stdout(GuestOutput { log: log.clone() })
        .stderr(GuestOutput { log: log.clone() })
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

impl WasiView for VuState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl checks::Host for VuState {
    fn check(&mut self, name: String, passed: bool) -> bool {
        self.recorder.check(&name, passed);
        passed
    }
}

/// Sleeps this long or longer give back the VU's dirty stack pages first (see
/// [`super::fiber_stack`]); shorter ones would pay the page faults too often for the memory.
const RELEASE_STACK_FROM_MS: u64 = 100;

impl timing::Host for VuState {
    async fn sleep(&mut self, ms: u64) {
        if ms >= RELEASE_STACK_FROM_MS {
            super::fiber_stack::release_below();
        }
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    fn now(&mut self) -> f64 {
        self.test_start.elapsed().as_secs_f64() * 1000.0
    }
}

impl vu::Host for VuState {
    fn id(&mut self) -> u32 {
        self.id
    }

    fn iteration(&mut self) -> u64 {
        self.iteration
    }

    fn scenario(&mut self) -> String {
        self.scenario.to_string()
    }

    fn exec(&mut self) -> String {
        self.exec.to_string()
    }

    fn env(&mut self, name: String) -> Option<String> {
        self.env.get(&name).cloned()
    }
}

impl group::Host for VuState {
    fn enter(&mut self, name: String) {
        self.recorder.enter_group(&name);
    }

    fn exit(&mut self) {
        self.recorder.exit_group();
    }
}

impl metrics::Host for VuState {
    fn add(
        &mut self,
        name: String,
        kind: metrics::Kind,
        value: f64,
        tags: Vec<http::Tag>,
    ) -> Result<(), String> {
        let (kind, contains) = match kind {
            metrics::Kind::Counter => (MetricKind::Counter, Contains::Default),
            metrics::Kind::Gauge => (MetricKind::Gauge, Contains::Default),
            metrics::Kind::Rate => (MetricKind::Rate, Contains::Default),
            metrics::Kind::Trend => (MetricKind::Trend, Contains::Default),
            metrics::Kind::TrendTime => (MetricKind::Trend, Contains::Time),
        };
        if !value.is_finite() {
            return Err(format!(
                "metric '{name}': value {value} is not a finite number"
            ));
        }
        let id = self
            .recorder
            .metrics()
            .custom(&name, kind, contains)
            .map_err(|e| e.to_string())?;
        let tags: Vec<(String, String)> = tags.into_iter().map(|t| (t.key, t.value)).collect();
        self.recorder.custom(id, value, &tags);
        Ok(())
    }
}

impl log::Host for VuState {
    fn write(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Debug => Level::Debug,
            log::Level::Info => Level::Info,
            log::Level::Warn => Level::Warn,
            log::Level::Error => Level::Error,
        };
        self.log.write(level, &message, 0);
    }
}

/// Guest stdout/stderr: complete lines go to the VU's (rate-limited) log.
struct GuestOutput {
    log: Arc<GuestLog>,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            log: self.log.clone(),
            pending: Vec::new(),
            cut: 0,
        })
    }
}

/// Splits written bytes into log lines, holding at most [`MAX_LINE_BYTES`] of a line: the rest
/// of a longer line is counted and cut.
struct LineWriter {
    log: Arc<GuestLog>,
    pending: Vec<u8>,
    cut: usize,
}

impl LineWriter {
    /// Adds `bytes` (no newline among them) to the pending line, cutting past the line limit.
    fn take(&mut self, bytes: &[u8]) {
        let room = MAX_LINE_BYTES
            .saturating_sub(self.pending.len())
            .min(bytes.len());
        self.pending.extend_from_slice(&bytes[..room]);
        self.cut += bytes.len() - room;
    }

    /// Logs the pending line (unless blank) and starts a new one.
    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.pending);
        let text = text.trim_end_matches(['\n', '\r']);
        if !text.trim().is_empty() || self.cut > 0 {
            self.log.write(Level::Info, text, self.cut);
        }
        self.pending.clear();
        self.cut = 0;
    }
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        for (i, part) in buf.split(|b| *b == b'\n').enumerate() {
            if i > 0 {
                self.emit();
            }
            self.take(part);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.pending.is_empty() || self.cut > 0 {
            self.emit();
        }
        Poll::Ready(Ok(()))
    }
}
