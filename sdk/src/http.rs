//! HTTP requests through the host, timed and counted the way k6 does it.
//!
//! ```no_run
//! use std::time::Duration;
//! use volley_sdk::http;
//!
//! let res = http::post("http://127.0.0.1:8080/login")
//!     .header("Content-Type", "application/json")
//!     .body(r#"{"user":"a"}"#)
//!     .tag("name", "login")
//!     .timeout(Duration::from_secs(5))
//!     .keep_body()
//!     .send();
//! match res {
//!     Ok(r) if r.status() == 200 => println!("{}", r.text()),
//!     Ok(r) => println!("status {}", r.status()),
//!     Err(e) => println!("failed: {e} (k6 code {})", e.code()),
//! }
//! ```

use std::fmt;
use std::time::Duration;

use crate::wit::volley::scenario::http as wit;

pub use wit::Timings;

/// Starts a `GET` request.
pub fn get(url: impl Into<String>) -> Request {
    Request::new("GET", url)
}

/// Starts a `POST` request.
pub fn post(url: impl Into<String>) -> Request {
    Request::new("POST", url)
}

/// Starts a `PUT` request.
pub fn put(url: impl Into<String>) -> Request {
    Request::new("PUT", url)
}

/// Starts a `PATCH` request.
pub fn patch(url: impl Into<String>) -> Request {
    Request::new("PATCH", url)
}

/// Starts a `DELETE` request.
pub fn delete(url: impl Into<String>) -> Request {
    Request::new("DELETE", url)
}

/// A request being built; [`Request::send`] sends it.
#[derive(Debug, Clone)]
pub struct Request {
    inner: wit::Request,
}

impl Request {
    /// Starts a request with any method.
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        Request {
            inner: wit::Request {
                method: method.to_string(),
                url: url.into(),
                headers: Vec::new(),
                body: None,
                timeout_ms: None,
                tags: Vec::new(),
                body_mode: wit::BodyMode::Discard,
            },
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner.headers.push(wit::Header {
            name: name.to_string(),
            value: value.to_string(),
        });
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.inner.body = Some(body.into());
        self
    }

    /// Sets the timeout for the whole request (default 60 s, as k6).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner.timeout_ms = Some(timeout.as_millis().min(u64::MAX as u128) as u64);
        self
    }

    /// Adds a tag to this request's metric samples; `name` groups dynamic URLs as in k6.
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.inner.tags.push(wit::Tag {
            key: key.to_string(),
            value: value.to_string(),
        });
        self
    }

    /// Hands the response body to the scenario (by default it is read and discarded).
    pub fn keep_body(mut self) -> Self {
        self.inner.body_mode = wit::BodyMode::Keep;
        self
    }

    /// Sends the request and waits for the response.
    pub fn send(self) -> Result<Response, HttpError> {
        wit::send(&self.inner)
            .map(|inner| Response { inner })
            .map_err(HttpError)
    }
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    inner: wit::Response,
}

impl Response {
    /// Status code.
    pub fn status(&self) -> u16 {
        self.inner.status
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The body bytes (empty unless the request asked for [`Request::keep_body`]).
    pub fn body(&self) -> &[u8] {
        &self.inner.body
    }

    /// The body as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.inner.body).into_owned()
    }

    /// Phase timings in milliseconds (k6's `res.timings`).
    pub fn timings(&self) -> Timings {
        self.inner.timings
    }

    /// Protocol, e.g. `HTTP/1.1`.
    pub fn proto(&self) -> &str {
        &self.inner.proto
    }
}

/// Why a request produced no response.
#[derive(Debug, Clone)]
pub struct HttpError(wit::HttpError);

impl HttpError {
    /// k6's numeric error code (1050 timeout, 1101 DNS, 1212 refused, 1020 invalid URL, ...).
    pub fn code(&self) -> u32 {
        match &self.0 {
            wit::HttpError::Timeout => 1050,
            wit::HttpError::Connect(_) => 1210,
            wit::HttpError::Dns(_) => 1101,
            wit::HttpError::InvalidUrl(_) => 1020,
            wit::HttpError::Denied(_) => 1400,
            wit::HttpError::Other(_) => 1000,
        }
    }

    /// Whether the request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self.0, wit::HttpError::Timeout)
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            wit::HttpError::Timeout => write!(f, "request timeout"),
            wit::HttpError::Connect(m) => write!(f, "connect: {m}"),
            wit::HttpError::Dns(m) => write!(f, "dns: {m}"),
            wit::HttpError::InvalidUrl(m) => write!(f, "invalid URL: {m}"),
            wit::HttpError::Denied(h) => write!(f, "host not allowed: {h}"),
            wit::HttpError::Other(m) => write!(f, "{m}"),
        }
    }
}
