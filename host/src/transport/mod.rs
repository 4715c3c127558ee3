//! The HTTP transport: a VU's own keep-alive connections (reused across iterations, as k6
//! does), HTTP/1.1 or HTTP/2 (ALPN over TLS, or prior knowledge with `h2c`), TLS with rustls,
//! k6's timing phases and on-the-wire byte counts. Knows nothing of wasm or metrics.

mod cookies;
pub mod debug;
mod encoding;
pub mod grpc;
mod redirect;
pub mod resolve;
mod stream;
mod timed_io;
pub mod tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper::{Request, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use cookies::CookieJar;
use encoding::{body_too_large, decode_body};
pub use encoding::{compress, compress_off_worker};
pub use redirect::redirect;
use resolve::{ResolveSettings, Resolver};
pub use stream::{Opened, Stream};
pub use timed_io::IoStats;
use timed_io::TimedIo;
use tls::{TlsConfigError, TlsSettings};

/// What `--http-debug` prints of each request and response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpDebug {
    /// Nothing.
    #[default]
    Off,
    /// Request and status lines with headers.
    Headers,
    /// Headers and bodies.
    Full,
}

/// How every VU's client behaves; built once per test.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// rustls client configurations (roots, versions, ALPN, client certificates by domain).
    pub tls: tls::TlsConfigs,
    /// Speak HTTP/2 without TLS to `http://` origins (prior knowledge).
    pub h2c: bool,
    /// `User-Agent` sent when a request has none.
    pub user_agent: String,
    /// Name resolution, shared by every VU.
    pub resolver: Arc<Resolver>,
    /// Redirects followed per request (k6's `maxRedirects`).
    pub max_redirects: u32,
    /// Statuses that count as expected (inclusive ranges; k6's default 200–399).
    pub expected_statuses: Vec<(u16, u16)>,
    /// Close every connection after its request (k6's `noConnectionReuse`).
    pub no_connection_reuse: bool,
    /// Close a VU's connections between iterations (k6's `noVUConnectionReuse`).
    pub no_vu_connection_reuse: bool,
    /// Largest response body handed to the guest, in bytes.
    pub max_body_bytes: u64,
    /// What to print of each exchange.
    pub debug: HttpDebug,
    /// Source addresses, one per VU in turn (k6's `localIPs`); empty: the system's choice.
    pub local_ips: Vec<std::net::IpAddr>,
}

impl HttpConfig {
    /// Whether `status` is expected.
    pub fn expects(&self, status: u16) -> bool {
        self.expected_statuses
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

/// What [`HttpConfig`] is built from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpSettings {
    /// TLS settings.
    pub tls: TlsSettings,
    /// HTTP/2 with prior knowledge for `http://`.
    pub h2c: bool,
    /// `User-Agent` (default `volley/<version>`).
    pub user_agent: Option<String>,
    /// Name resolution.
    pub resolve: ResolveSettings,
    /// Redirects followed per request (default 10).
    pub max_redirects: Option<u32>,
    /// Expected statuses (default 200–399).
    pub expected_statuses: Option<Vec<(u16, u16)>>,
    /// k6's `noConnectionReuse`.
    pub no_connection_reuse: bool,
    /// k6's `noVUConnectionReuse`.
    pub no_vu_connection_reuse: bool,
    /// Largest response body kept for the guest (default 16 MiB).
    pub max_body_bytes: Option<u64>,
    /// `--http-debug`.
    pub debug: HttpDebug,
    /// k6's `localIPs`.
    pub local_ips: Vec<std::net::IpAddr>,
}

impl HttpConfig {
    /// Builds the configuration (reads the system's root certificates and any CA file).
    pub fn new(settings: &HttpSettings) -> Result<HttpConfig, TlsConfigError> {
        Ok(HttpConfig {
            tls: tls::TlsConfigs::new(&settings.tls)?,
            h2c: settings.h2c,
            user_agent: settings
                .user_agent
                .clone()
                .unwrap_or_else(|| format!("volley/{}", env!("CARGO_PKG_VERSION"))),
            resolver: Arc::new(Resolver::new(settings.resolve.clone())),
            max_redirects: settings.max_redirects.unwrap_or(10),
            expected_statuses: settings
                .expected_statuses
                .clone()
                .unwrap_or_else(|| vec![(200, 399)]),
            no_connection_reuse: settings.no_connection_reuse,
            no_vu_connection_reuse: settings.no_vu_connection_reuse,
            max_body_bytes: settings.max_body_bytes.unwrap_or(16 << 20),
            debug: settings.debug,
            local_ips: settings.local_ips.clone(),
        })
    }
}

/// Default request timeout, as k6.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A request to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Option<Bytes>,
    /// Timeout for the whole request.
    pub timeout: Duration,
    /// Whether to keep the body for the caller.
    pub keep_body: bool,
    /// Cookies for this request besides the jar's (same name: these win).
    pub cookies: Vec<(String, String)>,
}

