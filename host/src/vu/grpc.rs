//! The host side of WIT `grpc`: the guest's `client` resource over the transport's gRPC engine,
//! with the sandbox's `allowed-hosts` check before any connection and k6's `k6/net/grpc`
//! metrics: `grpc_req_duration` per call tagged `url`, `service`, `method`, `name` and `status`;
//! `grpc_streams` and `grpc_streams_msgs_sent`/`_received` for server streams; bytes in
//! `data_sent`/`data_received`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::Resource;

use super::bindings::{grpc, http::Failure};
use super::failure::failure;
use super::recorder::Recorder;
use super::state::VuState;
use super::tcp::Slot;
use crate::metrics::{builtin, MetricId};
use crate::transport::grpc::{
    self as engine, CallParams, Connection, Descriptors, GrpcError, Method, MethodKind, Reply,
};
use crate::transport::{Client, TransportError, DEFAULT_TIMEOUT};

/// Most gRPC clients one VU may hold (a client's slot is freed when its handle is dropped);
/// past it, `load` fails before compiling anything.
pub const MAX_CLIENTS: usize = 64;

/// Where a client connects (kept to reconnect after the server closed the connection).
pub(super) struct Target {
    /// The target as the guest gave it (k6's `url` tag starts with it).
    pub(super) addr: String,
    /// The parsed target the sandbox allowed: every dial goes there.
    pub(super) to: engine::Target,
    /// Connect timeout.
    pub(super) timeout: Duration,
}

/// A gRPC client (the `grpc.client` resource): compiled descriptors and at most one connection.
pub struct GrpcClient {
    pub(super) descriptors: Arc<Descriptors>,
    pub(super) target: Option<Target>,
    conn: Option<Connection>,
    /// Bytes (written, read) of `conn` already recorded.
    recorded: (u64, u64),
    /// One of the VU's [`MAX_CLIENTS`] slots.
    _slot: Slot,
}

impl GrpcClient {
    /// A client connected to `target`, with descriptors from the server's reflection.
    pub(super) fn connected(
        descriptors: Arc<Descriptors>,
        target: Target,
        conn: Connection,
        slot: Slot,
    ) -> GrpcClient {
        GrpcClient {
            descriptors,
            target: Some(target),
            conn: Some(conn),
            recorded: (0, 0),
            _slot: slot,
        }
    }

    /// Records `values` plus the bytes moved since the last call.
    fn record(
        &mut self,
        recorder: &mut Recorder,
        system: &[(&str, &str)],
        tags: &[(String, String)],
        values: &[(MetricId, f64)],
    ) {
        let mut all = values.to_vec();
        if let Some(conn) = &self.conn {
            let (w, r) = conn.stats.totals();
            let (sent, received) = (w - self.recorded.0, r - self.recorded.1);
            self.recorded = (w, r);
            if sent > 0 {
                all.push((builtin::DATA_SENT, sent as f64));
            }
            if received > 0 {
                all.push((builtin::DATA_RECEIVED, received as f64));
            }
        }
        if !all.is_empty() {
            recorder.protocol(system, tags, &all);
        }
    }

    /// Drops the connection, recording the bytes it moved since the last call.
    fn disconnect(&mut self, recorder: &mut Recorder) {
        self.record(recorder, &[], &[], &[]);
        self.conn = None;
        self.recorded = (0, 0);
    }

