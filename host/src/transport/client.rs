//! One VU's HTTP client: its keep-alive connections by origin, its cookie jar, and a request's
//! round trip with k6's timings and the retry of a stale keep-alive connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Uri};

use super::connect::{self, Conn, Sender, Setup, Source};
use super::cookies::CookieJar;
use super::encoding::{body_too_large, decode_body};
use super::error::hyper_error;
use super::exchange::ms;
use super::{Exchange, HttpConfig, Outcome, Outgoing, Timings, TransportError};

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
    source: Source,
}

impl Client {
    /// A client with no connections yet.
    pub fn new(config: Arc<HttpConfig>) -> Self {
        Client {
            conns: HashMap::new(),
            config,
            jar: Arc::default(),
            lanes: Vec::new(),
            source: Source::default(),
        }
    }

    /// The client of VU `vu` (1-based): it connects from the VU's share of `localIPs`, or to
    /// loopback from its 127.0.0.x (see [`Source::for_vu`]).
    pub fn for_vu(config: Arc<HttpConfig>, vu: u32) -> Self {
        Client {
            source: Source::for_vu(&config.local_ips, vu.saturating_add(config.vus_before)),
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
            source: self.source,
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

    /// The VU's cookie jar (shared with its batch lanes).
    pub fn jar(&self) -> std::sync::MutexGuard<'_, CookieJar> {
        self.jar.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configuration this client follows.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Where this VU's connections come from.
    pub(super) fn source(&self) -> Source {
        self.source
    }

    /// Called before each iteration: empties the cookie jar, as k6 does (unless
    /// `noCookiesReset`), and with
    /// `noVUConnectionReuse` closes the VU's connections.
    pub fn begin_iteration(&mut self) {
        if !self.config.no_cookies_reset {
            self.jar().clear();
        }
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
                let (c, s) = connect::open(&self.config, self.source, secure, &host, port).await?;
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
                let (mut fresh, setup) =
                    connect::open(&self.config, self.source, secure, &host, port).await?;
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
}

/// Methods Go's transport retries on a stale keep-alive connection.
fn idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    )
}