/// Phase timings in milliseconds, as k6 defines them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Waiting for a connection (includes connecting when a new one was made).
    pub blocked: f64,
    /// TCP connect.
    pub connecting: f64,
    /// TLS handshake (0 for plain HTTP or a reused connection).
    pub tls_handshaking: f64,
    /// Writing the request.
    pub sending: f64,
    /// Request written → first response byte.
    pub waiting: f64,
    /// First → last response byte.
    pub receiving: f64,
}

impl Timings {
    /// `sending + waiting + receiving` (k6's `http_req_duration`).
    pub fn duration(&self) -> f64 {
        self.sending + self.waiting + self.receiving
    }
}

/// A completed exchange.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Body, when asked for.
    pub body: Bytes,
    /// Phase timings.
    pub timings: Timings,
    /// Protocol label (`HTTP/1.1`, `HTTP/2.0`).
    pub proto: &'static str,
    /// TLS version (`tls1.3`), for `https://`.
    pub tls_version: Option<&'static str>,
}

/// Why a request produced no response; each maps to a k6 error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The request timed out (1050).
    #[error("request timeout")]
    Timeout,
    /// The URL is malformed or not `http://` (1020).
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The host did not resolve (1101).
    #[error("lookup {0}: no such host")]
    Dns(String),
    /// The sandbox refused the host (Volley's 1400); no connection was opened.
    #[error("host {0} is not in the sandbox's allowed-hosts")]
    Denied(String),
    /// Connecting failed; `code` is k6's (1210 dial, 1212 refused, ...).
    #[error("dial: {message}")]
    Connect {
        /// k6 error code.
        code: u32,
        /// Description.
        message: String,
    },
    /// Anything else; `code` is k6's (1220 reset, 1000 generic).
    #[error("{message}")]
    Other {
        /// k6 error code.
        code: u32,
        /// Description.
        message: String,
    },
}

impl TransportError {
    /// k6's numeric error code.
    pub fn code(&self) -> u32 {
        match self {
            TransportError::Timeout => 1050,
            TransportError::InvalidUrl(_) => 1020,
            TransportError::Dns(_) => 1101,
            TransportError::Denied(_) => 1400,
            TransportError::Connect { code, .. } | TransportError::Other { code, .. } => *code,
        }
    }
}

/// The result of one request, with the bytes it put on and took off the wire either way.
#[derive(Debug)]
pub struct Outcome {
    /// The response or the error.
    pub result: Result<Exchange, TransportError>,
    /// Bytes written to the socket.
    pub bytes_sent: u64,
    /// Bytes read from the socket.
    pub bytes_received: u64,
}

