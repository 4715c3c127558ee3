//! Opening an HTTP connection: TCP from the VU's source address, TLS for `https://`, and the
//! HTTP/2 handshake when ALPN or `h2c` asks for it, with what each step cost.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::error::hyper_error;
use super::exchange::ms;
use super::h1::H1Conn;
use super::timed_io::{IoStats, TimedIo};
use super::{tls, HttpConfig, Stream, TransportError};
use crate::limits::VUS_PER_LOOPBACK_SOURCE;

/// Where a VU's connections come from.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Source {
    /// The VU's share of `localIPs`: every connection.
    fixed: Option<IpAddr>,
    /// 127.0.0.x for connections to loopback (127.0.0.1 is the system's own choice: `None`).
    loopback: Option<IpAddr>,
}

impl Source {
    /// VU `vu`'s (1-based) source: its share of `local_ips` round robin; without them, each
    /// run of [`VUS_PER_LOOPBACK_SOURCE`] VUs connects to loopback from the next 127.0.0.x, so
    /// a test of many VUs against a local server is not cut off at one source address's
    /// ephemeral ports (~28,000 per destination), as k6's `localIPs` would be set by hand.
    pub fn for_vu(local_ips: &[IpAddr], vu: u32) -> Source {
        let index = vu.max(1) - 1;
        if !local_ips.is_empty() {
            return Source {
                fixed: Some(local_ips[index as usize % local_ips.len()]),
                loopback: None,
            };
        }
        let block = index / VUS_PER_LOOPBACK_SOURCE % 254;
        Source {
            fixed: None,
            loopback: (block > 0)
                .then(|| IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1 + block as u8))),
        }
    }

    /// The address to bind before connecting to `dest` (`None`: the system's choice).
    fn toward(self, dest: IpAddr) -> Option<IpAddr> {
        match dest {
            IpAddr::V4(v4) if self.fixed.is_none() && v4.is_loopback() => self.loopback,
            _ => self.fixed,
        }
    }
}

/// A connection's request side: HTTP/1.1 spoken in place, or hyper's HTTP/2 (whose connection
/// task runs on its own).
pub(super) enum Sender {
    H1(H1Conn),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    /// Whether the connection can take a request now.
    pub(super) async fn ready(&mut self) -> bool {
        match self {
            Sender::H1(c) => c.ready(),
            Sender::H2(s) => s.ready().await.is_ok(),
        }
    }

    /// Whether the connection is done with: the server or the last exchange closed it.
    pub(super) fn is_closed(&self) -> bool {
        match self {
            Sender::H1(c) => !c.is_reusable(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

/// An open connection: its request half, its byte counters and its TLS version, if any.
pub(super) struct Conn {
    pub(super) sender: Sender,
    pub(super) stats: Arc<IoStats>,
    pub(super) tls_version: Option<&'static str>,
}

/// What opening a connection cost, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Setup {
    pub(super) connecting: f64,
    pub(super) tls_handshaking: f64,
}

/// Opens a connection: TCP, then TLS for `https://` (ALPN picks HTTP/2 or HTTP/1.1), or
/// HTTP/2 with prior knowledge for `http://` when `h2c` is set.
pub(super) async fn open(
    config: &HttpConfig,
    source: Source,
    secure: bool,
    host: &str,
    port: u16,
) -> Result<(Conn, Setup), TransportError> {
    let addr = config.resolver.resolve(host, port).await?;
    let (stream, connecting) = dial(addr, source).await?;
    let stats = IoStats::new();
    let timed = TimedIo::new(stream, stats.clone());
    let mut setup = Setup {
        connecting,
        tls_handshaking: 0.0,
    };
    if !secure {
        let sender = if config.h2c {
            h2_handshake(TokioIo::new(timed)).await?
        } else {
            Sender::H1(H1Conn::new(Stream::Plain(timed)))
        };
        return Ok((
            Conn {
                sender,
                stats,
                tls_version: None,
            },
            setup,
        ));
    }
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| TransportError::InvalidUrl(format!("{host}: {e}")))?;
    let t0 = Instant::now();
    let tls = tokio_rustls::TlsConnector::from(config.tls.for_host(host))
        .connect(name, timed)
        .await
        .map_err(|e| {
            let (code, message) = tls::handshake_error(&e, host);
            TransportError::Other { code, message }
        })?;
    setup.tls_handshaking = ms(t0.elapsed());
    let session = tls.get_ref().1;
    let h2 = session.alpn_protocol() == Some(b"h2");
    let tls_version = tls::version_label(session.protocol_version());
    let sender = if h2 {
        h2_handshake(TokioIo::new(tls)).await?
    } else {
        Sender::H1(H1Conn::new(Stream::Tls(Box::new(tls))))
    };
    Ok((
        Conn {
            sender,
            stats,
            tls_version,
        },
        setup,
    ))
}

/// The HTTP/2 handshake over `io`; the connection task runs on its own.
async fn h2_handshake<T>(io: TokioIo<T>) -> Result<Sender, TransportError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
        .await
        .map_err(hyper_error)?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the peer closes; errors surface on the sender.
        let _ = connection.await;
    });
    Ok(Sender::H2(sender))
}

