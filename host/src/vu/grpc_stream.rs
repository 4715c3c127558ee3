//! The host side of WIT `grpc-streams`: k6's `grpc.Stream` (client, server and bidirectional
//! streams over a `grpc.client`'s connection, their events on one bounded queue per VU) and
//! server reflection, with k6's metrics: `grpc_streams` per stream, `grpc_streams_msgs_sent` and
//! `_received` per message, `grpc_req_duration` with the status when a stream ends (not when its
//! deadline ended it, as k6).

use std::collections::HashMap;
use std::time::Duration;

use wasmtime::component::Resource;

use super::bindings::grpc::{CallParams, ConnectParams, Header};
use super::bindings::grpc_streams::{self as wit, StreamEvent, StreamEventKind, StreamStatus};
use super::bindings::http::Failure;
use super::grpc::{fail, open, GrpcClient, Target};
use super::state::VuState;
use super::tcp::{Slot, Slots};
use crate::metrics::builtin;
use crate::transport::grpc::{self as engine, EventKind, GrpcError, Hub, Stream};
use crate::transport::{TransportError, DEFAULT_TIMEOUT};

/// Most streams one VU may hold open; past it, `open` fails. A stream's slot is freed when its
/// end is delivered, or when it is cancelled or dropped.
pub const MAX_STREAMS: usize = 64;

/// Most events waiting in a VU's queue (every stream's together).
pub const MAX_QUEUED_EVENTS: usize = 256;

/// What the VU keeps of its open streams, and their events' queue.
pub struct Streams {
    hub: Option<Hub>,
    slots: Slots,
    next_id: u32,
    /// Open streams by number: what their samples are tagged with, and their slot.
    live: HashMap<u32, Live>,
}