/// A connection's request half.
enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    async fn ready(&mut self) -> bool {
        match self {
            Sender::H1(s) => s.ready().await.is_ok(),
            Sender::H2(s) => s.ready().await.is_ok(),
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

struct Conn {
    sender: Sender,
    stats: Arc<IoStats>,
    tls_version: Option<&'static str>,
}

/// A connection is kept per origin: scheme (TLS or not), host and port.
type Origin = (bool, String, u16);

/// One VU's HTTP client: at most one idle keep-alive connection per origin (an HTTP/2
/// connection carries every request to its origin, as k6's per-VU transport does).
pub struct Client {
    conns: HashMap<Origin, Conn>,
    config: Arc<HttpConfig>,
    jar: Arc<std::sync::Mutex<CookieJar>>,
    /// The extra lanes of `http.batch`, kept with their connections for the next batch.
    lanes: Vec<Client>,
    /// The source address of this VU's connections.
    local_ip: Option<std::net::IpAddr>,
}

impl Client {
    /// A client with no connections yet.
    pub fn new(config: Arc<HttpConfig>) -> Self {
        Client {
            conns: HashMap::new(),
            config,
            jar: Arc::default(),
            lanes: Vec::new(),
            local_ip: None,
        }
    }

    /// The client of VU `vu` (1-based): it connects from the VU's share of `localIPs`.
    pub fn for_vu(config: Arc<HttpConfig>, vu: u32) -> Self {
        let ips = &config.local_ips;
        let local_ip = (!ips.is_empty()).then(|| ips[(vu.max(1) as usize - 1) % ips.len()]);
        Client {
            local_ip,
            ..Client::new(config)
        }
    }

    /// Another client of the same VU (same configuration and cookie jar, no connections yet),
    /// for requests sent in parallel by `http.batch`.
    pub fn lane(&self) -> Client {
        Client {
            conns: HashMap::new(),
            config: self.config.clone(),
            jar: self.jar.clone(),
            lanes: Vec::new(),
            local_ip: self.local_ip,
        }
    }

    /// The batch lanes kept from the last batch (see [`Client::keep_lanes`]).
    pub fn take_lanes(&mut self) -> Vec<Client> {
        std::mem::take(&mut self.lanes)
    }

    /// Keeps `lanes` and their idle connections for the next batch.
    pub fn keep_lanes(&mut self, lanes: Vec<Client>) {
        self.lanes = lanes;
    }

    fn jar(&self) -> std::sync::MutexGuard<'_, CookieJar> {
        self.jar.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configuration this client follows.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Called before each iteration: empties the cookie jar, as k6 does, and with
    /// `noVUConnectionReuse` closes the VU's connections.
    pub fn begin_iteration(&mut self) {
        self.jar().clear();
        if self.config.no_vu_connection_reuse {
            self.conns.clear();
            self.lanes.clear();
        }
    }

    /// Sends `req`, bounded by its timeout.
    pub async fn send(&mut self, req: &Outgoing) -> Outcome {
        let mut sent = 0;
        let mut received = 0;
        let timeout = req.timeout;
        let result =
            match tokio::time::timeout(timeout, self.exchange(req, &mut sent, &mut received)).await
            {
                Ok(r) => r,
                Err(_) => Err(TransportError::Timeout),
            };
        Outcome {
            result,
            bytes_sent: sent,
            bytes_received: received,
        }
    }

    async fn exchange(
        &mut self,
        req: &Outgoing,
        sent: &mut u64,
        received: &mut u64,
    ) -> Result<Exchange, TransportError> {
        let uri: Uri = req
            .url
            .parse()
            .map_err(|e| TransportError::InvalidUrl(format!("{}: {e}", req.url)))?;
        let secure = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(TransportError::InvalidUrl(format!(
                    "{}: unsupported scheme (expected http:// or https://)",
                    req.url
                )))
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| TransportError::InvalidUrl(format!("{}: no host", req.url)))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let key = (secure, host.clone(), port);
        let path = uri.path().to_string();
        let has_cookie = req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("cookie"));
        let cookie = if has_cookie {
            None
        } else {
            self.jar().header(secure, &host, &path, &req.cookies)
        };
        let cookie = cookie.as_deref();

        let start = Instant::now();
        let mut setup = Setup::default();
        // Take the idle connection out; a request that fails or times out leaves it dropped.
        let idle = match self.conns.remove(&key) {
            Some(mut c) => c.sender.ready().await.then_some(c),
            None => None,
        };
        let reused = idle.is_some();
        let mut conn = match idle {
            Some(c) => c,
            None => {
                let (c, s) = self.connect(secure, &host, port).await?;
                setup = s;
                c
            }
        };
        let (result, read_nothing) = self
            .attempt(
                &mut conn, &uri, &host, port, req, cookie, start, setup, sent, received,
            )
            .await;
        // As Go's transport (and so k6) does: a kept-alive connection the server closed while
        // idle fails before any response byte; an idempotent request is retried once on a
        // fresh connection.
        let (result, conn) = match result {
            Err(_) if reused && read_nothing && idempotent(&req.method) => {
                let (mut fresh, setup) = self.connect(secure, &host, port).await?;
                let (retried, _) = self
                    .attempt(
                        &mut fresh, &uri, &host, port, req, cookie, start, setup, sent, received,
                    )
                    .await;
                (retried, fresh)
            }
            other => (other, conn),
        };
        if let Ok(ex) = &result {
            let set_cookies = ex
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
                .map(|(_, v)| v.as_str());
            self.jar().store(&host, &path, set_cookies);
        }
        if result.is_ok() && !conn.sender.is_closed() && !self.config.no_connection_reuse {
            self.conns.insert(key, conn);
        }
        result
    }

    /// One try on `conn`, adding its wire bytes to `sent`/`received`; also says whether no
    /// response byte was read.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        conn: &mut Conn,
        uri: &Uri,
        host: &str,
        port: u16,
        req: &Outgoing,
        cookie: Option<&str>,
        start: Instant,
        setup: Setup,
        sent: &mut u64,
        received: &mut u64,
    ) -> (Result<Exchange, TransportError>, bool) {
        let stats = conn.stats.clone();
        let (w0, r0) = stats.totals();
        let result = self
            .round_trip(conn, uri, host, port, req, cookie, start, setup)
            .await;
        let (w1, r1) = stats.totals();
        *sent += w1 - w0;
        *received += r1 - r0;
        (result, r1 == r0)
    }

    #[allow(clippy::too_many_arguments)]
    async fn round_trip(
        &self,
        conn: &mut Conn,
        uri: &Uri,
        host: &str,
        port: u16,
        req: &Outgoing,
        cookie: Option<&str>,
        start: Instant,
        setup: Setup,
    ) -> Result<Exchange, TransportError> {
        let h2 = matches!(conn.sender, Sender::H2(_));
        // HTTP/1.1 takes the origin-form path and a Host header; HTTP/2 the whole URI, from
        // which hyper fills :scheme, :authority and :path.
        let target = if h2 {
            uri.to_string()
        } else {
            uri.path_and_query().map_or("/", |p| p.as_str()).to_string()
        };
        let mut builder = Request::builder().method(req.method.as_str()).uri(target);
        let mut has_host = false;
        let mut has_ua = false;
        let mut has_encoding = false;
        for (name, value) in &req.headers {
            has_host |= name.eq_ignore_ascii_case("host");
            has_ua |= name.eq_ignore_ascii_case("user-agent");
            has_encoding |= name.eq_ignore_ascii_case("accept-encoding");
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(cookie) = cookie {
            builder = builder.header("cookie", cookie);
        }
        if !has_encoding && req.method != "HEAD" {
            // As Go's transport (and so k6) does; the body is decoded transparently.
            builder = builder.header("accept-encoding", "gzip");
        }
        if !has_host && !h2 {
            let authority = if port == 80 || port == 443 {
                host.to_string()
            } else {
                format!("{host}:{port}")
            };
            builder = builder.header("host", authority);
        }
        if !has_ua {
            builder = builder.header("user-agent", self.config.user_agent.as_str());
        }
        let body = Full::new(req.body.clone().unwrap_or_default());
        let request = builder
            .body(body)
            .map_err(|e| TransportError::InvalidUrl(format!("{}: {e}", req.url)))?;

        let send_start = Instant::now();
        let blocked = ms(send_start - start);
        conn.stats.begin_request(send_start);
        let response = match &mut conn.sender {
            Sender::H1(s) => s.send_request(request).await,
            Sender::H2(s) => s.send_request(request).await,
        }
        .map_err(hyper_error)?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = response.into_body();
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(hyper_error)?;
            if req.keep_body {
                if let Some(data) = frame.data_ref() {
                    kept.extend_from_slice(data);
                    if kept.len() as u64 > self.config.max_body_bytes {
                        return Err(body_too_large(self.config.max_body_bytes));
                    }
                }
            }
        }
        let end = Instant::now();
        if req.keep_body {
            kept = decode_body(&headers, kept, self.config.max_body_bytes)?;
        }
        let (last_write, first_read) = conn.stats.marks(send_start, end);
        Ok(Exchange {
            status,
            headers,
            body: Bytes::from(kept),
            timings: Timings {
                blocked,
                connecting: setup.connecting,
                tls_handshaking: setup.tls_handshaking,
                sending: ms(last_write - send_start),
                waiting: ms(first_read - last_write),
                receiving: ms(end - first_read),
            },
            proto: if h2 { "HTTP/2.0" } else { "HTTP/1.1" },
            tls_version: conn.tls_version,
        })
    }

    /// Opens a connection: TCP, then TLS for `https://` (ALPN picks HTTP/2 or HTTP/1.1), or
    /// HTTP/2 with prior knowledge for `http://` when `h2c` is set.
    async fn connect(
        &self,
        secure: bool,
        host: &str,
        port: u16,
    ) -> Result<(Conn, Setup), TransportError> {
        let addr = self.config.resolver.resolve(host, port).await?;
        let (stream, connecting) = dial(addr, self.local_ip).await?;
        let stats = IoStats::new();
        let timed = TimedIo::new(stream, stats.clone());
        let mut setup = Setup {
            connecting,
            tls_handshaking: 0.0,
        };
        if !secure {
            let sender = handshake(TokioIo::new(timed), self.config.h2c).await?;
            return Ok((
                Conn {
                    sender,
                    stats,
                    tls_version: None,
                },
                setup,
            ));
        }
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| TransportError::InvalidUrl(format!("{host}: {e}")))?;
        let t0 = Instant::now();
        let tls = tokio_rustls::TlsConnector::from(self.config.tls.for_host(host))
            .connect(name, timed)
            .await
            .map_err(|e| {
                let (code, message) = tls::handshake_error(&e, host);
                TransportError::Other { code, message }
            })?;
        setup.tls_handshaking = ms(t0.elapsed());
        let session = tls.get_ref().1;
        let h2 = session.alpn_protocol() == Some(b"h2");
        let tls_version = tls::version_label(session.protocol_version());
        let sender = handshake(TokioIo::new(tls), h2).await?;
        Ok((
            Conn {
                sender,
                stats,
                tls_version,
            },
            setup,
        ))
    }
}