/// Asks the kernel to choose the source port at `connect`, not at `bind` (Linux's
/// `IP_BIND_ADDRESS_NO_PORT`). A `bind` to port 0 searches the bound ports for a free one, a
/// search that grows with every connection bound before: past ~40,000 connections from 127.0.0.x
/// it took most of the machine's CPU (`inet_bhash2_conflict`, `inet_bind2_bucket_find`), and a
/// port taken at `bind` cannot be shared with connections to other destinations. Best effort: a
/// kernel without it binds as before.
fn defer_port_choice(socket: &tokio::net::TcpSocket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a c_int option value of the size given.
    let _ = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// Opens a TCP connection, from `local` when given; returns it with the connect time in ms.
pub(super) async fn dial(
    addr: std::net::SocketAddr,
    source: Source,
) -> Result<(TcpStream, f64), TransportError> {
    let t0 = Instant::now();
    let connect = async {
        let Some(ip) = source.toward(addr.ip()) else {
            return TcpStream::connect(addr).await;
        };
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        defer_port_choice(&socket);
        socket.bind(std::net::SocketAddr::new(ip, 0))?;
        socket.connect(addr).await
    };
    let stream = connect.await.map_err(|e| {
        let code = match e.kind() {
            std::io::ErrorKind::ConnectionRefused => 1212,
            std::io::ErrorKind::TimedOut => 1211,
            _ => 1210,
        };
        let message = format!("tcp {addr}: {e}");
        let message = match crate::limits::explain(&message) {
            Some(limit) => format!("{message}: {limit}"),
            None => message,
        };
        TransportError::Connect { code, message }
    })?;
    let connecting = ms(t0.elapsed());
    let _ = stream.set_nodelay(true);
    Ok((stream, connecting))
}

#[cfg(test)]
mod source_tests {
    use super::*;

    #[test]
    fn loopback_connections_spread_over_sources_past_the_first_block() {
        let lo: IpAddr = [127, 0, 0, 1].into();
        let remote: IpAddr = [192, 0, 2, 7].into();
        assert_eq!(Source::for_vu(&[], 1).toward(lo), None);
        assert_eq!(
            Source::for_vu(&[], VUS_PER_LOOPBACK_SOURCE).toward(lo),
            None
        );
        let next = Source::for_vu(&[], VUS_PER_LOOPBACK_SOURCE + 1);
        assert_eq!(next.toward(lo), Some([127, 0, 0, 2].into()));
        // Only loopback destinations: elsewhere the system picks the source.
        assert_eq!(next.toward(remote), None);
        let tenth = Source::for_vu(&[], 9 * VUS_PER_LOOPBACK_SOURCE + 5);
        assert_eq!(tenth.toward(lo), Some([127, 0, 0, 10].into()));
    }

    #[test]
    fn local_ips_win_for_every_destination() {
        let ips: Vec<IpAddr> = vec![[10, 0, 0, 1].into(), [10, 0, 0, 2].into()];
        let s = Source::for_vu(&ips, VUS_PER_LOOPBACK_SOURCE + 2);
        assert_eq!(s.toward([127, 0, 0, 1].into()), Some([10, 0, 0, 2].into()));
        assert_eq!(s.toward([192, 0, 2, 7].into()), Some([10, 0, 0, 2].into()));
    }

    #[tokio::test]
    async fn a_bound_source_leaves_the_port_to_connect() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        defer_port_choice(&socket);
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        // Bound to the address only: no port is taken, so no search of the bound ports ran.
        assert_eq!(socket.local_addr().unwrap().port(), 0);
        let stream = socket.connect(server.local_addr().unwrap()).await.unwrap();
        let local = stream.local_addr().unwrap();
        assert_eq!(local.ip(), IpAddr::from([127, 0, 0, 2]));
        assert_ne!(local.port(), 0);
    }
}
