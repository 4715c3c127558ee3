//! HTTP/1.1 on a connection of the VU's own: the request is written straight to the socket and
//! the response parsed with `httparse` in the VU's own task. An idle keep-alive connection is its
//! socket and nothing else: no connection task, no request channel, no buffer kept between
//! requests (hyper's HTTP/1.1 client held ~24 KB per idle connection in those, and handed every
//! request to its connection task and back). HTTP/2 multiplexes, so it keeps hyper.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};

use super::encoding::body_too_large;
use super::error::{cut_off, io_error};
use super::exchange::{Headers, Received};
use super::{Stream, TransportError};

/// Most bytes of a response's status line and headers, and of a chunked body's trailers.
const MAX_HEAD: usize = 1 << 20;
/// Most headers a response may have, as hyper's client allows.
const MAX_HEADERS: usize = 100;
/// Headers a response is first parsed into, on the stack; one with more is parsed again into
/// [`MAX_HEADERS`] on the heap. A 3.2 KB array of 100 on the stack pushed every later frame of
/// the exchange one page deeper into the VU's fiber stack, which a VU gives back at each
/// `sleep` and faults in again at its next request.
const STACK_HEADERS: usize = 16;
/// Most bytes of a chunk-size line.
const MAX_CHUNK_LINE: usize = 4 << 10;
/// What a read asks for at least, and at most: a large body is read 64 KiB at a time (one
/// loopback segment), so an exchange holds at most ~64 KiB of buffer beyond the head and what
/// it keeps of the body, however many VUs download at once.
const READ_MIN: usize = 8 << 10;
const READ_MAX: usize = 64 << 10;
/// A body up to this size goes out in the same write as the request's head.
const COALESCE: usize = 16 << 10;

/// An HTTP/1.1 connection: one request at a time, and whether the last exchange left it fit for
/// another.
pub(super) struct H1Conn {
    io: Stream,
    reusable: bool,
}

/// A request on the wire: the head (request line and headers, and a small body) and a larger
/// body written after it.
pub(super) struct Wire<'a> {
    pub(super) head: Vec<u8>,
    pub(super) body: &'a [u8],
    /// `HEAD`: the response has no body whatever its headers say.
    pub(super) head_only: bool,
    /// The request asked to close the connection after it (`Connection: close`).
    pub(super) close: bool,
}

impl H1Conn {
    pub(super) fn new(io: Stream) -> H1Conn {
        H1Conn { io, reusable: true }
    }

    /// Whether the connection can carry the next request. Polled once without waiting: a
    /// server that closed it while it was idle (or sent bytes nobody asked for) has made the
    /// socket readable, and such a connection is dropped before a request is lost on it.
    pub(super) fn ready(&mut self) -> bool {
        if !self.reusable {
            return false;
        }
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut self.io).poll_read(&mut cx, &mut buf) {
            Poll::Pending => true,
            Poll::Ready(_) => {
                self.reusable = false;
                false
            }
        }
    }

    /// Whether the last exchange left the connection open for another request.
    pub(super) fn is_reusable(&self) -> bool {
        self.reusable
    }

    /// Writes `wire` and reads its response, keeping the body when `keep_body` (at most
    /// `max_body` bytes of it).
    pub(super) async fn exchange(
        &mut self,
        wire: Wire<'_>,
        keep_body: bool,
        max_body: u64,
    ) -> Result<Received, TransportError> {
        // Until the response is read whole and says the connection stays open.
        self.reusable = false;
        self.io
            .write_all(&wire.head)
            .await
            .map_err(|e| io_error(&e))?;
        if !wire.body.is_empty() {
            self.io
                .write_all(wire.body)
                .await
                .map_err(|e| io_error(&e))?;
        }
        self.io.flush().await.map_err(|e| io_error(&e))?;

        let mut reader = Reader {
            buf: Vec::with_capacity(READ_MIN),
            pos: 0,
        };
        let head = loop {
            let head = reader.head(&mut self.io).await?;
            // An informational response (100 Continue, 103 Early Hints) precedes the real one.
            if !(100..200).contains(&head.status) || head.status == 101 {
                break head;
            }
        };
        let framing = Framing::of(&head, wire.head_only)?;
        let mut body = Body {
            kept: Vec::new(),
            keep: keep_body,
            max: max_body,
        };
        match framing {
            Framing::Empty => {}
            Framing::Length(n) => reader.take(&mut self.io, n, &mut body).await?,
            Framing::Chunked => reader.chunked(&mut self.io, &mut body).await?,
            Framing::UntilClose => reader.until_close(&mut self.io, &mut body).await?,
        }
        self.reusable = head.keep_alive
            && !wire.close
            && head.status != 101
            && framing != Framing::UntilClose
            && reader.pos == reader.buf.len();
        Ok(Received {
            status: head.status,
            headers: head.headers,
            body: body.kept,
        })
    }
}