/// An open stream's tags and slot.
struct Live {
    /// url, service, method, name.
    system: [(&'static str, String); 4],
    tags: Vec<(String, String)>,
    _slot: Slot,
}

impl Default for Streams {
    fn default() -> Self {
        Streams {
            hub: None,
            slots: Slots::new(MAX_STREAMS, "gRPC streams"),
            next_id: 0,
            live: HashMap::new(),
        }
    }
}

impl Live {
    fn system(&self) -> Vec<(&str, &str)> {
        self.system.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

/// A `grpc-streams.call-stream`: the transport's stream, until cancelled.
pub struct CallStream {
    id: u32,
    stream: Option<Stream>,
}

impl VuState {
    /// Records `value` in `metric` with the stream's tags (`status` added when given).
    fn record_stream(
        &mut self,
        id: u32,
        metric: crate::metrics::MetricId,
        value: f64,
        status: Option<&str>,
    ) {
        let Some(live) = self.grpc_streams.live.get(&id) else {
            return;
        };
        let mut system = live.system();
        if let Some(s) = status {
            system.push(("status", s));
        }
        self.recorder
            .protocol(&system, &live.tags, &[(metric, value)]);
    }
}

impl wit::Host for VuState {
    async fn reflect(
        &mut self,
        target: String,
        params: ConnectParams,
        metadata: Vec<Header>,
    ) -> Result<Resource<GrpcClient>, Failure> {
        let slot = self.grpc_slots.take()?;
        let to = engine::Target::parse(&target, !params.plaintext).map_err(fail)?;
        if let Some(denied) = to.denied(&self.sandbox) {
            return Err(TransportError::Denied(denied).into());
        }
        let t = Target {
            addr: target,
            to,
            timeout: params
                .timeout_ms
                .map_or(DEFAULT_TIMEOUT, Duration::from_millis),
        };
        let mut conn = open(&self.client, &t).await?;
        let metadata: Vec<(String, String)> =
            metadata.into_iter().map(|h| (h.name, h.value)).collect();
        let descriptors = engine::reflect(&mut conn, &metadata, t.timeout)
            .await
            .map_err(fail)?;
        self.table
            .push(GrpcClient::connected(descriptors, t, conn, slot))
            .map_err(Failure::from)
    }

    async fn next_event(&mut self, timeout_ms: u64) -> Option<StreamEvent> {
        let mut wait = Duration::from_millis(timeout_ms);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let event = self.grpc_streams.hub.as_mut()?.next(wait).await?;
            wait = deadline.saturating_duration_since(tokio::time::Instant::now());
            let id = event.id;
            if !self.grpc_streams.live.contains_key(&id) {
                // A dropped or cancelled stream's: nobody listens.
                continue;
            }
            let kind = match event.kind {
                EventKind::Message(json, _budget) => {
                    self.record_stream(id, builtin::GRPC_STREAMS_MSGS_RECEIVED, 1.0, None);
                    StreamEventKind::Data(json)
                }
                EventKind::End {
                    status,
                    message,
                    elapsed,
                    timed_out,
                } => {
                    // As k6, whose sample goes on the stream's context: a stream its deadline
                    // ended (context cancelled) records no duration.
                    if !timed_out {
                        let ms = elapsed.as_secs_f64() * 1000.0;
                        let code = status.to_string();
                        self.record_stream(id, builtin::GRPC_REQ_DURATION, ms, Some(&code));
                    }
                    self.grpc_streams.live.remove(&id);
                    StreamEventKind::End(StreamStatus {
                        code: status,
                        message,
                    })
                }
            };
            return Some(StreamEvent { stream: id, kind });
        }
    }
}

impl wit::HostCallStream for VuState {
    async fn open(
        &mut self,
        client: Resource<GrpcClient>,
        method: String,
        params: CallParams,
    ) -> Result<Resource<CallStream>, Failure> {
        let slot = self.grpc_streams.slots.take()?;
        let VuState {
            table,
            recorder,
            client: http,
            grpc_streams,
            ..
        } = self;
        let c = table.get_mut(&client).map_err(Failure::from)?;
        let m = c.descriptors.method(&method).map_err(fail)?;
        let addr = c
            .target
            .as_ref()
            .map(|t| t.addr.clone())
            .ok_or_else(|| fail(GrpcError::NotConnected))?;
        let metadata: Vec<(String, String)> = params
            .metadata
            .into_iter()
            .map(|h| (h.name, h.value))
            .collect();
        let deadline = params.timeout_ms.map(Duration::from_millis);
        let max_bytes = usize::try_from(http.config().max_body_bytes).unwrap_or(usize::MAX);
        let id = grpc_streams.next_id;
        grpc_streams.next_id = grpc_streams.next_id.wrapping_add(1);
        let hub = grpc_streams
            .hub
            .get_or_insert_with(|| Hub::new(MAX_QUEUED_EVENTS, max_bytes));
        let conn = c.connection(http, recorder).await?;
        let stream = conn
            .open_stream(m.clone(), &metadata, deadline, hub, id)
            .map_err(fail)?;
        let live = Live {
            system: [
                ("url", format!("{addr}{}", m.full_name)),
                ("service", m.service.clone()),
                ("method", m.name.clone()),
                ("name", m.full_name.clone()),
            ],
            tags: params.tags.into_iter().map(|t| (t.key, t.value)).collect(),
            _slot: slot,
        };
        grpc_streams.live.insert(id, live);
        self.record_stream(id, builtin::GRPC_STREAMS, 1.0, None);
        self.table
            .push(CallStream {
                id,
                stream: Some(stream),
            })
            .map_err(Failure::from)
    }

    fn id(&mut self, s: Resource<CallStream>) -> u32 {
        self.table.get(&s).map_or(u32::MAX, |s| s.id)
    }

    async fn write(&mut self, s: Resource<CallStream>, request: String) -> Result<bool, Failure> {
        let cs = self.table.get_mut(&s).map_err(Failure::from)?;
        let id = cs.id;
        let Some(stream) = cs.stream.as_mut() else {
            return Ok(false);
        };
        let sent = stream.write(&request).await.map_err(fail)?;
        if sent {
            self.record_stream(id, builtin::GRPC_STREAMS_MSGS_SENT, 1.0, None);
        }
        Ok(sent)
    }

    fn end(&mut self, s: Resource<CallStream>) {
        if let Ok(CallStream {
            stream: Some(stream),
            ..
        }) = self.table.get_mut(&s)
        {
            stream.end();
        }
    }

    fn cancel(&mut self, s: Resource<CallStream>) {
        if let Ok(cs) = self.table.get_mut(&s) {
            cs.stream = None;
            let id = cs.id;
            self.grpc_streams.live.remove(&id);
        }
    }

    fn drop(&mut self, s: Resource<CallStream>) -> wasmtime::Result<()> {
        let cs = self.table.delete(s)?;
        self.grpc_streams.live.remove(&cs.id);
        Ok(())
    }
}