    /// The open connection, reopened if the server closed it since the last call.
    pub(super) async fn connection(
        &mut self,
        client: &Client,
        recorder: &mut Recorder,
    ) -> Result<&mut Connection, Failure> {
        if self.conn.as_ref().is_none_or(Connection::is_closed) {
            self.disconnect(recorder);
            let target = self
                .target
                .as_ref()
                .ok_or_else(|| fail(GrpcError::NotConnected))?;
            let conn = open(client, target).await?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }
}

pub(super) fn fail(e: GrpcError) -> Failure {
    failure(e.code(), e.to_string())
}

/// A call that could not reach the server, as grpc-go reports it.
fn unavailable(why: &str) -> Reply {
    Reply {
        status: tonic::Code::Unavailable as u32,
        status_message: format!("connection error: {why}"),
        ..Reply::default()
    }
}

pub(super) async fn open(client: &Client, t: &Target) -> Result<Connection, Failure> {
    let opening = Connection::open(client, &t.to.host, t.to.port, t.to.tls);
    match tokio::time::timeout(t.timeout, opening).await {
        Ok(r) => r.map_err(fail),
        Err(_) => Err(failure(1211, format!("dial tcp {}: i/o timeout", t.addr))),
    }
}

impl grpc::Host for VuState {}

impl VuState {
    /// A unary call (`streaming` false) or a server-streaming one, recorded as k6 does.
    async fn grpc_call(
        &mut self,
        client: Resource<GrpcClient>,
        method: String,
        request: String,
        params: grpc::CallParams,
        streaming: bool,
    ) -> Result<grpc::Response, Failure> {
        let VuState {
            table,
            recorder,
            client: http,
            ..
        } = self;
        let c = table.get_mut(&client).map_err(Failure::from)?;
        let m: Arc<Method> = c.descriptors.method(&method).map_err(fail)?;
        let wanted = if streaming {
            MethodKind::ServerStreaming
        } else {
            MethodKind::Unary
        };
        if m.kind != wanted {
            return Err(fail(GrpcError::WrongKind {
                method,
                kind: m.kind.label(),
                hint: match m.kind {
                    MethodKind::Unary => "call it with invoke",
                    MethodKind::ServerStreaming => "call it with server-stream",
                    _ => "only unary and server-streaming calls are supported",
                },
            }));
        }
        let call = CallParams {
            metadata: params
                .metadata
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            timeout: params
                .timeout_ms
                .map_or(DEFAULT_TIMEOUT, Duration::from_millis),
            max_bytes: http.config().max_body_bytes,
        };
        let tags: Vec<(String, String)> =
            params.tags.into_iter().map(|t| (t.key, t.value)).collect();
        let addr = c.target.as_ref().map_or("", |t| t.addr.as_str());
        let url = format!("{addr}{}", m.full_name);
        let system = [
            ("url", url.as_str()),
            ("service", m.service.as_str()),
            ("method", m.name.as_str()),
            ("name", m.full_name.as_str()),
        ];
        if c.target.is_none() {
            return Err(fail(GrpcError::NotConnected));
        }
        let start = Instant::now();
        if streaming {
            recorder.protocol(
                &system,
                &tags,
                &[
                    (builtin::GRPC_STREAMS, 1.0),
                    (builtin::GRPC_STREAMS_MSGS_SENT, 1.0),
                ],
            );
        }
        let mut retried = false;
        let reply = loop {
            // As grpc-go: a server that cannot be reached is status 14 UNAVAILABLE for the call.
            let conn = match c.connection(http, recorder).await {
                Ok(conn) => conn,
                Err(f) => break unavailable(&f.message),
            };
            let mut on_message = || {
                if streaming {
                    recorder.protocol(
                        &system,
                        &tags,
                        &[(builtin::GRPC_STREAMS_MSGS_RECEIVED, 1.0)],
                    );
                }
            };
            match conn.call(&m, &request, &call, &mut on_message).await {
                Ok(reply) => break reply,
                // Never sent (the server was closing the connection): once more on a new one.
                Err(GrpcError::Unsent(why)) => {
                    c.disconnect(recorder);
                    if retried {
                        break unavailable(&why);
                    }
                    retried = true;
                }
                Err(e) => return Err(fail(e)),
            }
        };
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let status = reply.status.to_string();
        let mut with_status = system.to_vec();
        with_status.push(("status", status.as_str()));
        c.record(
            recorder,
            &with_status,
            &tags,
            &[(builtin::GRPC_REQ_DURATION, ms)],
        );
        let pairs = |v: Vec<(String, String)>| {
            v.into_iter()
                .map(|(name, value)| grpc::Header { name, value })
                .collect()
        };
        Ok(grpc::Response {
            status: reply.status,
            status_message: reply.status_message,
            messages: reply.messages,
            headers: pairs(reply.headers),
            trailers: pairs(reply.trailers),
        })
    }
}

impl grpc::HostClient for VuState {
    fn load(&mut self, protos: Vec<(String, String)>) -> Result<Resource<GrpcClient>, String> {
        let slot = self.grpc_slots.take().map_err(|f| f.message)?;
        let descriptors = engine::load(&protos).map_err(|e| e.to_string())?;
        self.table
            .push(GrpcClient {
                descriptors,
                target: None,
                conn: None,
                recorded: (0, 0),
                _slot: slot,
            })
            .map_err(|e| e.to_string())
    }

    async fn connect(
        &mut self,
        client: Resource<GrpcClient>,
        target: String,
        params: grpc::ConnectParams,
    ) -> Result<(), Failure> {
        let to = engine::Target::parse(&target, !params.plaintext).map_err(fail)?;
        if let Some(denied) = to.denied(&self.sandbox) {
            return Err(TransportError::Denied(denied).into());
        }
        let VuState {
            table,
            recorder,
            client: http,
            ..
        } = self;
        let c = table.get_mut(&client).map_err(Failure::from)?;
        c.disconnect(recorder);
        let t = Target {
            addr: target,
            to,
            timeout: params
                .timeout_ms
                .map_or(DEFAULT_TIMEOUT, Duration::from_millis),
        };
        c.target = None;
        let conn = open(http, &t).await?;
        c.conn = Some(conn);
        c.target = Some(t);
        Ok(())
    }

    async fn invoke(
        &mut self,
        client: Resource<GrpcClient>,
        method: String,
        request: String,
        params: grpc::CallParams,
    ) -> Result<grpc::Response, Failure> {
        self.grpc_call(client, method, request, params, false).await
    }

    async fn server_stream(
        &mut self,
        client: Resource<GrpcClient>,
        method: String,
        request: String,
        params: grpc::CallParams,
    ) -> Result<grpc::Response, Failure> {
        self.grpc_call(client, method, request, params, true).await
    }

    fn close(&mut self, client: Resource<GrpcClient>) {
        let VuState {
            table, recorder, ..
        } = self;
        if let Ok(c) = table.get_mut(&client) {
            c.disconnect(recorder);
            c.target = None;
        }
    }

    fn drop(&mut self, client: Resource<GrpcClient>) -> wasmtime::Result<()> {
        let mut c = self.table.delete(client)?;
        c.disconnect(&mut self.recorder);
        Ok(())
    }
}