/// Appends a request's head to `out`: the request line, then each header, then the blank line.
/// Names must be tokens and values free of control characters (a guest cannot split a header
/// or smuggle a second request into the stream).
pub(super) fn write_head<'a>(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<(), String> {
    if method.is_empty() || !method.bytes().all(is_token) {
        return Err(format!("invalid method {method:?}"));
    }
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name.is_empty() || !name.bytes().all(is_token) {
            return Err(format!("invalid header name {name:?}"));
        }
        if !value
            .bytes()
            .all(|b| b == b'\t' || (b' '..0x7f).contains(&b))
        {
            return Err(format!("invalid value for header {name}"));
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Appends `body` as one chunk and the last chunk, for a request the guest sent with
/// `Transfer-Encoding: chunked`.
pub(super) fn write_chunked(out: &mut Vec<u8>, body: &[u8]) {
    if !body.is_empty() {
        out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
}

/// Whether a body this long goes out with the head, in one write.
pub(super) fn coalesce(body: &[u8]) -> bool {
    body.len() <= COALESCE
}

/// RFC 9110's `tchar`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A response's status line and headers.
struct Head {
    status: u16,
    headers: Headers,
    /// HTTP/1.1 without `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`.
    keep_alive: bool,
}

/// How a response's body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

impl Framing {
    fn of(head: &Head, head_only: bool) -> Result<Framing, TransportError> {
        if head_only || matches!(head.status, 101 | 204 | 304) {
            return Ok(Framing::Empty);
        }
        let mut length: Option<u64> = None;
        let mut chunked = None;
        for (name, value) in head.headers.iter() {
            if name == "transfer-encoding" {
                let last = value.rsplit(',').next().unwrap_or("").trim();
                chunked = Some(last.eq_ignore_ascii_case("chunked"));
            } else if name == "content-length" {
                for v in value.split(',') {
                    let n: u64 = v.trim().parse().map_err(|_| malformed("content-length"))?;
                    if length.is_some_and(|l| l != n) {
                        return Err(malformed("content-length"));
                    }
                    length = Some(n);
                }
            }
        }
        Ok(match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::UntilClose,
            (None, Some(0)) => Framing::Empty,
            (None, Some(n)) => Framing::Length(n),
            (None, None) => Framing::UntilClose,
        })
    }
}

/// Where a body's bytes go: kept (bounded) or dropped.
struct Body {
    kept: Vec<u8>,
    keep: bool,
    max: u64,
}

impl Body {
    fn push(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        if self.keep {
            if (self.kept.len() + bytes.len()) as u64 > self.max {
                return Err(body_too_large(self.max));
            }
            self.kept.extend_from_slice(bytes);
        }
        Ok(())
    }
}

/// The response's bytes read so far; `buf[pos..]` is not consumed yet. Lives for one exchange.
struct Reader {
    buf: Vec<u8>,
    pos: usize,
}

impl Reader {
    fn unread(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads more (about `want` bytes if they come); `false` at the end of the stream.
    async fn fill(&mut self, io: &mut Stream, want: usize) -> Result<bool, TransportError> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 0 && self.buf.len() == self.buf.capacity() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let want = want.clamp(READ_MIN, READ_MAX);
        if self.buf.capacity() - self.buf.len() < want / 2 {
            self.buf.reserve(want);
        }
        let n = io.read_buf(&mut self.buf).await.map_err(|e| io_error(&e))?;
        Ok(n > 0)
    }

    /// Like [`Reader::fill`], but the end of the stream is an error: the response is cut off.
    async fn more(&mut self, io: &mut Stream, want: usize) -> Result<(), TransportError> {
        if self.fill(io, want).await? {
            Ok(())
        } else {
            Err(cut_off())
        }
    }

    /// Reads and parses the status line and headers.
    async fn head(&mut self, io: &mut Stream) -> Result<Head, TransportError> {
        loop {
            if let Some((head, used)) = parse_head(self.unread())? {
                self.pos += used;
                return Ok(head);
            }
            if self.unread().len() > MAX_HEAD {
                return Err(TransportError::Other {
                    code: 1000,
                    message: format!("response headers exceed {MAX_HEAD} bytes"),
                });
            }
            self.more(io, READ_MIN).await?;
        }
    }

    /// Consumes the next `n` bytes into `body`.
    async fn take(
        &mut self,
        io: &mut Stream,
        n: u64,
        body: &mut Body,
    ) -> Result<(), TransportError> {
        let mut left = n;
        loop {
            let here = (self.unread().len() as u64).min(left) as usize;
            body.push(&self.buf[self.pos..self.pos + here])?;
            self.pos += here;
            left -= here as u64;
            if left == 0 {
                return Ok(());
            }
            self.more(io, usize::try_from(left).unwrap_or(READ_MAX))
                .await?;
        }
    }

    /// Consumes everything until the server closes the connection.
    async fn until_close(
        &mut self,
        io: &mut Stream,
        body: &mut Body,
    ) -> Result<(), TransportError> {
        loop {
            body.push(self.unread())?;
            self.pos = self.buf.len();
            if !self.fill(io, READ_MAX).await? {
                return Ok(());
            }
        }
    }

    /// One line (without its CRLF) of at most `max` bytes, as an owned string.
    async fn line(&mut self, io: &mut Stream, max: usize) -> Result<String, TransportError> {
        loop {
            if let Some(end) = self.unread().iter().position(|&b| b == b'\n') {
                let line = &self.unread()[..end];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let line = String::from_utf8_lossy(line).into_owned();
                self.pos += end + 1;
                return Ok(line);
            }
            if self.unread().len() > max {
                return Err(malformed("chunk"));
            }
            self.more(io, READ_MIN).await?;
        }
    }

    /// Consumes a chunked body and its trailers.
    async fn chunked(&mut self, io: &mut Stream, body: &mut Body) -> Result<(), TransportError> {
        loop {
            let line = self.line(io, MAX_CHUNK_LINE).await?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16).map_err(|_| malformed("chunk size"))?;
            if size == 0 {
                break;
            }
            self.take(io, size, body).await?;
            if !self.line(io, 2).await?.is_empty() {
                return Err(malformed("chunk"));
            }
        }
        let mut trailers = 0;
        loop {
            let line = self.line(io, MAX_HEAD).await?;
            if line.is_empty() {
                return Ok(());
            }
            trailers += line.len();
            if trailers > MAX_HEAD {
                return Err(malformed("trailers"));
            }
        }
    }
}

