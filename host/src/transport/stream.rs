//! Raw byte streams for protocols beyond HTTP (WebSockets, gRPC, the TCP capability): the same
//! name resolution, source address, TLS settings and byte counting as HTTP connections.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::connect::dial;
use super::exchange::ms;
use super::timed_io::{IoStats, TimedIo};
use super::{tls, Client, TransportError};

/// A connection, plain or TLS, counting its bytes into [`Opened::stats`].
pub enum Stream {
    /// Plain TCP.
    Plain(TimedIo<TcpStream>),
    /// TLS over TCP.
    Tls(Box<TlsStream<TimedIo<TcpStream>>>),
}

/// A freshly opened stream and what opening it cost.
pub struct Opened {
    /// The stream.
    pub stream: Stream,
    /// Bytes written and read on it so far.
    pub stats: Arc<IoStats>,
    /// TCP connect time, ms.
    pub connecting: f64,
    /// TLS handshake time, ms (0 without TLS).
    pub tls_handshaking: f64,
    /// Negotiated TLS version (`tls1.3`), with TLS.
    pub tls_version: Option<&'static str>,
    /// The protocol ALPN settled on, with TLS.
    pub alpn: Option<Vec<u8>>,
}

impl Client {
    /// Opens a stream to `host:port` (TLS when `secure`, offering `alpn`; nothing offered when
    /// empty). The caller checks the sandbox first.
    pub async fn open_stream(
        &self,
        host: &str,
        port: u16,
        secure: bool,
        alpn: &[&[u8]],
    ) -> Result<Opened, TransportError> {
        let config = self.config();
        let addr = config.resolver.resolve(host, port).await?;
        let (tcp, connecting) = dial(addr, self.source()).await?;
        let stats = IoStats::new();
        let timed = TimedIo::new(tcp, stats.clone());
        if !secure {
            return Ok(Opened {
                stream: Stream::Plain(timed),
                stats,
                connecting,
                tls_handshaking: 0.0,
                tls_version: None,
                alpn: None,
            });
        }
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| TransportError::InvalidUrl(format!("{host}: {e}")))?;
        let mut tls_config = (*config.tls.for_host(host)).clone();
        tls_config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let t0 = Instant::now();
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls_config))
            .connect(name, timed)
            .await
            .map_err(|e| {
                let (code, message) = tls::handshake_error(&e, host);
                TransportError::Other { code, message }
            })?;
        let session = stream.get_ref().1;
        let tls_version = tls::version_label(session.protocol_version());
        let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
        Ok(Opened {
            stream: Stream::Tls(Box::new(stream)),
            stats,
            connecting,
            tls_handshaking: ms(t0.elapsed()),
            tls_version,
            alpn,
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
