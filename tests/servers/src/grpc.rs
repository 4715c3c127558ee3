//! A gRPC server (tonic, generated from `proto/hello.proto`): `hello.Greeter/SayHello` answers
//! "Hello NAME" (NOT_FOUND with trailer `x-volley-reason` for "nobody") and echoes the
//! `x-volley-test` metadata back as a response header; `hello.Greeter/LotsOfReplies` streams `count`
//! replies; `hello.Greeter/RecordNames` (client streaming) greets every name it was sent at once;
//! `hello.Greeter/Chat` (bidirectional) answers each request as it comes, and stops reading
//! after a request named "deaf". The reflection service (`grpc.reflection.v1` and `v1alpha`,
//! or only one of them: [`Reflection`]) describes the greeter. A `SayHello` for "goaway" is answered, then the connection is closed gracefully
//! (GOAWAY), as a server with a maximum connection age does; for "shutdown" the server also
//! stops listening. Speaks h2c, or TLS (ALPN `h2`)
//! with a certificate handed over.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::rustls;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tower_service::Service;

/// The generated messages and service.
pub mod hello {
    tonic::include_proto!("hello");
}

use hello::greeter_server::{Greeter, GreeterServer};
use hello::{HelloReply, HelloRequest};

/// The `.proto` source of the service, for scenarios that load it.
pub const HELLO_PROTO: &str = include_str!("../proto/hello.proto");

/// What the server saw, for assertions.
#[derive(Debug, Default)]
pub struct GrpcStats {
    /// TCP connections accepted.
    pub connections: AtomicU64,
    /// `SayHello` calls (NOT_FOUND ones included).
    pub unary: AtomicU64,
    /// `SayHello` calls answered NOT_FOUND.
    pub not_found: AtomicU64,
    /// `LotsOfReplies` streams.
    pub streams: AtomicU64,
    /// Messages sent on streams.
    pub stream_messages: AtomicU64,
    /// Every `x-volley-test` metadata value received.
    pub test_metadata: Mutex<Vec<String>>,
    /// `RecordNames` and `Chat` calls.
    pub client_streams: AtomicU64,
    /// Messages received on `RecordNames` and `Chat` calls.
    pub client_messages: AtomicU64,
    /// Reflection calls (`ServerReflectionInfo` streams, either version).
    pub reflection_calls: AtomicU64,
}

/// Which reflection services a server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reflection {
    /// `grpc.reflection.v1` and `grpc.reflection.v1alpha`.
    Both,
    /// Only the older `grpc.reflection.v1alpha` (clients must fall back to it).
    V1AlphaOnly,
}

/// The greeter's encoded descriptors (`hello.proto` and its imports).
const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hello_descriptor.bin"));

/// A running server; stops when dropped.
pub struct GrpcServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its counters.
    pub stats: Arc<GrpcStats>,
    _runtime: tokio::runtime::Runtime,
}

impl GrpcServer {
    /// Starts an h2c server on 127.0.0.1 with an ephemeral port and `threads` worker threads.
    pub fn start(threads: usize) -> std::io::Result<GrpcServer> {
        Self::start_on("127.0.0.1:0", threads, None)
    }

    /// Starts an h2c server on 127.0.0.1 offering only these reflection services.
    pub fn start_with_reflection(reflection: Reflection) -> std::io::Result<GrpcServer> {
        Self::start_full("127.0.0.1:0", 1, None, reflection)
    }

    /// Starts a TLS server on 127.0.0.1 with this certificate chain and key (DER).
    pub fn start_tls(cert_chain: Vec<Vec<u8>>, key: Vec<u8>) -> std::io::Result<GrpcServer> {
        let certs = cert_chain.into_iter().map(Into::into).collect();
        let key = rustls_pki_types::PrivatePkcs8KeyDer::from(key).into();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(std::io::Error::other)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Self::start_on("127.0.0.1:0", 1, Some(Arc::new(config)))
    }

