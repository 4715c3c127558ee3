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

use std::fmt;
use std::io;
use std::time::Duration;

use crate::wit::volley::scenario::http::{Failure, Tag};
use crate::wit::volley::scenario::tcp as wit;

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
    pub fn open(self) -> Result<Connection, TcpError> {
        let inner = wit::connect(&self.host, self.port, &self.params).map_err(TcpError)?;
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
    fn conn(&self) -> Result<&wit::Connection, TcpError> {
        self.inner.as_ref().ok_or_else(TcpError::closed)
    }

    /// Writes all of `data`.
    pub fn write_all(&mut self, data: &[u8]) -> Result<(), TcpError> {
        self.conn()?.write(data).map_err(TcpError)
    }

    /// Reads what has arrived, at most `max` bytes (capped at 1 MiB), waiting at most `timeout`
    /// for the first byte (`None`: 60 s). An empty result means the peer closed the connection.
    pub fn read(&mut self, max: usize, timeout: Option<Duration>) -> Result<Vec<u8>, TcpError> {
        let max = max.clamp(1, MAX_READ) as u32;
        self.conn()?
            .read(max, timeout.map(millis))
            .map_err(TcpError)
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

/// Why a connection could not be opened, read or written: k6's `error_code` and message.
#[derive(Debug, Clone)]
pub struct TcpError(Failure);

impl TcpError {
    fn closed() -> Self {
        TcpError(Failure {
            code: 1000,
            message: "use of closed connection".to_string(),
        })
    }

    /// k6's numeric error code (1050 read/write timeout, 1101 DNS, 1211 connect timeout,
    /// 1212 refused, 1220 reset, 13xx TLS, 1400 denied by the sandbox, 1000 anything else).
    pub fn code(&self) -> u32 {
        self.0.code
    }

    /// Whether a read or write timed out.
    pub fn is_timeout(&self) -> bool {
        self.0.code == 1050
    }

    /// Whether the sandbox refused the host.
    pub fn is_denied(&self) -> bool {
        self.0.code == 1400
    }
}

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (error code {})", self.0.message, self.0.code)
    }
}

impl std::error::Error for TcpError {}

impl From<TcpError> for io::Error {
    fn from(e: TcpError) -> Self {
        let kind = match e.code() {
            1050 | 1211 => io::ErrorKind::TimedOut,
            1212 => io::ErrorKind::ConnectionRefused,
            1220 => io::ErrorKind::ConnectionReset,
            1400 => io::ErrorKind::PermissionDenied,
            _ if e.0.message == "use of closed connection" => io::ErrorKind::NotConnected,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: u32, message: &str) -> TcpError {
        TcpError(Failure {
            code,
            message: message.to_string(),
        })
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
            "host tcp://10.0.0.1:6379 is not in the sandbox's allowed-hosts (error code 1400)"
        );
        let kinds = [
            (err(1050, "read timeout"), io::ErrorKind::TimedOut),
            (err(1212, "refused"), io::ErrorKind::ConnectionRefused),
            (err(1220, "reset"), io::ErrorKind::ConnectionReset),
            (denied, io::ErrorKind::PermissionDenied),
            (TcpError::closed(), io::ErrorKind::NotConnected),
            (err(1000, "other"), io::ErrorKind::Other),
        ];
        for (e, kind) in kinds {
            let code = e.code();
            let io = io::Error::from(e);
            assert_eq!(io.kind(), kind, "code {code}");
            assert!(io.to_string().contains(&format!("error code {code}")));
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