/// What opening a connection cost, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
struct Setup {
    connecting: f64,
    tls_handshaking: f64,
}

/// The HTTP/1.1 or HTTP/2 handshake over `io`; the connection task runs on its own.
async fn handshake<T>(io: TokioIo<T>, h2: bool) -> Result<Sender, TransportError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if h2 {
        let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(hyper_error)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        return Ok(Sender::H2(sender));
    }
    let (sender, connection) = http1::handshake(io).await.map_err(hyper_error)?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the peer closes; errors surface on the sender.
        let _ = connection.await;
    });
    Ok(Sender::H1(sender))
}

/// Opens a TCP connection, from `local` when given; returns it with the connect time in ms.
async fn dial(
    addr: std::net::SocketAddr,
    local: Option<std::net::IpAddr>,
) -> Result<(TcpStream, f64), TransportError> {
    let t0 = Instant::now();
    let connect = async {
        let Some(ip) = local else {
            return TcpStream::connect(addr).await;
        };
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.bind(std::net::SocketAddr::new(ip, 0))?;
        socket.connect(addr).await
    };
    let stream = connect.await.map_err(|e| {
        let code = match e.kind() {
            std::io::ErrorKind::ConnectionRefused => 1212,
            std::io::ErrorKind::TimedOut => 1211,
            _ => 1210,
        };
        TransportError::Connect {
            code,
            message: format!("tcp {addr}: {e}"),
        }
    })?;
    let connecting = ms(t0.elapsed());
    let _ = stream.set_nodelay(true);
    Ok((stream, connecting))
}