    /// Starts on `addr`, with TLS when `tls` is given.
    pub fn start_on(
        addr: &str,
        threads: usize,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<GrpcServer> {
        Self::start_full(addr, threads, tls, Reflection::Both)
    }

    fn start_full(
        addr: &str,
        threads: usize,
        tls: Option<Arc<rustls::ServerConfig>>,
        reflection: Reflection,
    ) -> std::io::Result<GrpcServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind(addr))?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(GrpcStats::default());
        runtime.spawn(serve(listener, stats.clone(), tls, reflection));
        Ok(GrpcServer {
            addr,
            stats,
            _runtime: runtime,
        })
    }

    /// `127.0.0.1:PORT`, the target a client connects to.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// A counter's value.
    pub fn count(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::SeqCst)
    }
}

async fn serve(
    listener: TcpListener,
    stats: Arc<GrpcStats>,
    tls: Option<Arc<rustls::ServerConfig>>,
    reflection: Reflection,
) {
    let stop = Arc::new(Handshake::default());
    let service = router(
        Hello {
            stats: stats.clone(),
            stop: stop.clone(),
        },
        reflection,
        stats.clone(),
    );
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => Some(a),
            _ = stop.asked.notified() => None,
        };
        let Some(accepted) = accepted else {
            // "shutdown": stop listening, as a server that went away, then tell the handler,
            // which answers only now: no reconnection can reach this listener after the answer.
            drop(listener);
            stop.done.notify_one();
            return;
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        stats.connections.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = service.clone();
        tokio::spawn(async move {
            match acceptor {
                None => connection(TokioIo::new(stream), service).await,
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        connection(TokioIo::new(tls), service).await;
                    }
                }
            }
        });
    }
}

/// A request from a handler to a serving task, and the task's word that it is done.
#[derive(Default)]
struct Handshake {
    asked: Notify,
    done: Notify,
}

impl Handshake {
    /// Asks, and waits until the serving task has done it.
    async fn ask(&self) {
        self.asked.notify_one();
        self.done.notified().await;
    }
}

/// Lets a handler close its own connection: the connection task starts a graceful shutdown
/// (GOAWAY queued) before the handler answers, so the client learns that the connection is going
/// away no later than it gets the answer, however busy the machine (a GOAWAY written after the
/// answer raced the client's next call on the same connection).
#[derive(Clone)]
struct Closer(Arc<Handshake>);

type Reply = Result<http::Response<tonic::body::Body>, std::convert::Infallible>;

/// A service answering one request, as the connection task calls it.
type Route = Arc<
    dyn Fn(http::Request<Incoming>) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync,
>;

/// The greeter and the reflection services, routed by path.
fn router(hello: Hello, reflection: Reflection, stats: Arc<GrpcStats>) -> Route {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(DESCRIPTORS)
    };
    let v1 = (reflection == Reflection::Both)
        .then(|| builder().build_v1().expect("the greeter's descriptors"));
    let v1alpha = builder()
        .build_v1alpha()
        .expect("the greeter's descriptors");
    let greeter = GreeterServer::new(hello);
    Arc::new(move |req: http::Request<Incoming>| {
        let (mut greeter, mut v1, mut v1alpha) = (greeter.clone(), v1.clone(), v1alpha.clone());
        let stats = stats.clone();
        Box::pin(async move {
            let path = req.uri().path();
            if path.starts_with("/grpc.reflection.") {
                stats.reflection_calls.fetch_add(1, Ordering::SeqCst);
            }
            if path.starts_with("/grpc.reflection.v1alpha.") {
                return v1alpha.call(req).await;
            }
            if let (true, Some(v1)) = (path.starts_with("/grpc.reflection.v1."), v1.as_mut()) {
                return v1.call(req).await;
            }
            greeter.call(req).await
        })
    })
}

/// Serves one HTTP/2 connection until the client leaves or a handler asks to close it.
async fn connection<T>(io: TokioIo<T>, service: Route)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let closer = Closer(Arc::new(Handshake::default()));
    let tagged = closer.clone();
    let svc = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        req.extensions_mut().insert(tagged.clone());
        service(req)
    });
    let conn = http2::Builder::new(TokioExecutor::new()).serve_connection(io, svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = closer.0.asked.notified() => {
            conn.as_mut().graceful_shutdown();
            closer.0.done.notify_one();
            let _ = conn.await;
        }
    }
}

struct Hello {
    stats: Arc<GrpcStats>,
    stop: Arc<Handshake>,
}