/// The head at the start of `bytes` and its length, or `None` when it is not all there yet.
fn parse_head(bytes: &[u8]) -> Result<Option<(Head, usize)>, TransportError> {
    let mut few = [httparse::EMPTY_HEADER; STACK_HEADERS];
    match parse_head_into(bytes, &mut few) {
        Err(httparse::Error::TooManyHeaders) => {
            parse_head_into(bytes, &mut vec![httparse::EMPTY_HEADER; MAX_HEADERS])
        }
        parsed => parsed,
    }
    .map_err(|e| TransportError::Other {
        code: 1000,
        message: format!("malformed HTTP response: {e}"),
    })
}

/// [`parse_head`] with room for `headers.len()` headers.
fn parse_head_into<'b>(
    bytes: &'b [u8],
    headers: &mut [httparse::Header<'b>],
) -> Result<Option<(Head, usize)>, httparse::Error> {
    let mut response = httparse::Response::new(headers);
    let used = match response.parse(bytes)? {
        httparse::Status::Complete(used) => used,
        httparse::Status::Partial => return Ok(None),
    };
    let http11 = response.version == Some(1);
    let mut keep_alive = http11;
    let size = response
        .headers
        .iter()
        .map(|h| h.name.len() + h.value.len() + 4)
        .sum();
    let mut out = Headers::with_capacity(size);
    for h in response.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && !http11 {
                    keep_alive = true;
                }
            }
        }
        out.push(h.name, &value);
    }
    Ok(Some((
        Head {
            status: response.code.unwrap_or_default(),
            headers: out,
            keep_alive,
        },
        used,
    )))
}

