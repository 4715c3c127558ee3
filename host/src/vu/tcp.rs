//! The host side of WIT `tcp`: raw TCP (or TLS) connections to `tcp://` hosts the sandbox
//! allows, for protocol clients compiled into a scenario. Bytes count in `data_sent` and
//! `data_received` as they cross the socket (TLS records included). A VU holds at most
//! [`MAX_OPEN`] connections at once, so a plugin that leaks them cannot exhaust the host's
//! file descriptors.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmtime::component::Resource;

use super::bindings::{http::Failure, tcp};
use super::failure::{failure, GENERIC};
use super::recorder::Recorder;
use super::state::VuState;
use crate::metrics::builtin;
use crate::transport::{IoStats, Stream, TransportError, DEFAULT_TIMEOUT};

/// Largest single read handed to the guest.
const MAX_READ: u32 = 1 << 20;

/// Most connections one VU may hold open (closed or dropped ones do not count).
pub const MAX_OPEN: usize = 64;

/// A per-VU bound on open resources of one kind (TCP connections, WebSocket sessions, gRPC
/// clients): each open resource holds a [`Slot`], and the slots alive are counted by the
/// strong count of one `Arc`, so taking and freeing one is an integer operation.
#[derive(Debug)]
pub struct Slots {
    held: Arc<()>,
    max: usize,
    what: &'static str,
}

/// One of a VU's [`Slots`], freed when dropped (with the resource holding it).
#[derive(Debug)]
pub struct Slot {
    _held: Arc<()>,
}

impl Slots {
    /// At most `max` open `what` (plural, as in the refusal: "TCP connections").
    pub fn new(max: usize, what: &'static str) -> Self {
        Slots {
            held: Arc::new(()),
            max,
            what,
        }
    }

    /// A slot, or k6's generic failure naming the cap when all are held.
    pub fn take(&self) -> Result<Slot, Failure> {
        if Arc::strong_count(&self.held) > self.max {
            return Err(failure(
                GENERIC,
                format!(
                    "too many open {}: a VU may hold {} at once (close or drop some)",
                    self.what, self.max
                ),
            ));
        }
        Ok(Slot {
            _held: self.held.clone(),
        })
    }
}

/// k6's timeout code.
const TIMEOUT: u32 = 1050;

/// An open connection (the `tcp.connection` resource).
pub struct TcpConnection {
    stream: Option<Stream>,
    stats: Arc<IoStats>,
    /// Bytes (written, read) already recorded.
    recorded: (u64, u64),
    tags: Vec<(String, String)>,
    /// Holds one of the VU's [`MAX_OPEN`] slots while open.
    slot: Option<Slot>,
}

impl TcpConnection {
    /// Records the bytes that crossed the socket since the last call.
    fn record(&mut self, recorder: &mut Recorder) {
        let (w, r) = self.stats.totals();
        let (sent, received) = (w - self.recorded.0, r - self.recorded.1);
        self.recorded = (w, r);
        let mut values = Vec::with_capacity(2);
        if sent > 0 {
            values.push((builtin::DATA_SENT, sent as f64));
        }
        if received > 0 {
            values.push((builtin::DATA_RECEIVED, received as f64));
        }
        if !values.is_empty() {
            recorder.protocol(&[], &self.tags, &values);
        }
    }

    /// Closes the socket (a TCP FIN; no TLS close_notify) and frees the slot.
    fn shut(&mut self) {
        self.stream = None;
        self.slot = None;
    }
}

fn closed() -> Failure {
    failure(GENERIC, "use of closed connection".into())
}

/// k6's codes for socket errors: 1220 reset (or broken pipe), 1000 anything else.
fn io_failure(e: std::io::Error) -> Failure {
    let code = match e.kind() {
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => 1220,
        _ => GENERIC,
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
        // `[::1]` and `::1` are the same host, for the sandbox and for the resolver.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Some(denied) = self.sandbox.denied_tcp(host, port) {
            return Err(TransportError::Denied(format!("tcp://{denied}")).into());
        }
        let slot = self.tcp_slots.take()?;
        let open = self.client.open_stream(host, port, params.tls, &[]);
        let opened = match tokio::time::timeout(timeout_of(params.timeout_ms), open).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Err(e.into()),
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
            slot: Some(slot),
        };
        // The TLS handshake's bytes.
        conn.record(&mut self.recorder);
        self.table.push(conn).map_err(Failure::from)
    }
}

impl tcp::HostConnection for VuState {
    async fn write(&mut self, conn: Resource<TcpConnection>, data: Vec<u8>) -> Result<(), Failure> {
        let VuState {
            table, recorder, ..
        } = self;
        let c = table.get_mut(&conn).map_err(Failure::from)?;
        let r = match c.stream.as_mut() {
            // TLS may keep part of the data buffered after `write_all`: flush it onto the socket.
            Some(s) => {
                let write = async {
                    s.write_all(&data).await?;
                    s.flush().await
                };
                match tokio::time::timeout(DEFAULT_TIMEOUT, write).await {
                    Ok(r) => r.map_err(io_failure),
                    Err(_) => Err(failure(TIMEOUT, "write timeout".into())),
                }
            }
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
        let c = table.get_mut(&conn).map_err(Failure::from)?;
        // A fresh, unzeroed buffer of the asked size each time: nothing large stays allocated
        // per connection, and what was read is handed over without a copy.
        let want = max.clamp(1, MAX_READ) as usize;
        let mut buf = Vec::with_capacity(want);
        let r = match c.stream.as_mut() {
            Some(s) => {
                let mut limited = s.take(want as u64);
                let read = limited.read_buf(&mut buf);
                match tokio::time::timeout(timeout_of(timeout_ms), read).await {
                    Ok(Ok(_)) => Ok(buf),
                    Ok(Err(e)) => Err(io_failure(e)),
                    Err(_) => Err(failure(TIMEOUT, "read timeout".into())),
                }
            }
            None => Err(closed()),
        };
        c.record(recorder);
        r
    }

    fn close(&mut self, conn: Resource<TcpConnection>) {
        if let Ok(c) = self.table.get_mut(&conn) {
            c.shut();
        }
    }

    fn drop(&mut self, conn: Resource<TcpConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_errors_map_to_k6_codes() {
        use std::io::{Error, ErrorKind};
        assert_eq!(
            io_failure(Error::from(ErrorKind::ConnectionReset)).code,
            1220
        );
        assert_eq!(io_failure(Error::from(ErrorKind::BrokenPipe)).code, 1220);
        assert_eq!(io_failure(Error::other("x")).code, GENERIC);
        assert_eq!(timeout_of(None), DEFAULT_TIMEOUT);
        assert_eq!(timeout_of(Some(250)), Duration::from_millis(250));
    }

    #[test]
    fn slots_are_bounded_and_freed_on_drop() {
        let slots = Slots::new(2, "things");
        let a = slots.take().unwrap();
        let _b = slots.take().unwrap();
        let e = slots.take().unwrap_err();
        assert_eq!(e.code, GENERIC);
        assert!(
            e.message.contains("too many open things: a VU may hold 2"),
            "{}",
            e.message
        );
        drop(a);
        assert!(slots.take().is_ok());
    }
}
