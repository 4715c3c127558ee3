//! gRPC calls through the host (k6's `k6/net/grpc`): unary and server-streaming calls with
//! messages written as JSON (protobuf's canonical JSON mapping), described by `.proto` sources
//! compiled into the scenario. Each call records `grpc_req_duration` tagged with the method and
//! the numeric gRPC `status`; a non-OK status is a [`Response`], not an error.
//!
//! ```no_run
//! use std::time::Duration;
//! use volley_sdk::{check, grpc, Error};
//!
//! fn iteration() -> Result<(), Error> {
//!     // A scenario cannot read files: embed the sources (imports resolve among them and
//!     // Google's well-known types).
//!     let client = grpc::Client::load(&[("hello.proto", "syntax = \"proto3\"; /* ... */")])?;
//!     client.connect("127.0.0.1:50051", grpc::plaintext())?;
//!     let res = client
//!         .invoke("hello.Greeter/SayHello", r#"{"name":"Volley"}"#)
//!         .metadata("x-trace", "abc")
//!         .timeout(Duration::from_secs(2))
//!         .send()?;
//!     check(&res, "status is OK", |r| r.status() == grpc::Status::OK);
//!     println!("{}", res.message().unwrap_or("{}"));
//!     client.close();
//!     Ok(())
//! }
//! ```

use std::fmt;
use std::time::Duration;

use crate::wit::volley::scenario::grpc as wit;
use crate::wit::volley::scenario::http::{Header, Tag};
use crate::NetError;

/// gRPC status codes (k6's `grpc.StatusOK`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u32);

impl Status {
    /// 0
    pub const OK: Status = Status(0);
    /// 1
    pub const CANCELLED: Status = Status(1);
    /// 2
    pub const UNKNOWN: Status = Status(2);
    /// 3
    pub const INVALID_ARGUMENT: Status = Status(3);
    /// 4
    pub const DEADLINE_EXCEEDED: Status = Status(4);
    /// 5
    pub const NOT_FOUND: Status = Status(5);
    /// 6
    pub const ALREADY_EXISTS: Status = Status(6);
    /// 7
    pub const PERMISSION_DENIED: Status = Status(7);
    /// 8
    pub const RESOURCE_EXHAUSTED: Status = Status(8);
    /// 9
    pub const FAILED_PRECONDITION: Status = Status(9);
    /// 10
    pub const ABORTED: Status = Status(10);
    /// 11
    pub const OUT_OF_RANGE: Status = Status(11);
    /// 12
    pub const UNIMPLEMENTED: Status = Status(12);
    /// 13
    pub const INTERNAL: Status = Status(13);
    /// 14
    pub const UNAVAILABLE: Status = Status(14);
    /// 15
    pub const DATA_LOSS: Status = Status(15);
    /// 16
    pub const UNAUTHENTICATED: Status = Status(16);
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectParams {
    /// HTTP/2 without TLS (h2c), k6's `plaintext: true`. `false`: TLS with ALPN `h2`, using the
    /// test's TLS settings (`tls-ca-file`, `insecure-skip-tls-verify`, ...).
    pub plaintext: bool,
    /// Connect timeout (default 60 s).
    pub timeout: Option<Duration>,
}

/// Connect without TLS (h2c).
pub fn plaintext() -> ConnectParams {
    ConnectParams {
        plaintext: true,
        timeout: None,
    }
}

/// Connect over TLS.
pub fn tls() -> ConnectParams {
    ConnectParams::default()
}

impl ConnectParams {
    /// Sets the connect timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// A gRPC client: compiled descriptors and, once connected, one HTTP/2 connection (k6's
/// `new grpc.Client()` + `client.load`). Keep it across iterations to reuse the connection.
#[derive(Debug)]
pub struct Client {
    inner: wit::Client,
}

impl Client {
    /// Compiles `.proto` sources given as `(file name, source)`. Imports resolve among them
    /// (by the given names) and Google's well-known types. An invalid source is an error naming
    /// the file, line and column.
    pub fn load(protos: &[(&str, &str)]) -> Result<Client, NetError> {
        let list: Vec<(String, String)> = protos
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        wit::Client::load(&list)
            .map(|inner| Client { inner })
            .map_err(|message| NetError::new(1000, message))
    }