fn malformed(what: &str) -> TransportError {
    TransportError::Other {
        code: 1000,
        message: format!("malformed HTTP response: invalid {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn heads_past_the_stack_array_parse_whole_up_to_the_limit() {
        let with = |n: usize| {
            let lines: String = (0..n).map(|i| format!("x-h{i}: v{i}\r\n")).collect();
            format!("HTTP/1.1 200 OK\r\n{lines}\r\n")
        };
        for n in [STACK_HEADERS, STACK_HEADERS + 1, MAX_HEADERS] {
            let h = head(&with(n));
            assert_eq!(h.headers.iter().count(), n);
            let last = n - 1;
            assert_eq!(
                h.headers.get(&format!("x-h{last}")),
                Some(format!("v{last}").as_str())
            );
        }
        let err = parse_head(with(MAX_HEADERS + 1).as_bytes())
            .err()
            .expect("101 headers are refused");
        assert!(err.to_string().contains("too many headers"), "{err}");
        // A head cut short is waited for, whichever array it would need.
        let partial = with(STACK_HEADERS + 4);
        assert!(parse_head(&partial.as_bytes()[..partial.len() - 3])
            .unwrap()
            .is_none());
    }

    #[test]
    fn bodies_end_as_rfc_9112_says() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(Framing::of(&h, false).unwrap(), Framing::Length(5));
        assert_eq!(Framing::of(&h, true).unwrap(), Framing::Empty, "HEAD");
        let h = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n",
        );
        assert_eq!(Framing::of(&h, false).unwrap(), Framing::Chunked);
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(Framing::of(&h, false).unwrap(), Framing::UntilClose);
        let h = head("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(Framing::of(&h, false).unwrap(), Framing::Empty);
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
        assert!(Framing::of(&h, false).is_err(), "conflicting lengths");
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_header() {
        assert!(head("HTTP/1.1 200 OK\r\n\r\n").keep_alive);
        assert!(!head("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!head("HTTP/1.0 200 OK\r\n\r\n").keep_alive);
        assert!(head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
    }

    #[test]
    fn a_guest_cannot_split_a_header_or_the_request_line() {
        let mut out = Vec::new();
        let err = write_head(
            &mut out,
            "GET",
            "/",
            [("X-A", "1\r\nX-Injected: 1")].into_iter(),
        )
        .unwrap_err();
        assert!(err.contains("X-A"), "{err}");
        assert!(write_head(&mut out, "GET", "/", [("X A", "1")].into_iter()).is_err());
        assert!(write_head(&mut out, "GET /x HTTP/1.1\r\n", "/", [].into_iter()).is_err());
        out.clear();
        write_head(
            &mut out,
            "POST",
            "/p?q=1",
            [("Host", "a:1"), ("X", "\tv")].into_iter(),
        )
        .unwrap();
        assert_eq!(out, b"POST /p?q=1 HTTP/1.1\r\nHost: a:1\r\nX: \tv\r\n\r\n");
    }
}
