//! A WebSocket server (`ws://`, or `wss://` with a rustls configuration): `/echo` sends every message back; `/chat/ROOM` relays every message to
//! every member of ROOM (the sender too), prefixed with the sender's number. Answers with the
//! first offered subprotocol it knows (`echo.v1`, `chat.v1`), closes with 4000 when told `bye`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// Subprotocols the server accepts.
const SUBPROTOCOLS: [&str; 2] = ["echo.v1", "chat.v1"];

/// What the server saw, for assertions.
#[derive(Debug, Default)]
pub struct WsStats {
    /// Sessions accepted.
    pub sessions: AtomicU64,
    /// Data messages received from clients.
    pub received: AtomicU64,
    /// Data messages sent to clients.
    pub sent: AtomicU64,
    /// Close frames received from clients, with their codes.
    pub closes: Mutex<Vec<u16>>,
    /// The `x-volley-test` handshake header of every session that sent one.
    pub test_headers: Mutex<Vec<String>>,
}

/// A running server; stops when dropped.
pub struct WsServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its counters.
    pub stats: Arc<WsStats>,
    _runtime: tokio::runtime::Runtime,
}

impl WsServer {
    /// Starts on 127.0.0.1 with an ephemeral port and `threads` worker threads.
    pub fn start(threads: usize) -> std::io::Result<WsServer> {
        Self::start_on("127.0.0.1:0", threads)
    }

    /// Starts on 127.0.0.1 with an ephemeral port, speaking TLS (`wss://`) with `config`.
    pub fn start_tls(
        threads: usize,
        config: Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> std::io::Result<WsServer> {
        Self::start_with("127.0.0.1:0", threads, Some(TlsAcceptor::from(config)))
    }

    /// Starts on `addr`.
    pub fn start_on(addr: &str, threads: usize) -> std::io::Result<WsServer> {
        Self::start_with(addr, threads, None)
    }

    fn start_with(
        addr: &str,
        threads: usize,
        tls: Option<TlsAcceptor>,
    ) -> std::io::Result<WsServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind(addr))?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(WsStats::default());
        runtime.spawn(serve(listener, stats.clone(), tls));
        Ok(WsServer {
            addr,
            stats,
            _runtime: runtime,
        })
    }

    /// `ws://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// A counter's value.
    pub fn count(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::SeqCst)
    }
}

type Rooms = Arc<Mutex<HashMap<String, broadcast::Sender<(u64, Message)>>>>;

async fn serve(listener: TcpListener, stats: Arc<WsStats>, tls: Option<TlsAcceptor>) {
    let rooms: Rooms = Arc::default();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (stats, rooms) = (stats.clone(), rooms.clone());
        match &tls {
            None => {
                tokio::spawn(session(stream, stats, rooms));
            }
            Some(acceptor) => {
                let accept = acceptor.accept(stream);
                tokio::spawn(async move {
                    if let Ok(stream) = accept.await {
                        session(stream, stats, rooms).await;
                    }
                });
            }
        }
    }
}

// tungstenite's handshake callback returns its (large) error response by value.
#[allow(clippy::result_large_err)]
async fn session<S>(stream: S, stats: Arc<WsStats>, rooms: Rooms)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut path = String::new();
    let callback = |req: &Request, mut resp: Response| {
        path = req.uri().path().to_string();
        if let Some(v) = req
            .headers()
            .get("x-volley-test")
            .and_then(|v| v.to_str().ok())
        {
            stats.test_headers.lock().unwrap().push(v.to_string());
        }
        let offered = req
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if let Some(p) = offered
            .split(',')
            .map(str::trim)
            .find(|p| SUBPROTOCOLS.contains(p))
        {
            resp.headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_str(p).unwrap());
        }
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let me = stats.sessions.fetch_add(1, Ordering::SeqCst) + 1;
    let (mut tx, mut rx) = ws.split();
    let room = path.strip_prefix("/chat/").map(str::to_string);
    let channel = room.as_ref().map(|r| {
        rooms
            .lock()
            .unwrap()
            .entry(r.clone())
            .or_insert_with(|| broadcast::channel(1024).0)
            .clone()
    });
    let mut relayed = match &channel {
        Some(c) => c.subscribe(),
        None => broadcast::channel(1).1,
    };
    loop {
        tokio::select! {
            incoming = rx.next() => {
                let msg = match incoming {
                    Some(Ok(m)) => m,
                    _ => return,
                };
                match msg {
                    Message::Close(frame) => {
                        let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
                        stats.closes.lock().unwrap().push(code);
                        // tungstenite queued the close reply while reading: write it out.
                        let _ = tx.flush().await;
                        return;
                    }
                    Message::Text(t) if t.as_str() == "bye" => {
                        stats.received.fetch_add(1, Ordering::SeqCst);
                        let frame = CloseFrame { code: CloseCode::from(4000), reason: "bye".into() };
                        let _ = tx.send(Message::Close(Some(frame))).await;
                        // Wait for the client's close reply.
                        while let Some(Ok(m)) = rx.next().await {
                            if let Message::Close(f) = m {
                                let code = f.as_ref().map_or(1005, |f| u16::from(f.code));
                                stats.closes.lock().unwrap().push(code);
                                break;
                            }
                        }
                        return;
                    }
                    m @ (Message::Text(_) | Message::Binary(_)) => {
                        stats.received.fetch_add(1, Ordering::SeqCst);
                        match &channel {
                            Some(c) => {
                                let _ = c.send((me, m));
                            }
                            None => {
                                if tx.send(m).await.is_err() {
                                    return;
                                }
                                stats.sent.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                    _ => {}
                }
            }
            Ok((from, m)) = relayed.recv(), if channel.is_some() => {
                let m = match m {
                    Message::Text(t) => Message::text(format!("{from}: {}", t.as_str())),
                    other => other,
                };
                if tx.send(m).await.is_err() {
                    return;
                }
                stats.sent.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}
