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

/// A response's headers in the order they came, names in lowercase, packed into one string of
/// `name: value` lines joined by CRLF: one allocation per response instead of two per header,
/// and the form the guest takes them in (`http.send-packed`). Neither names nor values can hold
/// a CR or LF (the HTTP/1.1 parser and hyper's HTTP/2 refuse them), and a name holds no `:`, so
/// the lines split back unambiguously.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headers {
    packed: String,
}

impl Headers {
    /// No headers, with room for `bytes` of them.
    pub fn with_capacity(bytes: usize) -> Headers {
        Headers {
            packed: String::with_capacity(bytes),
        }
    }

    /// Appends a header, its name lowercased.
    pub fn push(&mut self, name: &str, value: &str) {
        if !self.packed.is_empty() {
            self.packed.push_str("\r\n");
        }
        let start = self.packed.len();
        self.packed.push_str(name);
        self.packed[start..].make_ascii_lowercase();
        self.packed.push_str(": ");
        self.packed.push_str(value);
    }

    /// The headers as `(name, value)`, in order. Split at single bytes (`\n`, then the name's
    /// `:`), which the standard library finds with `memchr`, not with a substring search.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.packed.split('\n').filter_map(|line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let (name, value) = line.split_once(':')?;
            Some((name, value.strip_prefix(' ').unwrap_or(value)))
        })
    }

    /// The first value of header `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The packed block.
    pub fn into_packed(self) -> String {
        self.packed
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    /// Headers from `(name, value)` pairs, names lowercased.
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(pairs: I) -> Headers {
        let mut headers = Headers::default();
        for (name, value) in pairs {
            headers.push(name, value);
        }
        headers
    }
}

/// A completed exchange.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: Headers,
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
    pub(super) headers: Headers,
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

#[cfg(test)]
mod tests {
    use super::Headers;

    #[test]
    fn packed_headers_split_back_as_they_were_pushed() {
        let mut h = Headers::default();
        h.push("Set-Cookie", "a=1");
        h.push("set-cookie", "b=2; Path=/");
        h.push("X-Empty", "");
        h.push("X-Colon", "a: b: c");
        h.push("X-Space", " lead");
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2; Path=/"),
                ("x-empty", ""),
                ("x-colon", "a: b: c"),
                ("x-space", " lead"),
            ]
        );
        assert_eq!(h.get("SET-COOKIE"), Some("a=1"));
        assert_eq!(h.get("x-colon"), Some("a: b: c"));
        assert_eq!(h.get("absent"), None);
        assert_eq!(
            h.into_packed(),
            "set-cookie: a=1\r\nset-cookie: b=2; Path=/\r\nx-empty: \r\nx-colon: a: b: c\r\nx-space:  lead"
        );
        assert_eq!(Headers::default().iter().count(), 0);
    }
}
