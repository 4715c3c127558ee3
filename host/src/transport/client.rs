//! One VU's HTTP client: its keep-alive connections by origin, its cookie jar, and a request's
//! round trip with k6's timings and the retry of a stale keep-alive connection.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, Request, Uri};

use super::connect::{self, Conn, Sender, Setup, Source};
use super::cookies::CookieJar;
use super::encoding::{body_too_large, decode_body};
use super::error::hyper_error;
use super::exchange::{ms, Received};
use super::h1;
use super::{Exchange, Headers, HttpConfig, Outcome, Outgoing, Timings, TransportError};

/// A connection is kept per origin: scheme (TLS or not), host and port.
struct Origin {
    secure: bool,
    host: String,
    port: u16,
    /// The `Host` header HTTP/1.1 requests to this origin carry, made once.
    host_header: String,
}

impl Origin {
    fn is(&self, secure: bool, host: &str, port: u16) -> bool {
        self.secure == secure && self.port == port && self.host == host
    }
}

/// One VU's HTTP client: at most one idle keep-alive connection per origin (an HTTP/2
/// connection carries every request to its origin, as k6's per-VU transport does).
pub struct Client {
    /// Idle connections by origin. A VU talks to a handful of origins, so a list searched in
    /// order costs less per request than hashing the origin (and allocates nothing).
    conns: Vec<(Origin, Conn)>,
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
            conns: Vec::new(),
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
            conns: Vec::new(),
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
            .trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let path = uri.path();
        let has_cookie = req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("cookie"));
        let cookie = if has_cookie {
            None
        } else {
            self.jar().header(secure, host, path, &req.cookies)
        };
        let cookie = cookie.as_deref();

        let start = Instant::now();
        let mut setup = Setup::default();
        // Take the idle connection out; a request that fails or times out leaves it dropped.
        let (origin, idle) = match self
            .conns
            .iter()
            .position(|(o, _)| o.is(secure, host, port))
        {
            Some(i) => {
                let (origin, mut c) = self.conns.swap_remove(i);
                (origin, c.sender.ready().await.then_some(c))
            }
            None => (Origin::new(secure, host, port), None),
        };
        let reused = idle.is_some();
        let mut conn = match idle {
            Some(c) => c,
            None => {
                // Boxed here and below: connecting (TLS, HTTP/2 handshakes) is the largest state
                // of this future, which is moved whole on every request; see `open_boxed`.
                let (c, s) = self.open_boxed(secure, host, port).await?;
                setup = s;
                c
            }
        };
        let (result, read_nothing) = self
            .attempt(
                &mut conn, &uri, &origin, req, cookie, start, setup, sent, received,
            )
            .await;
        // As Go's transport (and so k6) does: a kept-alive connection the server closed while
        // idle fails before any response byte; an idempotent request is retried once on a
        // fresh connection.
        let (result, conn) = match result {
            Err(_) if reused && read_nothing && idempotent(&req.method) => {
                let (mut fresh, setup) = self.open_boxed(secure, host, port).await?;
                let (retried, _) = self
                    .attempt(
                        &mut fresh, &uri, &origin, req, cookie, start, setup, sent, received,
                    )
                    .await;
                (retried, fresh)
            }
            other => (other, conn),
        };
        if let Ok(ex) = &result {
            let mut set_cookies = ex
                .headers
                .iter()
                .filter(|(n, _)| *n == "set-cookie")
                .map(|(_, v)| v)
                .peekable();
            if set_cookies.peek().is_some() {
                self.jar().store(host, path, set_cookies);
            }
        }
        if result.is_ok() && !conn.sender.is_closed() && !self.config.no_connection_reuse {
            self.conns.push((origin, conn));
        }
        result
    }

    /// Opens a connection, its future on the heap: it is the largest part of a request's
    /// future (rustls and HTTP/2 handshakes), which every request moves whole (wasmtime boxes
    /// a host call's future); a connection is opened once per many requests.
    async fn open_boxed(
        &self,
        secure: bool,
        host: &str,
        port: u16,
    ) -> Result<(Conn, Setup), TransportError> {
        Box::pin(connect::open(&self.config, self.source, secure, host, port)).await
    }

    /// One try on `conn`, adding its wire bytes to `sent`/`received`; also says whether no
    /// response byte was read.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        conn: &mut Conn,
        uri: &Uri,
        origin: &Origin,
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
            .round_trip(conn, uri, origin, req, cookie, start, setup)
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
        origin: &Origin,
        req: &Outgoing,
        cookie: Option<&str>,
        start: Instant,
        setup: Setup,
    ) -> Result<Exchange, TransportError> {
        let invalid =
            |e: &dyn std::fmt::Display| TransportError::InvalidUrl(format!("{}: {e}", req.url));
        let (send_start, response) = match &mut conn.sender {
            Sender::H1(c) => {
                let body = req.body.as_deref().unwrap_or_default();
                let wire = self
                    .h1_wire(uri, origin, req, cookie, body)
                    .map_err(|e| invalid(&e))?;
                let send_start = Instant::now();
                conn.stats.begin_request(send_start);
                let response = c
                    .exchange(wire, req.keep_body, self.config.max_body_bytes)
                    .await?;
                (send_start, response)
            }
            Sender::H2(s) => {
                let request = self
                    .h2_request(uri, origin, req, cookie)
                    .map_err(|e| invalid(&e))?;
                let send_start = Instant::now();
                conn.stats.begin_request(send_start);
                let response = s.send_request(request).await.map_err(hyper_error)?;
                (send_start, self.h2_response(response, req.keep_body).await?)
            }
        };
        let end = Instant::now();
        let h2 = matches!(conn.sender, Sender::H2(_));
        let Received {
            status,
            headers,
            body,
        } = response;
        let body = if req.keep_body {
            decode_body(&headers, body, self.config.max_body_bytes)?
        } else {
            body
        };
        let (last_write, first_read) = conn.stats.marks(send_start, end);
        Ok(Exchange {
            status,
            headers,
            body: Bytes::from(body),
            timings: Timings {
                blocked: ms(send_start - start),
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

    /// Reads an HTTP/2 response whole, keeping its body (bounded) when asked.
    async fn h2_response(
        &self,
        response: hyper::Response<hyper::body::Incoming>,
        keep_body: bool,
    ) -> Result<Received, TransportError> {
        let status = response.status().as_u16();
        let mut headers = Headers::default();
        for (name, value) in response.headers() {
            headers.push(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
        }
        let mut body = response.into_body();
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(hyper_error)?;
            if keep_body {
                if let Some(data) = frame.data_ref() {
                    kept.extend_from_slice(data);
                    if kept.len() as u64 > self.config.max_body_bytes {
                        return Err(body_too_large(self.config.max_body_bytes));
                    }
                }
            }
        }
        Ok(Received {
            status,
            headers,
            body: kept,
        })
    }
}

impl Client {
    /// The headers the client adds after the guest's: the cookie header, then
    /// `Accept-Encoding: gzip` (as Go's transport, and so k6, does; the body is decoded
    /// transparently), `Host` (HTTP/1.1) and `User-Agent`, each unless the guest set it.
    fn added_headers<'a>(
        &'a self,
        origin: &'a Origin,
        req: &Outgoing,
        cookie: Option<&'a str>,
        h2: bool,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        let (mut host, mut ua, mut encoding) = (false, false, false);
        for (name, _) in &req.headers {
            host |= name.eq_ignore_ascii_case("host");
            ua |= name.eq_ignore_ascii_case("user-agent");
            encoding |= name.eq_ignore_ascii_case("accept-encoding");
        }
        [
            cookie.map(|c| ("Cookie", c)),
            (!encoding && req.method != "HEAD").then_some(("Accept-Encoding", "gzip")),
            (!host && !h2).then_some(("Host", origin.host_header.as_str())),
            (!ua).then_some(("User-Agent", self.config.user_agent.as_str())),
        ]
        .into_iter()
        .flatten()
    }

    /// An HTTP/1.1 request as it goes on the wire: the request line with the origin-form
    /// target, the guest's headers in order, the added ones, and the body's framing: its
    /// length (for any body, and an empty one of a method that carries one, as Go's transport
    /// does) unless the guest framed it itself.
    fn h1_wire<'b>(
        &self,
        uri: &Uri,
        origin: &Origin,
        req: &Outgoing,
        cookie: Option<&str>,
        body: &'b [u8],
    ) -> Result<h1::Wire<'b>, String> {
        let mut has_length = false;
        let mut chunked = false;
        let mut close = false;
        for (name, value) in &req.headers {
            if name.eq_ignore_ascii_case("content-length") {
                has_length = true;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked |= value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close |= value.to_ascii_lowercase().contains("close");
            }
        }
        let length = (!has_length
            && !chunked
            && (!body.is_empty() || matches!(req.method.as_str(), "POST" | "PUT" | "PATCH")))
        .then(|| body.len().to_string());
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        let guest = req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        let added = self.added_headers(origin, req, cookie, false);
        let length = length.as_deref().map(|l| ("Content-Length", l));
        let coalesce = chunked || h1::coalesce(body);
        let mut head = Vec::with_capacity(256 + if coalesce { body.len() } else { 0 });
        h1::write_head(
            &mut head,
            &req.method,
            target,
            guest.chain(added).chain(length),
        )?;
        let body = if chunked {
            h1::write_chunked(&mut head, body);
            &[]
        } else if coalesce {
            head.extend_from_slice(body);
            &[]
        } else {
            body
        };
        Ok(h1::Wire {
            head,
            body,
            head_only: req.method == "HEAD",
            close,
        })
    }

    /// The hyper request for `req` over HTTP/2: the whole URI (from which hyper fills
    /// :scheme, :authority and :path), the guest's headers in order, then the added ones.
    fn h2_request(
        &self,
        uri: &Uri,
        origin: &Origin,
        req: &Outgoing,
        cookie: Option<&str>,
    ) -> Result<Request<Full<Bytes>>, hyper::http::Error> {
        let mut request = Request::new(Full::new(req.body.clone().unwrap_or_default()));
        *request.method_mut() = Method::from_bytes(req.method.as_bytes())?;
        *request.uri_mut() = uri.clone();
        let headers: &mut HeaderMap = request.headers_mut();
        headers.reserve(req.headers.len() + 4);
        let guest = req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        for (name, value) in guest.chain(self.added_headers(origin, req, cookie, true)) {
            headers.append(
                HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(value)?,
            );
        }
        Ok(request)
    }
}

impl Origin {
    fn new(secure: bool, host: &str, port: u16) -> Origin {
        Origin {
            secure,
            host: host.to_string(),
            port,
            host_header: Origin::authority(host, port),
        }
    }

    /// The `Host` header's value: the host, and the port unless it is 80 or 443.
    fn authority(host: &str, port: u16) -> String {
        if port == 80 || port == 443 {
            host.to_string()
        } else {
            format!("{host}:{port}")
        }
    }
}

/// Methods Go's transport retries on a stale keep-alive connection.
fn idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    )
}
