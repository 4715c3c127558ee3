//! WebSocket sessions through the host (k6's `k6/ws`), recorded in k6's `ws_*` metrics.
//!
//! A chat-like exchange: join a room, say something, read what the room says back.
//!
//! ```no_run
//! use std::time::Duration;
//! use volley_sdk::websocket::{self, Message};
//!
//! let chat = websocket::connect("ws://127.0.0.1:8080/chat/lobby")
//!     .subprotocol("chat.v1")
//!     .header("Authorization", "Bearer t0k3n")
//!     .tag("room", "lobby")
//!     .open()?;
//! chat.send("hello everyone")?;
//! while let Some(msg) = chat.receive(Duration::from_secs(1))? {
//!     match msg {
//!         Message::Text(line) => println!("{line}"),
//!         Message::Binary(bytes) => println!("{} bytes", bytes.len()),
//!         Message::Close { code, .. } => println!("server closed with {code}"),
//!     }
//! }
//! let rtt = chat.ping(Duration::from_secs(1))?;
//! println!("round trip {rtt:?}");
//! chat.close()?;
//! # Ok::<(), volley_sdk::Error>(())
//! ```

use std::time::Duration;

use crate::wit::volley::scenario::http::{Header, Tag};
use crate::wit::volley::scenario::websocket as wit;
use crate::NetError;

/// Starts opening a session to a `ws://` or `wss://` URL.
pub fn connect(url: impl Into<String>) -> Connect {
    Connect {
        url: url.into(),
        params: wit::ConnectParams {
            headers: Vec::new(),
            subprotocols: Vec::new(),
            tags: Vec::new(),
            timeout_ms: None,
        },
    }
}

/// A session being opened; [`Connect::open`] opens it.
#[derive(Debug, Clone)]
pub struct Connect {
    url: String,
    params: wit::ConnectParams,
}

impl Connect {
    /// Adds a handshake header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.params.headers.push(Header {
            name: name.to_string(),
            value: value.to_string(),
        });
        self
    }

    /// Offers a subprotocol (`Sec-WebSocket-Protocol`); call again to offer more, in order.
    pub fn subprotocol(mut self, name: &str) -> Self {
        self.params.subprotocols.push(name.to_string());
        self
    }

    /// Adds a tag to every sample of this session.
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.params.tags.push(Tag {
            key: key.to_string(),
            value: value.to_string(),
        });
        self
    }

    /// Handshake timeout (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.params.timeout_ms = Some(timeout.as_millis().min(u64::MAX as u128) as u64);
        self
    }

    /// Connects and upgrades; records `ws_connecting` and `ws_sessions`.
    pub fn open(self) -> Result<Session, NetError> {
        wit::connect(&self.url, &self.params)
            .map(|inner| Session { inner })
            .map_err(NetError::from)
    }
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// The server closed the session with this code and reason; the session is over.
    Close {
        /// Close code (1000 normal; 1005 when the server sent none).
        code: u16,
        /// Close reason.
        reason: String,
    },
}

/// An open session. Dropping it closes it with code 1000.
#[derive(Debug)]
pub struct Session {
    inner: wit::Connection,
}

impl Session {
    /// The subprotocol the server chose; empty when none.
    pub fn protocol(&self) -> String {
        self.inner.protocol()
    }

    /// Sends a text message.
    pub fn send(&self, text: &str) -> Result<(), NetError> {
        self.inner.send_text(text).map_err(NetError::from)
    }

    /// Sends a binary message.
    pub fn send_binary(&self, data: &[u8]) -> Result<(), NetError> {
        self.inner.send_binary(data).map_err(NetError::from)
    }

    /// The next message, waiting at most `timeout`; `None` when none came in time.
    pub fn receive(&self, timeout: Duration) -> Result<Option<Message>, NetError> {
        let msg = self
            .inner
            .receive(millis(timeout))
            .map_err(NetError::from)?;
        Ok(msg.map(|m| match m {
            wit::Message::Text(t) => Message::Text(t),
            wit::Message::Binary(b) => Message::Binary(b),
            wit::Message::Close(f) => Message::Close {
                code: f.code,
                reason: f.reason,
            },
        }))
    }

    /// Pings the server and returns the round trip (recorded in `ws_ping`).
    pub fn ping(&self, timeout: Duration) -> Result<Duration, NetError> {
        let ms = self.inner.ping(millis(timeout)).map_err(NetError::from)?;
        Ok(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    }

    /// Closes the session normally (code 1000).
    pub fn close(self) -> Result<(), NetError> {
        self.close_with(1000, "")
    }

    /// Closes the session with `code` and `reason`.
    pub fn close_with(self, code: u16, reason: &str) -> Result<(), NetError> {
        self.inner.close(code, reason).map_err(NetError::from)
    }
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}
