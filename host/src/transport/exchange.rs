//! A request and what it gives back: the outgoing request, the response with k6's phase timings,
//! and the bytes the exchange put on and took off the wire.

use std::time::Duration;

use bytes::Bytes;

use super::TransportError;

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

/// A response as read off a connection, before the client decodes its body and adds its
/// timings: its status, its headers in the order they came (names in lowercase) and its body,
/// when kept.
pub(super) struct Received {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
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

/// `d` in milliseconds, the unit of [`Timings`].
pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
