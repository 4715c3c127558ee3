//! The HTTP/1.1 transport: a VU's own keep-alive connections (reused across iterations, as k6
//! does), k6's timing phases and on-the-wire byte counts. Knows nothing of wasm or metrics.

mod timed_io;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use timed_io::{IoStats, TimedIo};

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
}

/// Phase timings in milliseconds, as k6 defines them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Waiting for a connection (includes connecting when a new one was made).
    pub blocked: f64,
    /// TCP connect.
    pub connecting: f64,
    /// TLS handshake (always 0: plain HTTP only so far).
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
    /// Protocol label (`HTTP/1.1`).
    pub proto: &'static str,
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

struct Conn {
    sender: SendRequest<Full<Bytes>>,
    stats: std::sync::Arc<IoStats>,
}

/// One VU's HTTP client: at most one idle keep-alive connection per origin.
pub struct Client {
    conns: HashMap<(String, u16), Conn>,
    user_agent: String,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with no connections yet.
    pub fn new() -> Self {
        Client {
            conns: HashMap::new(),
            user_agent: format!("volley/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Sends `req`, bounded by its timeout.
    pub async fn send(&mut self, req: Outgoing) -> Outcome {
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
        req: Outgoing,
        sent: &mut u64,
        received: &mut u64,
    ) -> Result<Exchange, TransportError> {
        let uri: Uri = req
            .url
            .parse()
            .map_err(|e| TransportError::InvalidUrl(format!("{}: {e}", req.url)))?;
        if uri.scheme_str() != Some("http") {
            return Err(TransportError::InvalidUrl(format!(
                "{}: unsupported scheme (only http:// so far)",
                req.url
            )));
        }
        let host = uri
            .host()
            .ok_or_else(|| TransportError::InvalidUrl(format!("{}: no host", req.url)))?
            .to_string();
        let port = uri.port_u16().unwrap_or(80);
        let key = (host.clone(), port);

        let start = Instant::now();
        let mut connecting = 0.0;
        // Take the idle connection out; a request that fails or times out leaves it dropped.
        let idle = match self.conns.remove(&key) {
            Some(mut c) => c.sender.ready().await.is_ok().then_some(c),
            None => None,
        };
        let reused = idle.is_some();
        let mut conn = match idle {
            Some(c) => c,
            None => {
                let (c, connect_ms) = connect(&host, port).await?;
                connecting = connect_ms;
                c
            }
        };
        let (result, read_nothing) = self
            .attempt(
                &mut conn, &uri, &host, port, &req, start, connecting, sent, received,
            )
            .await;
        // As Go's transport (and so k6) does: a kept-alive connection the server closed while
        // idle fails before any response byte; an idempotent request is retried once on a
        // fresh connection.
        let (result, conn) = match result {
            Err(_) if reused && read_nothing && idempotent(&req.method) => {
                let (mut fresh, connect_ms) = connect(&host, port).await?;
                let (retried, _) = self
                    .attempt(
                        &mut fresh, &uri, &host, port, &req, start, connect_ms, sent, received,
                    )
                    .await;
                (retried, fresh)
            }
            other => (other, conn),
        };
        if result.is_ok() && !conn.sender.is_closed() {
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
        start: Instant,
        connecting: f64,
        sent: &mut u64,
        received: &mut u64,
    ) -> (Result<Exchange, TransportError>, bool) {
        let stats = conn.stats.clone();
        let (w0, r0) = stats.totals();
        let result = self
            .round_trip(conn, uri, host, port, req, start, connecting)
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
        start: Instant,
        connecting: f64,
    ) -> Result<Exchange, TransportError> {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut builder = Request::builder().method(req.method.as_str()).uri(path);
        let mut has_host = false;
        let mut has_ua = false;
        for (name, value) in &req.headers {
            has_host |= name.eq_ignore_ascii_case("host");
            has_ua |= name.eq_ignore_ascii_case("user-agent");
            builder = builder.header(name.as_str(), value.as_str());
        }
        if !has_host {
            let authority = if port == 80 {
                host.to_string()
            } else {
                format!("{host}:{port}")
            };
            builder = builder.header("host", authority);
        }
        if !has_ua {
            builder = builder.header("user-agent", self.user_agent.as_str());
        }
        let body = Full::new(req.body.clone().unwrap_or_default());
        let request = builder
            .body(body)
            .map_err(|e| TransportError::InvalidUrl(format!("{}: {e}", req.url)))?;

        let send_start = Instant::now();
        let blocked = ms(send_start - start);
        conn.stats.begin_request(send_start);
        let response = conn
            .sender
            .send_request(request)
            .await
            .map_err(hyper_error)?;
        let status = response.status().as_u16();
        let headers = response
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
                }
            }
        }
        let end = Instant::now();
        let (last_write, first_read) = conn.stats.marks(send_start, end);
        Ok(Exchange {
            status,
            headers,
            body: Bytes::from(kept),
            timings: Timings {
                blocked,
                connecting,
                tls_handshaking: 0.0,
                sending: ms(last_write - send_start),
                waiting: ms(first_read - last_write),
                receiving: ms(end - first_read),
            },
            proto: "HTTP/1.1",
        })
    }
}

async fn connect(host: &str, port: u16) -> Result<(Conn, f64), TransportError> {
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| TransportError::Dns(host.to_string()))?
        .collect();
    let addr = *addrs
        .first()
        .ok_or_else(|| TransportError::Dns(host.to_string()))?;
    let t0 = Instant::now();
    let stream = TcpStream::connect(addr).await.map_err(|e| {
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
    let stats = IoStats::new();
    let io = TokioIo::new(TimedIo::new(stream, stats.clone()));
    let (sender, connection) = http1::handshake(io).await.map_err(hyper_error)?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the peer closes; errors surface on the sender.
        let _ = connection.await;
    });
    Ok((Conn { sender, stats }, connecting))
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
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server that answers only the first request of each connection and closes the
    /// connection when a second one arrives (a keep-alive timeout racing the client).
    async fn one_shot_server() -> (std::net::SocketAddr, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut answered = false;
                    loop {
                        let mut got = Vec::new();
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                            match sock.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                        }
                        seen.fetch_add(1, Ordering::SeqCst);
                        if answered {
                            return; // close without a response
                        }
                        let _ = sock
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .await;
                        answered = true;
                    }
                });
            }
        });
        (addr, requests)
    }

    fn request(method: &str, addr: std::net::SocketAddr) -> Outgoing {
        Outgoing {
            method: method.into(),
            url: format!("http://{addr}/"),
            headers: Vec::new(),
            body: None,
            timeout: Duration::from_secs(10),
            keep_body: true,
        }
    }

    #[tokio::test]
    async fn idempotent_requests_retry_once_on_a_stale_keep_alive_connection() {
        let (addr, requests) = one_shot_server().await;
        let mut client = Client::new();
        let first = client.send(request("GET", addr)).await.result.unwrap();
        assert_eq!(&first.body[..], b"ok");
        let second = client.send(request("GET", addr)).await;
        let ex = second.result.expect("retried on a fresh connection");
        assert_eq!(ex.status, 200);
        assert!(ex.timings.connecting > 0.0, "the retry opened a connection");
        assert_eq!(
            requests.load(Ordering::SeqCst),
            3,
            "one failed try, one retry"
        );
    }

    #[tokio::test]
    async fn non_idempotent_requests_are_not_retried() {
        let (addr, requests) = one_shot_server().await;
        let mut client = Client::new();
        client.send(request("POST", addr)).await.result.unwrap();
        let second = client.send(request("POST", addr)).await;
        let err = second.result.unwrap_err();
        assert_eq!(err.code(), 1220, "{err}");
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn refused_and_timeout_map_to_k6_codes() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut client = Client::new();
        let refused = client
            .send(request("GET", ([127, 0, 0, 1], port).into()))
            .await;
        assert_eq!(refused.result.unwrap_err().code(), 1212);
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut slow = request("GET", silent.local_addr().unwrap());
        slow.timeout = Duration::from_millis(200);
        assert_eq!(
            client.send(slow).await.result.unwrap_err(),
            TransportError::Timeout
        );
        let bad = Outgoing {
            url: "ftp://x/".into(),
            ..request("GET", ([127, 0, 0, 1], port).into())
        };
        assert_eq!(client.send(bad).await.result.unwrap_err().code(), 1020);
    }
}
