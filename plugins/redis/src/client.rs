//! A minimal blocking Redis client over any `Read + Write` stream: in the scenario that is a
//! `volley_sdk::tcp::Connection`, but nothing here knows about Volley.

use std::fmt;
use std::io::{self, Read, Write};

use crate::resp::{self, ProtocolError, Value};

/// How much is asked of the stream per read.
const READ_CHUNK: usize = 16 << 10;

/// Why a command got no reply. The connection is unusable afterwards.
#[derive(Debug)]
pub enum ClientError {
    /// Reading or writing failed (the message carries Volley's error code).
    Io(io::Error),
    /// The server closed the connection before replying.
    Closed,
    /// The reply was not valid RESP2.
    Protocol(ProtocolError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::Closed => f.write_str("the server closed the connection"),
            ClientError::Protocol(e) => write!(f, "{e}"),
        }
    }
}

/// A connection speaking RESP2.
pub struct Client<S> {
    stream: S,
    /// Received bytes not yet parsed.
    pending: Vec<u8>,
    /// The command being encoded (kept to reuse its allocation).
    out: Vec<u8>,
    /// Where reads land.
    chunk: Box<[u8]>,
}

impl<S: Read + Write> Client<S> {
    /// A client over an open stream.
    pub fn new(stream: S) -> Self {
        Client {
            stream,
            pending: Vec::new(),
            out: Vec::new(),
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
        }
    }

    /// Sends one command (name first) and waits for its reply. A Redis error reply is
    /// `Ok(Value::Error(..))`: the connection stays usable.
    pub fn command(&mut self, args: &[&[u8]]) -> Result<Value, ClientError> {
        self.out.clear();
        resp::encode(args, &mut self.out);
        self.stream.write_all(&self.out).map_err(ClientError::Io)?;
        self.stream.flush().map_err(ClientError::Io)?;
        loop {
            if let Some((value, used)) =
                resp::parse(&self.pending).map_err(ClientError::Protocol)?
            {
                self.pending.drain(..used);
                return Ok(value);
            }
            match self.stream.read(&mut self.chunk) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => self.pending.extend_from_slice(&self.chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ClientError::Io(e)),
            }
        }
    }
}
