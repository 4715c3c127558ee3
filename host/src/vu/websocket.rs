//! The host side of WIT `websocket`: client sessions on tokio-tungstenite over the transport's
//! streams (same resolver, TLS settings and byte counts as HTTP), recorded in k6's `ws_*`
//! metrics with the `url`, `status` and `subproto` tags.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hyper::Uri;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;
use wasmtime::component::Resource;

use super::bindings::{http::Failure, websocket};
use super::failure::{failure, GENERIC};
use super::recorder::Recorder;
use super::state::VuState;
use super::tcp::Slot;
use crate::metrics::{builtin, MetricId};
use crate::transport::{IoStats, Stream, TransportError, DEFAULT_TIMEOUT};

/// How long `close` waits for the server's close frame.
pub(super) const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Bytes a session reads at once. tungstenite zeroes this much before every read, including
/// reads that find nothing, so its 128 KiB default cost a memset per poll (10 % of a VU's CPU in
/// an echo benchmark); larger frames still arrive whole, over several reads.
const READ_BUFFER: usize = 8 * 1024;

/// Most WebSocket sessions one VU may hold (a session's slot is freed when its handle is
/// dropped); past it, `connect` fails with code 1000 before any connection is opened.
pub const MAX_SESSIONS: usize = 64;

/// Most data messages a session queues while `ping` waits for its pong; when the queue is full,
/// `ping` fails with code 1000 and stops reading (nothing is dropped: `receive` hands the
/// queued messages over, and the session stays open).
pub const MAX_PENDING_MESSAGES: usize = 1024;

/// Most bytes of data messages a session queues while `ping` waits (as
/// [`MAX_PENDING_MESSAGES`]; the queue may exceed it by the one message that crossed it, which
/// tungstenite bounds at 64 MiB).
pub const MAX_PENDING_BYTES: usize = 16 << 20;

/// An open session (the `websocket.connection` resource).
pub struct Session {
    pub(super) ws: WebSocketStream<Stream>,
    stats: Arc<IoStats>,
    /// Bytes (written, read) already recorded.
    recorded: (u64, u64),
    /// System tags (`url`, `status`, `subproto`).
    system: [(&'static str, String); 3],
    tags: Vec<(String, String)>,
    started: Instant,
    /// Messages that arrived while `ping` waited for its pong.
    pub(super) pending: VecDeque<Message>,
    /// Bytes of the `pending` messages.
    pub(super) pending_bytes: usize,
    /// Set once the session ended (closed by either side, or failed).
    pub(super) ended: bool,
    /// Pings sent so far (each ping's payload).
    pub(super) pings: u64,
    /// Unanswered pings sent by `websocket-events.send-ping`: (payload number, when sent), at
    /// most `websocket_events::MAX_UNANSWERED_PINGS`.
    pub(super) ping_times: VecDeque<(u64, Instant)>,
    /// When `websocket-events.next-event` last handed over an event of this session.
    pub(super) last_event: Option<Instant>,
    /// One of the VU's [`MAX_SESSIONS`] slots, held until the handle is dropped.
    _slot: Slot,
}

impl Session {
    /// Records `values` and the bytes moved since the last call.
    pub(super) fn record(&mut self, recorder: &mut Recorder, values: &[(MetricId, f64)]) {
        let (w, r) = self.stats.totals();
        let (sent, received) = (w - self.recorded.0, r - self.recorded.1);
        self.recorded = (w, r);
        let mut all = values.to_vec();
        if sent > 0 {
            all.push((builtin::DATA_SENT, sent as f64));
        }
        if received > 0 {
            all.push((builtin::DATA_RECEIVED, received as f64));
        }
        if all.is_empty() {
            return;
        }
        let system: Vec<(&str, &str)> = self.system.iter().map(|(k, v)| (*k, v.as_str())).collect();
        recorder.protocol(&system, &self.tags, &all);
    }

    /// Ends the session once, recording `ws_session_duration`.
    pub(super) fn end(&mut self, recorder: &mut Recorder) {
        if !self.ended {
            self.ended = true;
            let ms = self.started.elapsed().as_secs_f64() * 1000.0;
            self.record(recorder, &[(builtin::WS_SESSION_DURATION, ms)]);
        }
    }

    /// The next frame worth handing over: a data or close message (pings are answered by
    /// tungstenite while reading).
    async fn next_message(&mut self) -> Result<Message, Failure> {
        if let Some(m) = self.pending.pop_front() {
            self.pending_bytes -= m.len();
            return Ok(m);
        }
        loop {
            match self.ws.next().await {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_) | Message::Close(_)))) => {
                    return Ok(m)
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(ws_failure(e)),
                None => return Err(ended()),
            }
        }
    }
}