    /// Connects to `target` (`host:port`). The target must be in `allowed-hosts`
    /// (`http://host:port` for plaintext, `https://host:port` for TLS).
    pub fn connect(&self, target: &str, params: ConnectParams) -> Result<(), NetError> {
        let params = wit::ConnectParams {
            plaintext: params.plaintext,
            timeout_ms: params.timeout.map(millis),
        };
        self.inner.connect(target, params).map_err(NetError::from)
    }

    /// Starts a unary call to `method` (`package.Service/Method`) with a JSON request.
    pub fn invoke<'a>(&'a self, method: &str, request: impl Into<String>) -> Call<'a> {
        Call::new(self, method, request.into(), false)
    }

    /// Starts a server-streaming call: [`Call::send`] returns every message the server sent
    /// until it ended the stream (or the deadline passed, with status DEADLINE_EXCEEDED).
    pub fn server_stream<'a>(&'a self, method: &str, request: impl Into<String>) -> Call<'a> {
        Call::new(self, method, request.into(), true)
    }

    /// Closes the connection; [`Client::connect`] may be called again.
    pub fn close(&self) {
        self.inner.close();
    }
}

/// A call being built; [`Call::send`] makes it.
#[derive(Debug)]
pub struct Call<'a> {
    client: &'a Client,
    method: String,
    request: String,
    params: wit::CallParams,
    streaming: bool,
}

impl<'a> Call<'a> {
    fn new(client: &'a Client, method: &str, request: String, streaming: bool) -> Self {
        Call {
            client,
            method: method.to_string(),
            request,
            params: wit::CallParams {
                metadata: Vec::new(),
                tags: Vec::new(),
                timeout_ms: None,
            },
            streaming,
        }
    }

    /// Adds request metadata (a key ending in `-bin` carries the value's bytes as binary).
    pub fn metadata(mut self, key: &str, value: &str) -> Self {
        self.params.metadata.push(Header {
            name: key.to_string(),
            value: value.to_string(),
        });
        self
    }

    /// Sets the deadline (sent as `grpc-timeout`; default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.params.timeout_ms = Some(millis(timeout));
        self
    }

    /// Adds a tag to this call's samples (`name` replaces the method in the `name` tag).
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.params.tags.push(Tag {
            key: key.to_string(),
            value: value.to_string(),
        });
        self
    }

    /// Makes the call. `Err` only when no call could be made (not connected, unknown method,
    /// a request that does not fit the input message, invalid metadata); a server that cannot
    /// be reached is a response with status 14 UNAVAILABLE, as in k6.
    pub fn send(self) -> Result<Response, NetError> {
        let c = &self.client.inner;
        let r = if self.streaming {
            c.server_stream(&self.method, &self.request, &self.params)
        } else {
            c.invoke(&self.method, &self.request, &self.params)
        };
        r.map(|inner| Response { inner }).map_err(NetError::from)
    }
}

/// A finished call.
#[derive(Debug, Clone)]
pub struct Response {
    inner: wit::Response,
}

impl Response {
    /// The gRPC status.
    pub fn status(&self) -> Status {
        Status(self.inner.status)
    }

    /// The status message (`grpc-message`), empty when OK.
    pub fn status_message(&self) -> &str {
        &self.inner.status_message
    }

    /// The (first) response message as JSON; `None` when there is none (e.g. a non-OK status).
    pub fn message(&self) -> Option<&str> {
        self.inner.messages.first().map(String::as_str)
    }

    /// Every response message as JSON, in order (one for a unary call).
    pub fn messages(&self) -> &[String] {
        &self.inner.messages
    }

    /// The first response header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.inner.headers, name)
    }

    /// The first trailer named `name` (case-insensitive).
    pub fn trailer(&self, name: &str) -> Option<&str> {
        find(&self.inner.trailers, name)
    }

    /// Every response header as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.inner
            .headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str()))
    }

    /// Every trailer as (name, value).
    pub fn trailers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.inner
            .trailers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str()))
    }
}

fn find<'a>(list: &'a [Header], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}
