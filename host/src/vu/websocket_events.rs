//! The host side of WIT `websocket-events` (k6's `k6/websockets`): the next event on any of a
//! VU's WebSocket sessions or a deadline, pings whose pongs come as events, and the closing
//! handshake. The sessions are `websocket.connection`s ([`Session`]); the host reads one frame
//! per call and queues nothing, so a guest that stops reading pushes back on the server.

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use wasmtime::component::Resource;

use super::bindings::http::Failure;
use super::bindings::websocket::CloseFrame as WitCloseFrame;
use super::bindings::websocket_events::{self, Event, SocketEvent};
use super::failure::{failure, GENERIC};
use super::recorder::Recorder;
use super::state::VuState;
use super::websocket::{ended, live, ws_failure, Session, CLOSE_WAIT};
use crate::metrics::builtin;

/// Unanswered pings whose send time a session remembers; a ping past it forgets the oldest (its
/// pong still comes as an event, without a `ws_ping` sample).
pub const MAX_UNANSWERED_PINGS: usize = 64;

/// Most sessions one `next-event` call may name.
pub const MAX_WAIT_SESSIONS: usize = 1024;

/// The WIT close frame for a received one (1005 when the peer sent no code).
fn close_frame(frame: Option<CloseFrame>) -> WitCloseFrame {
    match frame {
        Some(f) => WitCloseFrame {
            code: u16::from(f.code),
            reason: f.reason.to_string(),
        },
        None => WitCloseFrame {
            code: 1005,
            reason: String::new(),
        },
    }
}

/// The round trip of the ping a pong answers, forgetting that ping; `None` for a pong matching
/// no remembered ping.
fn answered(s: &mut Session, payload: &[u8]) -> Option<f64> {
    let n = u64::from_be_bytes(payload.try_into().ok()?);
    let at = s.ping_times.iter().position(|(id, _)| *id == n)?;
    let (_, sent) = s.ping_times.remove(at)?;
    Some(sent.elapsed().as_secs_f64() * 1000.0)
}

/// Turns a frame read from `s` into its event, recording its metrics.
async fn event_for(s: &mut Session, recorder: &mut Recorder, m: Message) -> Event {
    match m {
        Message::Text(t) => {
            s.record(recorder, &[(builtin::WS_MSGS_RECEIVED, 1.0)]);
            Event::Text(t.to_string())
        }
        Message::Binary(b) => {
            s.record(recorder, &[(builtin::WS_MSGS_RECEIVED, 1.0)]);
            Event::Binary(b.to_vec())
        }
        Message::Ping(_) => {
            // tungstenite has queued the pong; write it out now rather than on the next read.
            let _ = tokio::time::timeout(CLOSE_WAIT, s.ws.flush()).await;
            s.record(recorder, &[]);
            Event::Ping
        }
        Message::Pong(p) => {
            let rtt = answered(s, &p);
            match rtt {
                Some(ms) => s.record(recorder, &[(builtin::WS_PING, ms)]),
                None => s.record(recorder, &[]),
            }
            Event::Pong(rtt)
        }
        Message::Close(frame) => {
            // tungstenite has queued the reply; flush it so the server sees the close.
            let _ = tokio::time::timeout(CLOSE_WAIT, s.ws.flush()).await;
            s.end(recorder);
            Event::Closed(close_frame(frame))
        }
        Message::Frame(_) => {
            s.end(recorder);
            Event::Failed(failure(GENERIC, "websocket: unexpected raw frame".into()))
        }
    }
}