/// Whether the queue `ping` fills is at one of its caps.
fn queue_full(messages: usize, bytes: usize) -> bool {
    messages >= MAX_PENDING_MESSAGES || bytes >= MAX_PENDING_BYTES
}

/// `ping`'s failure when the queue is full (the session stays open).
fn queue_full_failure(messages: usize, bytes: usize) -> Failure {
    failure(
        GENERIC,
        format!(
            "websocket: {messages} messages ({bytes} bytes) arrived while ping waited for its \
             pong, the most a session queues ({MAX_PENDING_MESSAGES} messages or \
             {MAX_PENDING_BYTES} bytes): receive them before pinging again"
        ),
    )
}

pub(super) fn ended() -> Failure {
    failure(GENERIC, "websocket: the session has ended".into())
}

pub(super) fn ws_failure(e: tungstenite::Error) -> Failure {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => ended(),
        tungstenite::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            failure(1220, e.to_string())
        }
        tungstenite::Error::Http(resp) => failure(
            1000,
            format!(
                "websocket: bad handshake (status {})",
                resp.status().as_u16()
            ),
        ),
        e => failure(GENERIC, format!("websocket: {e}")),
    }
}

/// The session behind `conn`, unless it has ended.
pub(super) fn live<'a>(
    table: &'a mut wasmtime::component::ResourceTable,
    conn: &Resource<Session>,
) -> Result<&'a mut Session, Failure> {
    let s = table.get_mut(conn)?;
    if s.ended {
        return Err(ended());
    }
    Ok(s)
}

/// Where a `ws://` or `wss://` URL leads: (TLS, host, port, the HTTP URL the sandbox checks).
fn target(url: &str) -> Result<(bool, String, u16, String), Failure> {
    let invalid = |why: &str| Failure::from(TransportError::InvalidUrl(format!("{url}: {why}")));
    let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    let secure = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err(invalid("expected ws:// or wss://")),
    };
    let host = uri.host().ok_or_else(|| invalid("no host"))?.to_string();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let http = format!("{}://{host}:{port}/", if secure { "https" } else { "http" });
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok((secure, host, port, http))
}

impl websocket::Host for VuState {
    async fn connect(
        &mut self,
        url: String,
        params: websocket::ConnectParams,
    ) -> Result<Resource<Session>, Failure> {
        let (secure, host, port, http_url) = target(&url)?;
        if let Some(denied) = self.sandbox.denied(&http_url) {
            return Err(TransportError::Denied(denied).into());
        }
        let slot = self.ws_slots.take()?;
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| failure(1020, format!("invalid URL: {e}")))?;
        for h in &params.headers {
            let name = hyper::header::HeaderName::from_bytes(h.name.as_bytes());
            let value = hyper::header::HeaderValue::from_str(&h.value);
            match (name, value) {
                (Ok(n), Ok(v)) => {
                    request.headers_mut().append(n, v);
                }
                _ => return Err(failure(GENERIC, format!("invalid header '{}'", h.name))),
            }
        }
        if !params.subprotocols.is_empty() {
            let offer = params.subprotocols.join(", ");
            let v = hyper::header::HeaderValue::from_str(&offer)
                .map_err(|_| failure(GENERIC, format!("invalid subprotocols '{offer}'")))?;
            request.headers_mut().insert("sec-websocket-protocol", v);
        }
        let start = Instant::now();
        let timeout = params
            .timeout_ms
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
        let client = &self.client;
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let handshake = async {
            let opened = client
                .open_stream(&host, port, secure, &[b"http/1.1"])
                .await
                .map_err(Failure::from)?;
            let stats = opened.stats.clone();
            tokio_tungstenite::client_async_with_config(request, opened.stream, Some(config))
                .await
                .map(|(ws, resp)| (ws, resp, stats))
                .map_err(ws_failure)
        };
        let (ws, resp, stats) = match tokio::time::timeout(timeout, handshake).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(failure(
                    1050,
                    format!("websocket: handshake with {url} timed out"),
                ))
            }
        };
        let connecting = start.elapsed().as_secs_f64() * 1000.0;
        let subproto = resp
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut session = Session {
            ws,
            stats,
            recorded: (0, 0),
            system: [
                ("url", url),
                ("status", resp.status().as_u16().to_string()),
                ("subproto", subproto),
            ],
            tags: params.tags.into_iter().map(|t| (t.key, t.value)).collect(),
            started: start,
            pending: VecDeque::new(),
            pending_bytes: 0,
            ended: false,
            pings: 0,
            ping_times: VecDeque::new(),
            last_event: None,
            _slot: slot,
        };
        session.record(
            &mut self.recorder,
            &[
                (builtin::WS_SESSIONS, 1.0),
                (builtin::WS_CONNECTING, connecting),
            ],
        );
        self.table.push(session).map_err(Failure::from)
    }
}

