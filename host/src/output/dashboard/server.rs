//! The dashboard's HTTP server: `GET /` (the live page), `GET /events` (the server-sent event
//! stream) and `GET /report` (the final report, once the run has ended).
//!
//! What a browser (or anything else on the machine) can make the host hold is bounded: at most
//! [`MAX_CONNECTIONS`] connections (more are refused with a 503), headers within
//! [`HEADER_TIMEOUT`], a write that makes no progress for [`STALL_TIMEOUT`] closes its
//! connection, and each event stream holds only the newest event (see `live`).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Sleep;

use super::live::Event;

/// Connections served at once; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 16;
/// A request's headers must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection whose writes make no progress for this long is closed.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the end of the run waits for open pages to receive the final report.
pub const DRAIN: Duration = Duration::from_secs(3);

const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 44\r\nconnection: close\r\n\r\ntoo many dashboard connections; close some\n";

type Body = BoxBody<Bytes, Infallible>;

/// The running server.
pub struct Server {
    address: SocketAddr,
    events: watch::Sender<Arc<Event>>,
    shutdown: watch::Sender<bool>,
    slots: Arc<Semaphore>,
    report: Arc<OnceLock<Bytes>>,
    accept: tokio::task::JoinHandle<()>,
}

/// What every connection shares.
struct Shared {
    page: Bytes,
    events: watch::Sender<Arc<Event>>,
    report: Arc<OnceLock<Bytes>>,
}

impl Server {
    /// Binds `address` and serves `page` and `events` on it.
    pub async fn bind(
        address: SocketAddr,
        events: watch::Sender<Arc<Event>>,
        page: Bytes,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let (shutdown, _) = watch::channel(false);
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let report = Arc::new(OnceLock::new());
        let shared = Arc::new(Shared {
            page,
            events: events.clone(),
            report: report.clone(),
        });
        let accept = tokio::spawn(accept_loop(
            listener,
            shared,
            slots.clone(),
            shutdown.subscribe(),
        ));
        Ok(Server {
            address,
            events,
            shutdown,
            slots,
            report,
            accept,
        })
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Publishes the final event, serves `report` at `/report`, stops accepting, and waits (at
    /// most [`DRAIN`]) for every connection to finish its response and close.
    pub async fn finish(self, last: Event, report: String) {
        let _ = self.report.set(Bytes::from(report));
        self.events.send_replace(Arc::new(last));
        self.shutdown.send_replace(true);
        let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(DRAIN, self.slots.acquire_many(all)).await;
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // Out of file descriptors, say: wait a little instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let shared = shared.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    serve(stream, shared, shutdown).await;
                    drop(permit);
                });
            }
            // Best effort, never waiting: the socket buffer of a fresh connection has room.
            Err(_) => {
                let _ = stream.try_write(BUSY);
            }
        }
    }
}

/// Serves one connection until it closes, or until the run ends and its response is done.
async fn serve(stream: TcpStream, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(route(&req, &shared)) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(Stalling::new(stream)), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = shutdown.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

fn route(req: &Request<hyper::body::Incoming>, shared: &Shared) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match req.uri().path() {
        "/" => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            shared.page.clone(),
        ),
        "/events" => events(shared.events.subscribe()),
        "/report" => match shared.report.get() {
            Some(page) => reply(StatusCode::OK, "text/html; charset=utf-8", page.clone()),
            None => text(
                StatusCode::NOT_FOUND,
                "the report is ready when the run ends; the live page is at /\n",
            ),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// The event stream: the current event at once (if there is one), then each newer one; a page
/// that reads slowly skips to the newest. Ends after the run's last event.
fn events(rx: watch::Receiver<Arc<Event>>) -> Response<Body> {
    let frames = stream::unfold((rx, true, false), |(mut rx, first, ended)| async move {
        if ended {
            return None;
        }
        let event = loop {
            if !first || rx.borrow().seq == 0 {
                rx.changed().await.ok()?;
            }
            let event = rx.borrow_and_update().clone();
            if !event.bytes.is_empty() {
                break event;
            }
        };
        let last = event.last;
        Some((
            Ok::<_, Infallible>(Frame::data(event.bytes.clone())),
            (rx, false, last),
        ))
    });
    let mut resp = Response::new(StreamBody::new(frames).boxed());
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, "text/event-stream".parse().unwrap());
    h.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
    resp
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Full::new(body).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    resp
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    reply(
        status,
        "text/plain; charset=utf-8",
        Bytes::from_static(body.as_bytes()),
    )
}

/// A socket whose writes fail with `TimedOut` once they have made no progress for
/// [`STALL_TIMEOUT`]: a page that stops reading cannot hold its connection (and the event it
/// was being sent) for the rest of the run.
struct Stalling {
    inner: TcpStream,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Stalling {
    fn new(inner: TcpStream) -> Stalling {
        Stalling {
            inner,
            stalled: None,
        }
    }

    /// Turns a pending write into an error once it has been pending for too long.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let deadline = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(STALL_TIMEOUT)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the page stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Stalling {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stalling {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
