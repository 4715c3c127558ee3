//! The host side of WIT `tcp`: raw TCP (or TLS) connections to `tcp://` hosts the sandbox
//! allows, for protocol clients compiled into a scenario. Bytes count in `data_sent` and
//! `data_received` as they cross the socket.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmtime::component::Resource;

use super::bindings::{http::Failure, tcp};
use super::recorder::Recorder;
use super::state::VuState;
use crate::metrics::builtin;
use crate::transport::{IoStats, Stream, TransportError, DEFAULT_TIMEOUT};

/// Largest single read handed to the guest.
const MAX_READ: u32 = 1 << 20;

/// An open connection (the `tcp.connection` resource).
pub struct TcpConnection {
    stream: Option<Stream>,
    stats: Arc<IoStats>,
    /// Bytes (written, read) already recorded.
    recorded: (u64, u64),
    tags: Vec<(String, String)>,
    buf: Vec<u8>,
}

impl TcpConnection {
    /// Records the bytes that crossed the socket since the last call.
    fn record(&mut self, recorder: &mut Recorder) {
        let (w, r) = self.stats.totals();
        let (sent, received) = (w - self.recorded.0, r - self.recorded.1);
        self.recorded = (w, r);
        if sent + received > 0 {
            recorder.protocol(
                &[],
                &self.tags,
                &[
                    (builtin::DATA_SENT, sent as f64),
                    (builtin::DATA_RECEIVED, received as f64),
                ],
            );
        }
    }
}

fn closed() -> Failure {
    failure(1000, "use of closed connection".into())
}

fn failure(code: u32, message: String) -> Failure {
    Failure { code, message }
}

fn io_failure(e: std::io::Error) -> Failure {
    let code = match e.kind() {
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => 1220,
        _ => 1000,
    };
    failure(code, e.to_string())
}

fn timeout_of(ms: Option<u64>) -> Duration {
    ms.map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

impl tcp::Host for VuState {
    async fn connect(
        &mut self,
        host: String,
        port: u16,
        params: tcp::ConnectParams,
    ) -> Result<Resource<TcpConnection>, Failure> {
        if let Some(denied) = self.sandbox.denied_tcp(&host, port) {
            let e = TransportError::Denied(format!("tcp://{denied}"));
            return Err(failure(e.code(), e.to_string()));
        }
        let open = self.client.open_stream(&host, port, params.tls, &[]);
        let opened = match tokio::time::timeout(timeout_of(params.timeout_ms), open).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Err(failure(e.code(), e.to_string())),
            Err(_) => {
                return Err(failure(
                    1211,
                    format!("dial tcp {host}:{port}: i/o timeout"),
                ))
            }
        };
        let mut conn = TcpConnection {
            stream: Some(opened.stream),
            stats: opened.stats,
            recorded: (0, 0),
            tags: params.tags.into_iter().map(|t| (t.key, t.value)).collect(),
            buf: Vec::new(),
        };
        conn.record(&mut self.recorder);
        self.table
            .push(conn)
            .map_err(|e| failure(1000, e.to_string()))
    }
}

impl tcp::HostConnection for VuState {
    async fn write(&mut self, conn: Resource<TcpConnection>, data: Vec<u8>) -> Result<(), Failure> {
        let VuState {
            table, recorder, ..
        } = self;
        let c = table
            .get_mut(&conn)
            .map_err(|e| failure(1000, e.to_string()))?;
        let r = match c.stream.as_mut() {
            Some(s) => s.write_all(&data).await.map_err(io_failure),
            None => Err(closed()),
        };
        c.record(recorder);
        r
    }

    async fn read(
        &mut self,
        conn: Resource<TcpConnection>,
        max: u32,
        timeout_ms: Option<u64>,
    ) -> Result<Vec<u8>, Failure> {
        let VuState {
            table, recorder, ..
        } = self;
        let c = table
            .get_mut(&conn)
            .map_err(|e| failure(1000, e.to_string()))?;
        c.buf.resize(max.clamp(1, MAX_READ) as usize, 0);
        let r = match c.stream.as_mut() {
            Some(s) => match tokio::time::timeout(timeout_of(timeout_ms), s.read(&mut c.buf)).await
            {
                Ok(Ok(n)) => Ok(c.buf[..n].to_vec()),
                Ok(Err(e)) => Err(io_failure(e)),
                Err(_) => Err(failure(1050, "read timeout".into())),
            },
            None => Err(closed()),
        };
        c.record(recorder);
        r
    }

    fn close(&mut self, conn: Resource<TcpConnection>) {
        if let Ok(c) = self.table.get_mut(&conn) {
            c.stream = None;
        }
    }

    fn drop(&mut self, conn: Resource<TcpConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}
