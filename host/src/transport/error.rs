//! Why a request produced no response, with k6's error codes, and how hyper's errors map to them.

/// Why a request produced no response; each maps to a k6 error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The request timed out (1050).
    #[error("request timeout")]
    Timeout,
    /// The URL is malformed or not `http://` (1020).
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The host did not resolve (1101).
    #[error("lookup {0}: no such host")]
    Dns(String),
    /// The sandbox refused the host (Volley's 1400); no connection was opened.
    #[error("host {0} is not in the sandbox's allowed-hosts")]
    Denied(String),
    /// Connecting failed; `code` is k6's (1210 dial, 1212 refused, ...).
    #[error("dial: {message}")]
    Connect {
        /// k6 error code.
        code: u32,
        /// Description.
        message: String,
    },
    /// Anything else; `code` is k6's (1220 reset, 1000 generic).
    #[error("{message}")]
    Other {
        /// k6 error code.
        code: u32,
        /// Description.
        message: String,
    },
}

impl TransportError {
    /// k6's numeric error code.
    pub fn code(&self) -> u32 {
        match self {
            TransportError::Timeout => 1050,
            TransportError::InvalidUrl(_) => 1020,
            TransportError::Dns(_) => 1101,
            TransportError::Denied(_) => 1400,
            TransportError::Connect { code, .. } | TransportError::Other { code, .. } => *code,
        }
    }
}

/// The transport error of a hyper failure: resets, HTTP/2 GOAWAY and stream or connection
/// errors and cut-off messages get their k6 codes, anything else 1000.
pub(super) fn hyper_error(e: hyper::Error) -> TransportError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if is_reset(io) {
                return io_error(io);
            }
        }
        source = err.source();
    }
    if let Some(h2e) = source_of::<h2::Error>(&e) {
        // k6's HTTP/2 codes: 1610+ GOAWAY, 1630+ stream errors, 1650+ connection errors, each
        // offset by the HTTP/2 error code.
        let reason = h2e.reason().map_or(0, |r| u32::from(r).min(19));
        let (base, kind) = if h2e.is_go_away() {
            (1610, "GOAWAY")
        } else if h2e.is_reset() {
            (1630, "stream error")
        } else {
            (1650, "connection error")
        };
        return TransportError::Other {
            code: base + reason,
            message: format!("http2: {kind}: {h2e}"),
        };
    }
    if e.is_incomplete_message() {
        return cut_off();
    }
    TransportError::Other {
        code: 1000,
        message: e.to_string(),
    }
}

/// The transport error of a socket failure: a reset or broken pipe gets k6's 1220, a stream
/// that ended early is [`cut_off`], anything else 1000.
pub(super) fn io_error(e: &std::io::Error) -> TransportError {
    if is_reset(e) {
        return TransportError::Other {
            code: 1220,
            message: format!("read: connection reset by peer ({e})"),
        };
    }
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return cut_off();
    }
    TransportError::Other {
        code: 1000,
        message: e.to_string(),
    }
}

/// The connection closed before the whole response came (k6's 1220).
pub(super) fn cut_off() -> TransportError {
    TransportError::Other {
        code: 1220,
        message: "connection closed before the response was complete".into(),
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
    )
}

/// The first error of type `T` in `e`'s source chain.
pub(super) fn source_of<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        source = err.source();
    }
    None
}