impl websocket_events::Host for VuState {
    async fn next_event(
        &mut self,
        sockets: Vec<Resource<Session>>,
        timeout_ms: u64,
    ) -> Result<Option<SocketEvent>, Failure> {
        if sockets.len() > MAX_WAIT_SESSIONS {
            return Err(failure(
                GENERIC,
                format!(
                    "websocket: next-event was given {} sessions, the most is {MAX_WAIT_SESSIONS}",
                    sockets.len()
                ),
            ));
        }
        let timeout = Duration::from_millis(timeout_ms);
        let VuState {
            table, recorder, ..
        } = self;
        // One entry per session however often it is named (the first position wins).
        let mut keys = BTreeMap::new();
        for (i, s) in sockets.iter().enumerate() {
            keys.entry(s.rep()).or_insert(i as u32);
        }
        let mut open: Vec<(u32, &mut Session)> = Vec::with_capacity(keys.len());
        for (entry, index) in table.iter_entries(keys) {
            let s = entry
                .map_err(Failure::from)?
                .downcast_mut::<Session>()
                .ok_or_else(|| failure(GENERIC, "websocket: not a session".into()))?;
            if !s.ended {
                open.push((index, s));
            }
        }
        if open.is_empty() {
            tokio::time::sleep(timeout).await;
            return Ok(None);
        }
        // The session served longest ago goes first, so a busy one cannot starve the others.
        open.sort_by_key(|(_, s)| s.last_event);
        // Messages a `websocket.connection.ping` left waiting come before new frames.
        if let Some(k) = open.iter().position(|(_, s)| !s.pending.is_empty()) {
            let (index, s) = &mut open[k];
            let m = s.pending.pop_front().expect("not empty");
            s.pending_bytes -= m.len();
            s.last_event = Some(Instant::now());
            let event = event_for(s, recorder, m).await;
            return Ok(Some(SocketEvent {
                index: *index,
                event,
            }));
        }
        let next = poll_fn(|cx| {
            for (k, (_, s)) in open.iter_mut().enumerate() {
                if let Poll::Ready(r) = s.ws.poll_next_unpin(cx) {
                    return Poll::Ready((k, r));
                }
            }
            Poll::Pending
        });
        let Ok((k, next)) = tokio::time::timeout(timeout, next).await else {
            return Ok(None);
        };
        let (index, s) = &mut open[k];
        s.last_event = Some(Instant::now());
        let event = match next {
            Some(Ok(m)) => event_for(s, recorder, m).await,
            Some(Err(e)) => {
                s.end(recorder);
                Event::Failed(ws_failure(e))
            }
            None => {
                s.end(recorder);
                Event::Failed(failure(
                    1006,
                    "websocket: the connection ended without a close frame".into(),
                ))
            }
        };
        Ok(Some(SocketEvent {
            index: *index,
            event,
        }))
    }

    async fn send_ping(&mut self, conn: Resource<Session>) -> Result<(), Failure> {
        let VuState {
            table, recorder, ..
        } = self;
        let s = live(table, &conn)?;
        s.pings += 1;
        let n = s.pings;
        let sent = Instant::now();
        let payload = bytes::Bytes::copy_from_slice(&n.to_be_bytes());
        match s.ws.send(Message::Ping(payload)).await {
            Ok(()) => {
                if s.ping_times.len() >= MAX_UNANSWERED_PINGS {
                    s.ping_times.pop_front();
                }
                s.ping_times.push_back((n, sent));
                // As k6, a ping is a message sent.
                s.record(recorder, &[(builtin::WS_MSGS_SENT, 1.0)]);
                Ok(())
            }
            Err(e) => {
                s.end(recorder);
                Err(ws_failure(e))
            }
        }
    }

    async fn close_handshake(
        &mut self,
        conn: Resource<Session>,
        code: u16,
        reason: String,
    ) -> Option<WitCloseFrame> {
        let VuState {
            table, recorder, ..
        } = self;
        let s = table.get_mut(&conn).ok()?;
        if s.ended {
            return None;
        }
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let closing = async {
            s.ws.close(Some(frame)).await.map_err(ws_failure)?;
            // As k6, the close frame is a message sent.
            s.record(recorder, &[(builtin::WS_MSGS_SENT, 1.0)]);
            // Read (and drop) what is still in flight until the server's close frame.
            while let Some(m) = s.ws.next().await {
                if let Message::Close(reply) = m.map_err(ws_failure)? {
                    return Ok(reply);
                }
            }
            Err(ended())
        };
        let reply = tokio::time::timeout(CLOSE_WAIT, closing).await;
        s.end(recorder);
        match reply {
            Ok(Ok(frame)) => Some(close_frame(frame)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_without_a_code_is_1005() {
        let none = close_frame(None);
        assert_eq!((none.code, none.reason.as_str()), (1005, ""));
        let bye = close_frame(Some(CloseFrame {
            code: CloseCode::from(4000),
            reason: "bye".into(),
        }));
        assert_eq!((bye.code, bye.reason.as_str()), (4000, "bye"));
    }
}