fn metadata(req: &Request<HelloRequest>, key: &str) -> Option<String> {
    req.metadata()
        .get(key)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn now() -> prost_types::Timestamp {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: t.as_secs() as i64,
        nanos: t.subsec_nanos() as i32,
    }
}

#[tonic::async_trait]
impl Greeter for Hello {
    async fn say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        self.stats.unary.fetch_add(1, Ordering::SeqCst);
        let echo = metadata(&req, "x-volley-test");
        if let Some(v) = &echo {
            self.stats.test_metadata.lock().unwrap().push(v.clone());
        }
        let closer = req.extensions().get::<Closer>().cloned();
        let name = req.into_inner().name;
        if name == "goaway" || name == "shutdown" {
            if let Some(c) = closer {
                c.0.ask().await;
            }
        }
        if name == "shutdown" {
            self.stop.ask().await;
        }
        if name == "nobody" {
            self.stats.not_found.fetch_add(1, Ordering::SeqCst);
            let mut trailers = tonic::metadata::MetadataMap::new();
            trailers.insert("x-volley-reason", "unknown-name".parse().unwrap());
            return Err(Status::with_metadata(
                tonic::Code::NotFound,
                "no such person: nobody",
                trailers,
            ));
        }
        let mut res = Response::new(HelloReply {
            message: format!("Hello {name}"),
            index: 0,
            at: Some(now()),
            tags: vec!["greeting".into()],
        });
        if let Some(v) = echo.and_then(|v| v.parse().ok()) {
            res.metadata_mut().insert("x-volley-test", v);
        }
        Ok(res)
    }

    type LotsOfRepliesStream = ReceiverStream<Result<HelloReply, Status>>;

    async fn lots_of_replies(
        &self,
        req: Request<HelloRequest>,
    ) -> Result<Response<Self::LotsOfRepliesStream>, Status> {
        self.stats.streams.fetch_add(1, Ordering::SeqCst);
        let req = req.into_inner();
        if req.count < 0 {
            return Err(Status::invalid_argument("count must not be negative"));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let stats = self.stats.clone();
        tokio::spawn(async move {
            for i in 1..=req.count {
                if req.delay_ms > 0 && i > 1 {
                    tokio::time::sleep(Duration::from_millis(req.delay_ms as u64)).await;
                }
                let reply = HelloReply {
                    message: format!("Hello {} #{i}", req.name),
                    index: i,
                    at: Some(now()),
                    tags: Vec::new(),
                };
                if tx.send(Ok(reply)).await.is_err() {
                    return;
                }
                stats.stream_messages.fetch_add(1, Ordering::SeqCst);
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn record_names(
        &self,
        req: Request<tonic::Streaming<HelloRequest>>,
    ) -> Result<Response<HelloReply>, Status> {
        self.stats.client_streams.fetch_add(1, Ordering::SeqCst);
        let mut requests = req.into_inner();
        let mut names = Vec::new();
        while let Some(r) = requests.message().await? {
            self.stats.client_messages.fetch_add(1, Ordering::SeqCst);
            names.push(r.name);
        }
        Ok(Response::new(HelloReply {
            message: format!("Hello {}", names.join(", ")),
            index: names.len() as i32,
            at: Some(now()),
            tags: Vec::new(),
        }))
    }

    type ChatStream = ReceiverStream<Result<HelloReply, Status>>;

    async fn chat(
        &self,
        req: Request<tonic::Streaming<HelloRequest>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        self.stats.client_streams.fetch_add(1, Ordering::SeqCst);
        let mut requests = req.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let stats = self.stats.clone();
        tokio::spawn(async move {
            loop {
                let r = match requests.message().await {
                    Ok(Some(r)) => r,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                stats.client_messages.fetch_add(1, Ordering::SeqCst);
                if r.name == "deaf" {
                    // Holds the call open without reading: the client's writes back up.
                    tx.closed().await;
                    return;
                }
                for i in 1..=r.count.max(1) {
                    let reply = HelloReply {
                        message: format!("Hello {} #{i}", r.name),
                        index: i,
                        at: Some(now()),
                        tags: Vec::new(),
                    };
                    if tx.send(Ok(reply)).await.is_err() {
                        return;
                    }
                    stats.stream_messages.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