impl VuState {
    async fn ws_send(&mut self, conn: Resource<Session>, msg: Message) -> Result<(), Failure> {
        let VuState {
            table, recorder, ..
        } = self;
        let s = live(table, &conn)?;
        match s.ws.send(msg).await {
            Ok(()) => {
                s.record(recorder, &[(builtin::WS_MSGS_SENT, 1.0)]);
                Ok(())
            }
            Err(e) => {
                s.end(recorder);
                Err(ws_failure(e))
            }
        }
    }
}

impl websocket::HostConnection for VuState {
    fn protocol(&mut self, conn: Resource<Session>) -> String {
        self.table
            .get(&conn)
            .map(|s| s.system[2].1.clone())
            .unwrap_or_default()
    }

    async fn send_text(&mut self, conn: Resource<Session>, text: String) -> Result<(), Failure> {
        self.ws_send(conn, Message::text(text)).await
    }

    async fn send_binary(&mut self, conn: Resource<Session>, data: Vec<u8>) -> Result<(), Failure> {
        self.ws_send(conn, Message::binary(data)).await
    }

    async fn receive(
        &mut self,
        conn: Resource<Session>,
        timeout_ms: u64,
    ) -> Result<Option<websocket::Message>, Failure> {
        let VuState {
            table, recorder, ..
        } = self;
        let s = live(table, &conn)?;
        let next = tokio::time::timeout(Duration::from_millis(timeout_ms), s.next_message()).await;
        let msg = match next {
            Err(_) => {
                s.record(recorder, &[]);
                return Ok(None);
            }
            Ok(Err(e)) => {
                s.end(recorder);
                return Err(e);
            }
            Ok(Ok(m)) => m,
        };
        Ok(Some(match msg {
            Message::Text(t) => {
                s.record(recorder, &[(builtin::WS_MSGS_RECEIVED, 1.0)]);
                websocket::Message::Text(t.to_string())
            }
            Message::Binary(b) => {
                s.record(recorder, &[(builtin::WS_MSGS_RECEIVED, 1.0)]);
                websocket::Message::Binary(b.to_vec())
            }
            Message::Close(frame) => {
                // tungstenite has queued the reply; flush it so the server sees the close.
                let _ = tokio::time::timeout(CLOSE_WAIT, s.ws.flush()).await;
                s.end(recorder);
                websocket::Message::Close(match frame {
                    Some(f) => websocket::CloseFrame {
                        code: u16::from(f.code),
                        reason: f.reason.to_string(),
                    },
                    None => websocket::CloseFrame {
                        code: 1005,
                        reason: String::new(),
                    },
                })
            }
            _ => unreachable!("next_message returns data and close frames only"),
        }))
    }