fn hyper_error(e: hyper::Error) -> TransportError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ) {
                return TransportError::Other {
                    code: 1220,
                    message: format!("read: connection reset by peer ({io})"),
                };
            }
        }
        source = err.source();
    }
    if let Some(h2e) = source_of::<h2::Error>(&e) {
        // k6's HTTP/2 codes: 1610+ GOAWAY, 1630+ stream errors, 1650+ connection errors, each
        // offset by the HTTP/2 error code.
        let reason = h2e.reason().map_or(0, |r| u32::from(r).min(19));
        let (base, kind) = if h2e.is_go_away() {
            (1610, "GOAWAY")
        } else if h2e.is_reset() {
            (1630, "stream error")
        } else {
            (1650, "connection error")
        };
        return TransportError::Other {
            code: base + reason,
            message: format!("http2: {kind}: {h2e}"),
        };
    }
    if e.is_incomplete_message() {
        return TransportError::Other {
            code: 1220,
            message: "connection closed before the response was complete".into(),
        };
    }
    TransportError::Other {
        code: 1000,
        message: e.to_string(),
    }
}

/// The first error of type `T` in `e`'s source chain.
fn source_of<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        source = err.source();
    }
    None
}

/// Methods Go's transport retries on a stale keep-alive connection.
fn idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests;
