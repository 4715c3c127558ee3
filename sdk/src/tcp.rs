//! Raw TCP (or TLS) connections through the host, for protocol clients written in the scenario
//! (Redis, PostgreSQL, Kafka, ...). Only hosts the test allows as `tcp://host:port` in
//! `[sandbox] allowed-hosts` are reachable; every byte either way counts in `data_sent` and
//! `data_received`.
//!
//! [`Connection`] implements [`std::io::Read`] and [`std::io::Write`], so blocking protocol code
//! runs over it unchanged (a read waits for the host without blocking other VUs).
//!
//! ```no_run
//! use std::io::{BufRead, BufReader, Write};
//! use std::time::Duration;
//! use volley_sdk::tcp;
//!
//! # fn main() -> Result<(), volley_sdk::Error> {
//! let mut conn = tcp::connect("127.0.0.1", 6379)
//!     .timeout(Duration::from_secs(5))
//!     .tag("db", "cache")
//!     .open()?;
//! conn.write_all(b"PING\r\n")?;
//! let reply = conn.read(512, Some(Duration::from_secs(1)))?;
//! assert_eq!(reply, b"+PONG\r\n");
//!
//! // Or through std::io, e.g. line by line:
//! conn.set_read_timeout(Some(Duration::from_secs(1)));
//! Write::write_all(&mut conn, b"PING\r\n")?;
//! let mut line = String::new();
//! BufReader::new(&mut conn).read_line(&mut line)?;
//! conn.close();
//! # Ok(())
//! # }
//! ```

use std::io;
use std::time::Duration;

use crate::wit::volley::scenario::http::Tag;
use crate::wit::volley::scenario::tcp as wit;
use crate::NetError;

/// Largest read the host hands over at once.
const MAX_READ: usize = 1 << 20;

/// Starts a connection to `host:port`; [`Connect::open`] opens it.
pub fn connect(host: impl Into<String>, port: u16) -> Connect {
    Connect {
        host: host.into(),
        port,
        params: wit::ConnectParams {
            tls: false,
            timeout_ms: None,
            tags: Vec::new(),
        },
    }
}

/// A connection being set up.
#[derive(Debug, Clone)]
pub struct Connect {
    host: String,
    port: u16,
    params: wit::ConnectParams,
}

impl Connect {
    /// Wraps the connection in TLS, verified as for `https://` (the test's `tls-ca-file`,
    /// `insecure-skip-tls-verify`, ... apply).
    pub fn tls(mut self, on: bool) -> Self {
        self.params.tls = on;
        self
    }

    /// Bounds connecting and the TLS handshake (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.params.timeout_ms = Some(millis(timeout));
        self
    }

    /// Adds a tag to this connection's `data_sent` and `data_received` samples.
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.params.tags.push(Tag {
            key: key.to_string(),
            value: value.to_string(),
        });
        self
    }

    /// Opens the connection. Fails with code 1400 when the sandbox does not allow
    /// `tcp://host:port`, 1212 when refused, 1211 on timeout, 13xx on TLS errors.
    pub fn open(self) -> Result<Connection, NetError> {
        let inner = wit::connect(&self.host, self.port, &self.params).map_err(NetError::from)?;
        Ok(Connection {
            inner: Some(inner),
            read_timeout: None,
        })
    }
}

/// An open connection; dropping it closes it.
#[derive(Debug)]
pub struct Connection {
    inner: Option<wit::Connection>,
    read_timeout: Option<Duration>,
}

impl Connection {
    fn conn(&self) -> Result<&wit::Connection, NetError> {
        self.inner.as_ref().ok_or_else(closed)
    }

    /// Writes all of `data`.
    pub fn write_all(&mut self, data: &[u8]) -> Result<(), NetError> {
        self.conn()?.write(data).map_err(NetError::from)
    }

    /// Reads what has arrived, at most `max` bytes (capped at 1 MiB), waiting at most `timeout`
    /// for the first byte (`None`: 60 s). An empty result means the peer closed the connection.
    pub fn read(&mut self, max: usize, timeout: Option<Duration>) -> Result<Vec<u8>, NetError> {
        let max = max.clamp(1, MAX_READ) as u32;
        self.conn()?
            .read(max, timeout.map(millis))
            .map_err(NetError::from)
    }

    /// How long [`std::io::Read::read`] waits for the first byte (`None`: the host's 60 s).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Closes the connection; later reads and writes fail.
    pub fn close(&mut self) {
        if let Some(c) = self.inner.take() {
            c.close();
        }
    }
}

impl io::Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let data = Connection::read(self, buf.len(), self.read_timeout)?;
        let Some(dest) = buf.get_mut(..data.len()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the host returned more bytes than asked for",
            ));
        };
        dest.copy_from_slice(&data);
        Ok(data.len())
    }
}

impl io::Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Connection::write_all(self, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// "use of closed connection", for calls on a closed [`Connection`].
fn closed() -> NetError {
    NetError::new(1000, CLOSED)
}

const CLOSED: &str = "use of closed connection";

impl From<NetError> for io::Error {
    /// Maps k6's codes to I/O error kinds (the message keeps the code), so `?` works inside
    /// `Read`/`Write` code.
    fn from(e: NetError) -> Self {
        let kind = match e.code() {
            1050 | 1211 => io::ErrorKind::TimedOut,
            1212 => io::ErrorKind::ConnectionRefused,
            1220 => io::ErrorKind::ConnectionReset,
            1400 => io::ErrorKind::PermissionDenied,
            _ if e.message() == CLOSED => io::ErrorKind::NotConnected,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, format!("{e} (error code {})", e.code()))
    }
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: u32, message: &str) -> NetError {
        NetError::new(code, message)
    }

    #[test]
    fn errors_keep_their_code_and_map_to_io_kinds() {
        let denied = err(
            1400,
            "host tcp://10.0.0.1:6379 is not in the sandbox's allowed-hosts",
        );
        assert!(denied.is_denied());
        assert_eq!(
            denied.to_string(),
            "host tcp://10.0.0.1:6379 is not in the sandbox's allowed-hosts"
        );
        let kinds = [
            (err(1050, "read timeout"), io::ErrorKind::TimedOut),
            (err(1212, "refused"), io::ErrorKind::ConnectionRefused),
            (err(1220, "reset"), io::ErrorKind::ConnectionReset),
            (denied, io::ErrorKind::PermissionDenied),
            (closed(), io::ErrorKind::NotConnected),
            (err(1000, "other"), io::ErrorKind::Other),
        ];
        for (e, kind) in kinds {
            let (code, msg) = (e.code(), e.message().to_string());
            let io = io::Error::from(e);
            assert_eq!(io.kind(), kind, "code {code}");
            assert_eq!(io.to_string(), format!("{msg} (error code {code})"));
        }
    }

    #[test]
    fn the_builder_fills_the_params() {
        let c = connect("db.test", 5432)
            .tls(true)
            .timeout(Duration::from_millis(1500))
            .tag("db", "main");
        assert_eq!((c.host.as_str(), c.port), ("db.test", 5432));
        assert!(c.params.tls);
        assert_eq!(c.params.timeout_ms, Some(1500));
        assert_eq!(c.params.tags[0].key, "db");
        assert_eq!(c.params.tags[0].value, "main");
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