    async fn ping(&mut self, conn: Resource<Session>, timeout_ms: u64) -> Result<f64, Failure> {
        let VuState {
            table, recorder, ..
        } = self;
        let s = live(table, &conn)?;
        let start = Instant::now();
        // A payload of its own, so a late pong to an earlier (timed-out) ping is not taken for
        // this one's.
        s.pings += 1;
        let payload = bytes::Bytes::copy_from_slice(&s.pings.to_be_bytes());
        let expected = payload.clone();
        let wait = async {
            s.ws.send(Message::Ping(payload))
                .await
                .map_err(ws_failure)?;
            loop {
                if queue_full(s.pending.len(), s.pending_bytes) {
                    return Ok(false);
                }
                match s.ws.next().await {
                    Some(Ok(Message::Pong(p))) if p == expected => return Ok(true),
                    Some(Ok(m @ (Message::Text(_) | Message::Binary(_) | Message::Close(_)))) => {
                        s.pending_bytes += m.len();
                        s.pending.push_back(m);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(ws_failure(e)),
                    None => return Err(ended()),
                }
            }
        };
        match tokio::time::timeout(Duration::from_millis(timeout_ms), wait).await {
            Ok(Ok(true)) => {
                let rtt = start.elapsed().as_secs_f64() * 1000.0;
                s.record(recorder, &[(builtin::WS_PING, rtt)]);
                Ok(rtt)
            }
            Ok(Ok(false)) => {
                s.record(recorder, &[]);
                Err(queue_full_failure(s.pending.len(), s.pending_bytes))
            }
            Ok(Err(e)) => {
                s.end(recorder);
                Err(e)
            }
            Err(_) => {
                s.record(recorder, &[]);
                Err(failure(
                    1050,
                    format!("websocket: no pong within {timeout_ms} ms"),
                ))
            }
        }
    }

    async fn close(
        &mut self,
        conn: Resource<Session>,
        code: u16,
        reason: String,
    ) -> Result<(), Failure> {
        let VuState {
            table, recorder, ..
        } = self;
        let s = table.get_mut(&conn).map_err(Failure::from)?;
        if s.ended {
            return Ok(());
        }
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let closing = async {
            s.ws.close(Some(frame)).await?;
            // Read until the server's close frame ends the stream.
            while let Some(m) = s.ws.next().await {
                m?;
            }
            Ok::<(), tungstenite::Error>(())
        };
        // As k6's `socket.close()`, this never fails: however the peer ends it, the session is over.
        let _ = tokio::time::timeout(CLOSE_WAIT, closing).await;
        s.end(recorder);
        Ok(())
    }

    fn drop(&mut self, conn: Resource<Session>) -> wasmtime::Result<()> {
        let mut s = self.table.delete(conn)?;
        if !s.ended {
            s.end(&mut self.recorder);
            // Say goodbye without holding up the guest.
            tokio::spawn(async move {
                let _ = tokio::time::timeout(CLOSE_WAIT, s.ws.close(None)).await;
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ping_queue_is_full_at_either_cap() {
        assert!(!queue_full(0, 0));
        assert!(!queue_full(MAX_PENDING_MESSAGES - 1, MAX_PENDING_BYTES - 1));
        assert!(queue_full(MAX_PENDING_MESSAGES, 0));
        assert!(queue_full(1, MAX_PENDING_BYTES));
        let f = queue_full_failure(MAX_PENDING_MESSAGES, 5);
        assert_eq!(f.code, GENERIC);
        assert!(
            f.message.contains("receive them before pinging again"),
            "{}",
            f.message
        );
    }

    #[test]
    fn urls_map_to_the_http_origin_the_sandbox_checks() {
        assert_eq!(
            target("ws://127.0.0.1:8080/chat?room=a").unwrap(),
            (
                false,
                "127.0.0.1".into(),
                8080,
                "http://127.0.0.1:8080/".into()
            )
        );
        assert_eq!(
            target("wss://example.test/x").unwrap(),
            (
                true,
                "example.test".into(),
                443,
                "https://example.test:443/".into()
            )
        );
        assert_eq!(target("ws://[::1]/").unwrap().1, "::1");
        for bad in ["http://127.0.0.1/", "ws//nope", "ws:///path"] {
            let e = target(bad).unwrap_err();
            assert_eq!(e.code, 1020, "{bad}: {}", e.message);
        }
    }
}
