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
//!
//! // k6's http.batch: in parallel, at most 20 at once and 6 per host; results in order.
//! let pages = http::batch(vec![
//!     http::get("http://127.0.0.1:8080/a"),
//!     http::get("http://127.0.0.1:8080/b").query("page", "2"),
//!     http::post("http://127.0.0.1:8080/form").form(&[("q", "volley")]).basic_auth("u", "p"),
//! ]);
//! ```

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
    params: wit::Params,
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
            params: wit::Params {
                redirects: None,
                expected_statuses: Vec::new(),
                cookies: Vec::new(),
                compression: None,
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

    /// Adds a query parameter to the URL (percent-encoded).
    pub fn query(mut self, name: &str, value: &str) -> Self {
        let sep = if self.inner.url.contains('?') {
            '&'
        } else {
            '?'
        };
        self.inner.url = format!("{}{sep}{}={}", self.inner.url, encode(name), encode(value));
        self
    }

    /// Sets a form body (`application/x-www-form-urlencoded`), as k6 does for an object body.
    pub fn form(self, fields: &[(&str, &str)]) -> Self {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
    }

    /// Sets a JSON body (already serialized) with its content type.
    pub fn json(self, json: impl Into<String>) -> Self {
        self.header("Content-Type", "application/json")
            .body(json.into())
    }

    /// Adds HTTP basic authentication (k6's `auth: 'basic'`).
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        let token = base64(format!("{user}:{password}").as_bytes());
        self.header("Authorization", &format!("Basic {token}"))
    }

    /// Sends a cookie with this request besides the VU's jar (k6's `cookies` param).
    pub fn cookie(mut self, name: &str, value: &str) -> Self {
        self.params.cookies.push(wit::Header {
            name: name.to_string(),
            value: value.to_string(),
        });
        self
    }

    /// Follows at most `n` redirects (k6's `redirects` param; default: the test's
    /// `max-redirects`, 10). Each hop is a request of its own in the metrics.
    pub fn redirects(mut self, n: u32) -> Self {
        self.params.redirects = Some(n);
        self
    }

    /// Counts `min..=max` as expected statuses for this request (k6's
    /// `responseCallback: http.expectedStatuses(...)`); call again to add ranges.
    pub fn expect_statuses(mut self, min: u16, max: u16) -> Self {
        self.params
            .expected_statuses
            .push(wit::StatusRange { min, max });
        self
    }

    /// Compresses the body before sending (k6's `compression`): `"gzip"`, `"deflate"`, or
    /// several comma-separated, applied in order.
    pub fn compression(mut self, algorithms: &str) -> Self {
        self.params.compression = Some(algorithms.to_string());
        self
    }

    /// Sends the request and waits for the response.
    pub fn send(self) -> Result<Response, HttpError> {
        wit::send_packed(&self.inner, &self.params)
            .map(Response::from)
            .map_err(HttpError::from)
    }
}

/// Sends requests in parallel (k6's `http.batch`): at most 20 at once and 6 per host. The
/// results come back in the order of `requests`.
pub fn batch(requests: Vec<Request>) -> Vec<Result<Response, HttpError>> {
    let list: Vec<(wit::Request, wit::Params)> =
        requests.into_iter().map(|r| (r.inner, r.params)).collect();
    wit::batch(&list)
        .into_iter()
        .map(|r| r.map(Response::from).map_err(HttpError::from))
        .collect()
}

/// Percent-encodes a URL query or form component (`application/x-www-form-urlencoded`).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    inner: wit::PackedResponse,
}

impl From<wit::PackedResponse> for Response {
    fn from(inner: wit::PackedResponse) -> Self {
        Response { inner }
    }
}

impl From<wit::Response> for Response {
    /// A response of `batch`, its header list packed as `send` receives them.
    fn from(r: wit::Response) -> Self {
        let headers = r
            .headers
            .iter()
            .map(|h| format!("{}: {}", h.name, h.value))
            .collect::<Vec<_>>()
            .join("\r\n");
        Response {
            inner: wit::PackedResponse {
                status: r.status,
                headers,
                body: r.body,
                timings: r.timings,
                proto: r.proto,
            },
        }
    }
}

impl Response {
    /// Status code.
    pub fn status(&self) -> u16 {
        self.inner.status
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every header as (name, value), in the order they came; names in lowercase.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        // The host packs them as `name: value` lines joined by CRLF (WIT `packed-response`).
        self.inner
            .headers
            .split("\r\n")
            .filter_map(|line| line.split_once(": "))
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

/// Why a request produced no response: k6's `error_code` and `error` (the SDK's [`NetError`]).
///
/// [`NetError`]: crate::NetError
pub type HttpError = crate::NetError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_queries_forms_and_credentials() {
        assert_eq!(encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        let r = get("http://h/p").query("q", "x y").query("n", "1");
        assert_eq!(r.inner.url, "http://h/p?q=x+y&n=1");
    }

    #[test]
    fn packed_headers_read_back_in_order() {
        let timings = Timings {
            blocked: 0.0,
            connecting: 0.0,
            tls_handshaking: 0.0,
            sending: 0.0,
            waiting: 0.0,
            receiving: 0.0,
            duration: 0.0,
        };
        let packed = |headers: &str| {
            Response::from(wit::PackedResponse {
                status: 200,
                headers: headers.into(),
                body: Vec::new(),
                timings,
                proto: "HTTP/1.1".into(),
            })
        };
        let r = packed(
            "content-type: text/plain\r\nx-empty: \r\nset-cookie: a=1\r\nset-cookie: b=2: c",
        );
        assert_eq!(r.header("Content-Type"), Some("text/plain"));
        assert_eq!(r.header("x-empty"), Some(""));
        assert_eq!(r.header("missing"), None);
        let cookies: Vec<_> = r.headers().filter(|(n, _)| *n == "set-cookie").collect();
        assert_eq!(cookies, [("set-cookie", "a=1"), ("set-cookie", "b=2: c")]);
        assert_eq!(packed("").headers().count(), 0);
        let from_list = Response::from(wit::Response {
            status: 200,
            headers: vec![wit::Header {
                name: "etag".into(),
                value: "\"x\"".into(),
            }],
            body: Vec::new(),
            timings,
            proto: "HTTP/1.1".into(),
        });
        assert_eq!(from_list.header("ETag"), Some("\"x\""));
    }
}
