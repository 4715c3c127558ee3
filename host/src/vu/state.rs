//! What a VU's Store holds, and the host side of the WIT imports: `http.send` goes to the VU's
//! transport, `check` and timings to its recorder, `sleep` to a tokio timer. WASI is linked but
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
use super::recorder::{Recorder, RequestInfo};
use crate::logging::{self, Level};
use crate::metrics::{Contains, MetricId, MetricKind};
use crate::sandbox::Sandbox;
use crate::transport::{self, Client, Outcome, Outgoing, TransportError};

/// Everything one VU's Store owns.
pub struct VuState {
    wasi: WasiCtx,
    table: ResourceTable,
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
    /// Epoch ticks (≈ ms of guest CPU) used by the current call.
    pub cpu_ticks: u64,
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
}

impl VuState {
    /// A fresh state for a VU.
    pub fn new(setup: VuSetup) -> Self {
        VuState {
            wasi: guest_wasi(setup.id),
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
            client: Client::new(setup.http),
            recorder: setup.recorder,
            test_start: setup.test_start,
            sandbox: setup.sandbox,
            cpu_ticks: 0,
        }
    }
}

impl VuState {
    /// Fresh WASI state for a new instance of the same VU.
    pub fn reset_wasi(&mut self) {
        self.wasi = guest_wasi(self.id);
        self.table = ResourceTable::new();
    }
}

/// WASI that grants nothing: no preopens, no env, no args, no network; output to the log.
fn guest_wasi(vu: u32) -> WasiCtx {
    let source = format!("vu={vu}");
    WasiCtx::builder()
        .stdout(GuestOutput {
            source: source.clone(),
        })
        .stderr(GuestOutput { source })
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

impl http::Host for VuState {
    async fn send(&mut self, req: http::Request) -> Result<http::Response, http::HttpError> {
        let headers = req.headers.into_iter().map(|h| (h.name, h.value)).collect();
        let tags: Vec<(String, String)> = req.tags.into_iter().map(|t| (t.key, t.value)).collect();
        let outgoing = Outgoing {
            method: req.method,
            url: req.url,
            headers,
            body: req.body.map(bytes::Bytes::from),
            timeout: req
                .timeout_ms
                .map_or(transport::DEFAULT_TIMEOUT, Duration::from_millis),
            keep_body: matches!(req.body_mode, http::BodyMode::Keep),
        };
        // Each redirect hop is a request of its own in the metrics, as in k6.
        let mut outgoing = outgoing;
        let mut hops = 0;
        let outcome = loop {
            let outcome = match self.sandbox.denied(&outgoing.url) {
                // Outside allowed-hosts: refused before any connection is opened.
                Some(host) => Outcome {
                    result: Err(TransportError::Denied(host)),
                    bytes_sent: 0,
                    bytes_received: 0,
                },
                None => self.client.send(outgoing.clone()).await,
            };
            let config = self.client.config();
            transport::debug::print(config.debug, &outgoing, &outcome);
            let expected = outcome
                .result
                .as_ref()
                .is_ok_and(|ex| config.expects(ex.status));
            self.recorder.http(
                &RequestInfo {
                    method: &outgoing.method,
                    url: &outgoing.url,
                    tags: &tags,
                    expected,
                },
                &outcome,
            );
            let next = match &outcome.result {
                Ok(ex) if hops < config.max_redirects => transport::redirect(&outgoing, ex),
                _ => None,
            };
            match next {
                Some(next) => {
                    hops += 1;
                    outgoing = next;
                }
                None => break outcome,
            }
        };
        match outcome.result {
            Ok(ex) => Ok(http::Response {
                status: ex.status,
                headers: ex
                    .headers
                    .into_iter()
                    .map(|(name, value)| http::Header { name, value })
                    .collect(),
                body: ex.body.to_vec(),
                timings: http::Timings {
                    blocked: ex.timings.blocked,
                    connecting: ex.timings.connecting,
                    tls_handshaking: ex.timings.tls_handshaking,
                    sending: ex.timings.sending,
                    waiting: ex.timings.waiting,
                    receiving: ex.timings.receiving,
                    duration: ex.timings.duration(),
                },
                proto: ex.proto.to_string(),
            }),
            Err(e) => Err(match e {
                TransportError::Timeout => http::HttpError::Timeout,
                TransportError::InvalidUrl(m) => http::HttpError::InvalidUrl(m),
                TransportError::Dns(m) => http::HttpError::Dns(m),
                TransportError::Denied(h) => http::HttpError::Denied(h),
                e @ TransportError::Connect { .. } => http::HttpError::Connect(e.to_string()),
                e @ TransportError::Other { .. } => http::HttpError::Other(e.to_string()),
            }),
        }
    }
}

impl checks::Host for VuState {
    fn check(&mut self, name: String, passed: bool) -> bool {
        self.recorder.check(&name, passed);
        passed
    }
}

impl timing::Host for VuState {
    async fn sleep(&mut self, ms: u64) {
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
        let id = MetricId::custom(&name, kind, contains).map_err(|e| e.to_string())?;
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
        logging::guest(level, &message, &format!("vu={}", self.id));
    }
}

/// Guest stdout/stderr: complete lines go to the host's (rate-limited) log.
struct GuestOutput {
    source: String,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            source: self.source.clone(),
            pending: Vec::new(),
        })
    }
}

/// Splits written bytes into log lines; a partial line longer than 8 KiB is flushed as is.
struct LineWriter {
    source: String,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self, upto: usize) {
        let line: Vec<u8> = self.pending.drain(..upto).collect();
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if !text.trim().is_empty() {
            logging::guest(Level::Info, text, &self.source);
        }
    }
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
            self.emit(pos + 1);
        }
        if self.pending.len() > 8192 {
            let n = self.pending.len();
            self.emit(n);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.pending.is_empty() {
            let n = self.pending.len();
            self.emit(n);
        }
        Poll::Ready(Ok(()))
    }
}
