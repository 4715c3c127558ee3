//! gRPC over the transport's own streams: `.proto` sources compiled at run time (protox, no
//! `protoc`), messages converted between canonical proto3 JSON and protobuf with prost-reflect's
//! `DynamicMessage`, calls made by tonic's client over one hyper HTTP/2 connection (h2c, or TLS
//! with ALPN `h2`). Knows nothing of wasm or metrics: callers read the byte counters and time
//! the calls themselves.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::Ipv6Addr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http::uri::PathAndQuery;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use sha2::{Digest, Sha256};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::Status;

use super::{hyper_error, source_of, Client, IoStats, TransportError};
use crate::sandbox::Sandbox;

/// Most `.proto` files one `load` may hand over.
pub const MAX_PROTO_FILES: usize = 64;

/// Most bytes of `.proto` sources (names included) one `load` may hand over.
pub const MAX_PROTO_BYTES: usize = 1 << 20;

/// Most distinct `.proto` sets compiled in one run (process); past it, `load` fails. Sets
/// already in the cache cost nothing.
pub const MAX_COMPILED_SETS: usize = 32;

/// Most compiled sets the process-wide cache keeps; the oldest is evicted first.
pub const MAX_CACHED_SETS: usize = 8;

/// Longest a `.proto` compilation may take before `load` fails (it runs off the async
/// workers; a timed-out compilation finishes in the background, bounded by the sizes above).
pub const PROTO_COMPILE_TIMEOUT: Duration = Duration::from_secs(10);

/// Most response messages one call keeps; a stream that sends more ends with status 8
/// RESOURCE_EXHAUSTED and the messages so far.
pub const MAX_STREAM_MESSAGES: usize = 100_000;

/// Why a gRPC operation failed before producing a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrpcError {
    /// A `.proto` source did not compile.
    #[error("{file}:{line}:{column}: {message}")]
    Proto {
        /// The file's name as handed over.
        file: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// `load` was given no files.
    #[error("no .proto sources given")]
    NoSources,
    /// `load` went past a compile limit: files, bytes, sets per run, or compile time.
    #[error("{0}")]
    ProtoLimit(String),
    /// The method is not in the loaded descriptors.
    #[error("method \"{0}\" not found in the loaded .proto files")]
    UnknownMethod(String),
    /// The method exists but cannot be called this way.
    #[error("method \"{method}\" is {kind}: {hint}")]
    WrongKind {
        /// The method.
        method: String,
        /// Its kind (unary, server-streaming, ...).
        kind: &'static str,
        /// What to use instead.
        hint: &'static str,
    },
    /// The request JSON does not fit the method's input message.
    #[error("unable to serialise request object to protocol buffer ({message}): {reason}")]
    InvalidRequest {
        /// The input message's full name.
        message: String,
        /// The JSON error.
        reason: String,
    },
    /// A metadata key or value is not valid.
    #[error("invalid metadata \"{0}\"")]
    InvalidMetadata(String),
    /// The target is not `host:port`.
    #[error("invalid target \"{0}\": expected host:port")]
    InvalidTarget(String),
    /// The client has no connection.
    #[error("no connection: call connect() first")]
    NotConnected,
    /// Opening the connection failed.
    #[error("{0}")]
    Connect(TransportError),
    /// The connection closed before the request was sent; it may be sent again on a new one.
    #[error("{0}")]
    Unsent(String),
}

impl GrpcError {
    /// k6's numeric error code.
    pub fn code(&self) -> u32 {
        match self {
            GrpcError::Connect(e) => e.code(),
            GrpcError::InvalidTarget(_) => 1020,
            _ => 1000,
        }
    }
}

/// How a method streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests (not supported by calls here).
    ClientStreaming,
    /// Streams both ways (not supported by calls here).
    Bidi,
}

impl MethodKind {
    /// `unary`, `server-streaming`, ...
    pub fn label(self) -> &'static str {
        match self {
            MethodKind::Unary => "unary",
            MethodKind::ServerStreaming => "server-streaming",
            MethodKind::ClientStreaming => "client-streaming",
            MethodKind::Bidi => "bidirectional-streaming",
        }
    }
}

/// A method of a loaded service.
#[derive(Debug, Clone)]
pub struct Method {
    /// `/package.Service/Method`.
    pub full_name: String,
    /// `package.Service`.
    pub service: String,
    /// `Method`.
    pub name: String,
    /// How it streams.
    pub kind: MethodKind,
    path: PathAndQuery,
    input: MessageDescriptor,
    output: MessageDescriptor,
}

impl Method {
    /// The request message from its canonical proto3 JSON (field names in camelCase or as in
    /// the `.proto`; unknown fields refused).
    pub fn request(&self, json: &str) -> Result<DynamicMessage, GrpcError> {
        let mut de = serde_json::Deserializer::from_str(json);
        DynamicMessage::deserialize(self.input.clone(), &mut de)
            .and_then(|m| de.end().map(|()| m))
            .map_err(|e| GrpcError::InvalidRequest {
                message: self.input.full_name().to_string(),
                reason: e.to_string(),
            })
    }
}

/// A message as canonical proto3 JSON with default values included (as k6 gives them), or
/// `None` as soon as the JSON would exceed `limit` bytes (expansion stops there).
fn to_json(msg: &DynamicMessage, limit: u64) -> Result<Option<String>, Status> {
    let options = SerializeOptions::new().skip_default_fields(false);
    let mut json = Capped {
        buf: Vec::with_capacity(64),
        limit,
        over: false,
    };
    match msg.serialize_with_options(&mut serde_json::Serializer::new(&mut json), &options) {
        Ok(()) => {}
        Err(_) if json.over => return Ok(None),
        Err(e) => return Err(Status::internal(format!("response to JSON: {e}"))),
    }
    String::from_utf8(json.buf)
        .map(Some)
        .map_err(|e| Status::internal(format!("response to JSON: {e}")))
}

/// A buffer refusing writes past `limit` bytes (`over` once it did).
struct Capped {
    buf: Vec<u8>,
    limit: u64,
    over: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if (self.buf.len() + data.len()) as u64 > self.limit {
            self.over = true;
            return Err(std::io::Error::other("JSON over the limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compiled descriptors: every method of every service, by `package.Service/Method`.
#[derive(Debug)]
pub struct Descriptors {
    methods: HashMap<String, Arc<Method>>,
}

impl Descriptors {
    /// The method `package.Service/Method` (a leading `/` is accepted, as in k6).
    pub fn method(&self, name: &str) -> Result<Arc<Method>, GrpcError> {
        self.methods
            .get(name.strip_prefix('/').unwrap_or(name))
            .cloned()
            .ok_or_else(|| GrpcError::UnknownMethod(name.to_string()))
    }

    /// Every method name, sorted (for messages and tests).
    pub fn method_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.methods.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    fn from_pool(pool: &DescriptorPool) -> Result<Descriptors, GrpcError> {
        let mut methods = HashMap::new();
        for service in pool.services() {
            for m in service.methods() {
                let key = format!("{}/{}", service.full_name(), m.name());
                let full_name = format!("/{key}");
                let path = PathAndQuery::try_from(full_name.as_str()).map_err(|e| {
                    GrpcError::UnknownMethod(format!("{full_name} (not a valid path: {e})"))
                })?;
                let kind = match (m.is_client_streaming(), m.is_server_streaming()) {
                    (false, false) => MethodKind::Unary,
                    (false, true) => MethodKind::ServerStreaming,
                    (true, false) => MethodKind::ClientStreaming,
                    (true, true) => MethodKind::Bidi,
                };
                let method = Method {
                    full_name,
                    service: service.full_name().to_string(),
                    name: m.name().to_string(),
                    kind,
                    path,
                    input: m.input(),
                    output: m.output(),
                };
                methods.insert(key, Arc::new(method));
            }
        }
        Ok(Descriptors { methods })
    }
}

/// Resolves imports among the sources handed over, then Google's well-known types.
struct Sources(Vec<(String, String)>);

impl protox::file::FileResolver for Sources {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        match self.0.iter().find(|(n, _)| n == name) {
            Some((n, source)) => protox::file::File::from_source(n, source),
            None => protox::file::GoogleFileResolver::new().open_file(name),
        }
    }
}

/// Compiled sets by a hash of their sources, at most [`MAX_CACHED_SETS`], oldest evicted first.
#[derive(Default)]
struct Cache {
    sets: HashMap<[u8; 32], Arc<Descriptors>>,
    order: VecDeque<[u8; 32]>,
}

impl Cache {
    fn insert(&mut self, key: [u8; 32], set: Arc<Descriptors>) {
        if self.sets.insert(key, set).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > MAX_CACHED_SETS {
            if let Some(old) = self.order.pop_front() {
                self.sets.remove(&old);
            }
        }
    }
}

type Shared<T> = OnceLock<Mutex<T>>;

/// Locks a process-wide value (a poisoned lock still holds a consistent cache).
fn lock<T: Default>(m: &'static Shared<T>) -> std::sync::MutexGuard<'static, T> {
    m.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

static CACHE: Shared<Cache> = OnceLock::new();
/// Held while compiling, so VUs loading the same new set compile it once.
static COMPILING: Shared<()> = OnceLock::new();
/// Sets compiled by this process, against [`MAX_COMPILED_SETS`].
static COMPILED: AtomicUsize = AtomicUsize::new(0);

/// Compiles `.proto` sources given as (file name, source), within [`MAX_PROTO_FILES`] and
/// [`MAX_PROTO_BYTES`]. Every VU loads the same sources, so the result is cached for the whole
/// process by a hash of them; a new set is compiled off the async workers (when called on a
/// multi-threaded runtime), at most [`MAX_COMPILED_SETS`] per run, each within
/// [`PROTO_COMPILE_TIMEOUT`].
pub fn load(protos: &[(String, String)]) -> Result<Arc<Descriptors>, GrpcError> {
    check_sizes(protos)?;
    let key = hash_of(protos);
    if let Some(d) = lock(&CACHE).sets.get(&key) {
        return Ok(d.clone());
    }
    off_workers(|| {
        let _one_at_a_time = lock(&COMPILING);
        if let Some(d) = lock(&CACHE).sets.get(&key) {
            return Ok(d.clone());
        }
        if COMPILED.fetch_add(1, Ordering::Relaxed) >= MAX_COMPILED_SETS {
            return Err(GrpcError::ProtoLimit(format!(
                "more than {MAX_COMPILED_SETS} distinct .proto sets compiled in this run"
            )));
        }
        let descriptors = Arc::new(compile_with_timeout(protos.to_vec())?);
        lock(&CACHE).insert(key, descriptors.clone());
        Ok(descriptors)
    })
}

/// Refuses an empty set, or one over [`MAX_PROTO_FILES`] or [`MAX_PROTO_BYTES`].
fn check_sizes(protos: &[(String, String)]) -> Result<(), GrpcError> {
    if protos.is_empty() {
        return Err(GrpcError::NoSources);
    }
    if protos.len() > MAX_PROTO_FILES {
        return Err(GrpcError::ProtoLimit(format!(
            "{} .proto files given, the most one load compiles is {MAX_PROTO_FILES}",
            protos.len()
        )));
    }
    let bytes: usize = protos.iter().map(|(n, s)| n.len() + s.len()).sum();
    if bytes > MAX_PROTO_BYTES {
        return Err(GrpcError::ProtoLimit(format!(
            "{bytes} bytes of .proto sources given, the most one load compiles is {MAX_PROTO_BYTES}"
        )));
    }
    Ok(())
}

fn hash_of(protos: &[(String, String)]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for (name, source) in protos {
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update((source.len() as u64).to_le_bytes());
        hash.update(source.as_bytes());
    }
    hash.finalize().into()
}

/// The multi-threaded runtime this thread works for, if any.
fn multi_thread() -> Option<tokio::runtime::Handle> {
    tokio::runtime::Handle::try_current()
        .ok()
        .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Runs `f`, which blocks, without holding up the other tasks of a multi-threaded runtime's
/// worker (elsewhere, as in unit tests, it simply runs).
fn off_workers<T>(f: impl FnOnce() -> T) -> T {
    match multi_thread() {
        Some(_) => tokio::task::block_in_place(f),
        None => f(),
    }
}

/// Compiles on tokio's blocking pool within [`PROTO_COMPILE_TIMEOUT`] on a multi-threaded
/// runtime (called inside [`off_workers`]; a timed-out compilation finishes in the background),
/// in place otherwise.
fn compile_with_timeout(protos: Vec<(String, String)>) -> Result<Descriptors, GrpcError> {
    let Some(handle) = multi_thread() else {
        return compile(&protos);
    };
    let job = tokio::task::spawn_blocking(move || compile(&protos));
    match handle.block_on(tokio::time::timeout(PROTO_COMPILE_TIMEOUT, job)) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(GrpcError::ProtoLimit(format!(
            "compiling the .proto sources failed: {e}"
        ))),
        Err(_) => Err(GrpcError::ProtoLimit(format!(
            "compiling the .proto sources took longer than {} s",
            PROTO_COMPILE_TIMEOUT.as_secs()
        ))),
    }
}

fn compile(protos: &[(String, String)]) -> Result<Descriptors, GrpcError> {
    let mut compiler = protox::Compiler::with_file_resolver(Sources(protos.to_vec()));
    compiler.include_imports(true);
    for (name, _) in protos {
        compiler
            .open_file(name)
            .map_err(|e| proto_error(&e, protos))?;
    }
    Descriptors::from_pool(&compiler.descriptor_pool())
}

/// A compile error with the file and the line and column of its first label.
fn proto_error(e: &protox::Error, protos: &[(String, String)]) -> GrpcError {
    use miette::Diagnostic;
    let file = e.file().unwrap_or("<unknown>").to_string();
    let offset = e.labels().and_then(|mut l| l.next()).map(|l| l.offset());
    let source = protos.iter().find(|(n, _)| *n == file).map(|(_, s)| s);
    let (line, column) = match (offset, source) {
        (Some(at), Some(src)) => {
            let before = &src[..at.min(src.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            (line, column)
        }
        _ => (0, 0),
    };
    GrpcError::Proto {
        file,
        line,
        column,
        message: e.to_string(),
    }
}

/// Encodes and decodes `DynamicMessage`s of one method's input and output types.
#[derive(Clone)]
struct DynamicCodec {
    output: MessageDescriptor,
    /// Most encoded bytes of response messages decoded in one call.
    max_bytes: u64,
}

struct DynamicEncoder;

/// Decodes response messages while their encoded bytes stay within `remaining`.
struct DynamicDecoder {
    output: MessageDescriptor,
    max_bytes: u64,
    remaining: u64,
}

/// The status of a call whose response messages exceed `max_bytes`.
fn too_large(max_bytes: u64) -> Status {
    Status::resource_exhausted(format!(
        "response messages exceed {max_bytes} bytes (max-response-body-mib)"
    ))
}

impl DynamicDecoder {
    /// Takes `size` encoded bytes from the call's budget, or fails with RESOURCE_EXHAUSTED.
    fn spend(&mut self, size: u64) -> Result<(), Status> {
        if size > self.remaining {
            return Err(too_large(self.max_bytes));
        }
        self.remaining -= size;
        Ok(())
    }
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder {
            output: self.output.clone(),
            max_bytes: self.max_bytes,
            remaining: self.max_bytes,
        }
    }
}

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: DynamicMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.encoded_len());
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the request: {e}")))
    }
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Status> {
        // Checked on the encoded size, before a `DynamicMessage` (or its JSON) is built.
        self.spend(src.remaining() as u64)?;
        let mut msg = DynamicMessage::new(self.output.clone());
        msg.merge(src.copy_to_bytes(src.remaining()))
            .map_err(|e| Status::internal(format!("decoding the response: {e}")))?;
        Ok(Some(msg))
    }
}

/// hyper's HTTP/2 sender as the tower service tonic's client drives.
#[derive(Clone)]
struct H2(http2::SendRequest<tonic::body::Body>);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<hyper::body::Incoming>, BoxError>> + Send>>;

/// A request hyper never sent because the connection was closing (a GOAWAY, or closed by the
/// server between calls): safe to send again on a new connection, as grpc-go retries
/// transparently. No `source`, so tonic keeps it as the status' source for [`was_unsent`].
#[derive(Debug)]
struct Unsent(String);

impl std::fmt::Display for Unsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connection closed before the request was sent: {}",
            self.0
        )
    }
}

impl std::error::Error for Unsent {}

/// Whether the server cannot have processed the request: hyper never sent it, the server's
/// GOAWAY named a last stream before it, or the server refused the stream (HTTP/2 §8.1.4).
fn never_processed(e: &hyper::Error) -> bool {
    e.is_canceled()
        || source_of::<h2::Error>(e).is_some_and(|h| {
            (h.is_go_away() && h.is_remote()) || h.reason() == Some(h2::Reason::REFUSED_STREAM)
        })
}

fn was_unsent(status: &Status) -> bool {
    std::error::Error::source(status).is_some_and(|e| e.is::<Unsent>())
}

impl tower_service::Service<http::Request<tonic::body::Body>> for H2 {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Not ready means the connection is gone: nothing was sent.
        self.0
            .poll_ready(cx)
            .map_err(|e| Box::new(Unsent(e.to_string())) as BoxError)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> ResponseFuture {
        let sending = self.0.send_request(req);
        Box::pin(async move {
            sending.await.map_err(|e| -> BoxError {
                if never_processed(&e) {
                    Box::new(Unsent(e.to_string()))
                } else {
                    Box::new(e)
                }
            })
        })
    }
}

/// Where a client connects, parsed once: the sandbox checks and the dial use this same value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A DNS name or an IP literal (an IPv6 one without brackets).
    pub host: String,
    /// The port.
    pub port: u16,
    /// TLS (`https` to the sandbox), or h2c (`http`).
    pub tls: bool,
}

impl Target {
    /// Parses `host:port` (`[v6]:port` for IPv6). The host must be an IPv6 literal or made of
    /// letters, digits, `-`, `.` and `_`, so no other parser can read it as another host.
    pub fn parse(target: &str, tls: bool) -> Result<Target, GrpcError> {
        let invalid = || GrpcError::InvalidTarget(target.to_string());
        let (host, port) = target.rsplit_once(':').ok_or_else(invalid)?;
        let port: u16 = port.parse().map_err(|_| invalid())?;
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<Ipv6Addr>().map_err(|_| invalid())?.to_string(),
            None if is_name(host) => host.to_ascii_lowercase(),
            None => return Err(invalid()),
        };
        Ok(Target { host, port, tls })
    }

    /// `host:port`, with brackets around an IPv6 literal.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The origin the sandbox checks: `http://host:port/` (`https` with TLS).
    pub fn origin(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/", self.authority())
    }

    /// `host:port` when `sandbox` does not allow this target (nothing may be opened).
    pub fn denied(&self, sandbox: &Sandbox) -> Option<String> {
        sandbox.denied(&self.origin())
    }
}

/// Whether `host` is a DNS name or IPv4 literal made only of the characters every URL parser
/// reads the same way.
fn is_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// One HTTP/2 connection carrying gRPC calls.
pub struct Connection {
    grpc: tonic::client::Grpc<H2>,
    sender: http2::SendRequest<tonic::body::Body>,
    /// Bytes written and read on the connection so far.
    pub stats: Arc<IoStats>,
    /// Negotiated TLS version (`tls1.3`), with TLS.
    pub tls_version: Option<&'static str>,
}

impl Connection {
    /// Opens a connection to `host:port` through `client` (its resolver, TLS settings and source
    /// address): TLS offering ALPN `h2` when `secure`, HTTP/2 with prior knowledge otherwise.
    /// The caller checks the sandbox first.
    pub async fn open(
        client: &Client,
        host: &str,
        port: u16,
        secure: bool,
    ) -> Result<Connection, GrpcError> {
        let opened = client
            .open_stream(host, port, secure, &[b"h2"])
            .await
            .map_err(GrpcError::Connect)?;
        if let Some(alpn) = opened.alpn.as_deref().filter(|a| *a != b"h2") {
            return Err(GrpcError::Connect(TransportError::Other {
                code: 1000,
                message: format!(
                    "{host}:{port} negotiated {} instead of h2",
                    String::from_utf8_lossy(alpn)
                ),
            }));
        }
        let (sender, connection) =
            http2::handshake(TokioExecutor::new(), TokioIo::new(opened.stream))
                .await
                .map_err(|e| GrpcError::Connect(hyper_error(e)))?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the peer closes; errors surface on calls.
            let _ = connection.await;
        });
        let target = Target {
            host: host.to_string(),
            port,
            tls: secure,
        };
        let origin: http::Uri = target
            .origin()
            .parse()
            .map_err(|_| GrpcError::InvalidTarget(target.authority()))?;
        // One message may not exceed what a whole call keeps; tonic refuses it from its length
        // prefix, before buffering it.
        let max_message = usize::try_from(client.config().max_body_bytes).unwrap_or(usize::MAX);
        Ok(Connection {
            grpc: tonic::client::Grpc::with_origin(H2(sender.clone()), origin)
                .max_decoding_message_size(max_message),
            sender,
            stats: opened.stats,
            tls_version: opened.tls_version,
        })
    }

    /// Whether the server has closed the connection (a new one must be opened).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Calls `method` with the JSON `request`: a unary call, or a server-streaming one reading
    /// every message until the stream ends or the deadline passes. `on_message` runs as each
    /// response message arrives. A non-OK status (the server's, or 4 DEADLINE_EXCEEDED, or 14
    /// UNAVAILABLE when the connection fails) is a [`Reply`], as in grpc-go; a request that
    /// cannot be made is an error, [`GrpcError::Unsent`] when it can be retried on a new
    /// connection.
    pub async fn call(
        &mut self,
        method: &Method,
        request: &str,
        params: &CallParams,
        on_message: &mut (dyn FnMut() + Send),
    ) -> Result<Reply, GrpcError> {
        let mut req = tonic::Request::new(method.request(request)?);
        append_metadata(req.metadata_mut(), &params.metadata)?;
        req.set_timeout(params.timeout);
        let codec = DynamicCodec {
            output: method.output.clone(),
            max_bytes: params.max_bytes,
        };
        let mut reply = Reply::default();
        let exchange = exchange(
            &mut self.grpc,
            req,
            method,
            codec,
            params.max_bytes,
            &mut reply,
            on_message,
        );
        match tokio::time::timeout(params.timeout, exchange).await {
            Ok(Ok(())) => {}
            Ok(Err(status)) if was_unsent(&status) => {
                return Err(GrpcError::Unsent(status.message().to_string()))
            }
            Ok(Err(status)) => {
                reply.status = status.code() as u32;
                reply.status_message = status.message().to_string();
                if reply.trailers.is_empty() {
                    reply.trailers = metadata_pairs(status.metadata());
                }
            }
            Err(_) => {
                reply.status = tonic::Code::DeadlineExceeded as u32;
                reply.status_message = "context deadline exceeded".into();
            }
        }
        if method.kind == MethodKind::Unary && reply.status == 0 && reply.messages.len() != 1 {
            reply.status = tonic::Code::Internal as u32;
            reply.status_message = format!(
                "a unary call expects one response message, got {}",
                reply.messages.len()
            );
        }
        Ok(reply)
    }
}

/// Sends the request and reads the response into `reply`; `Err` carries a non-OK status.
async fn exchange(
    grpc: &mut tonic::client::Grpc<H2>,
    req: tonic::Request<DynamicMessage>,
    method: &Method,
    codec: DynamicCodec,
    max_bytes: u64,
    reply: &mut Reply,
    on_message: &mut (dyn FnMut() + Send),
) -> Result<(), Status> {
    grpc.ready().await.map_err(Status::from_error)?;
    let response = grpc
        .server_streaming(req, method.path.clone(), codec)
        .await?;
    reply.headers = metadata_pairs(response.metadata());
    let mut stream = response.into_inner();
    let mut kept = 0u64;
    while let Some(msg) = stream.message().await? {
        if reply.messages.len() >= MAX_STREAM_MESSAGES {
            return Err(Status::resource_exhausted(format!(
                "more than {MAX_STREAM_MESSAGES} response messages in one call"
            )));
        }
        let json = to_json(&msg, max_bytes - kept)?.ok_or_else(|| too_large(max_bytes))?;
        kept += json.len() as u64;
        reply.messages.push(json);
        on_message();
    }
    if let Some(trailers) = stream.trailers().await? {
        reply.trailers = metadata_pairs(&trailers);
    }
    Ok(())
}

fn append_metadata(map: &mut MetadataMap, pairs: &[(String, String)]) -> Result<(), GrpcError> {
    for (k, v) in pairs {
        let invalid = || GrpcError::InvalidMetadata(k.clone());
        let lower = k.to_ascii_lowercase();
        if lower.ends_with("-bin") {
            let key = MetadataKey::from_bytes(lower.as_bytes()).map_err(|_| invalid())?;
            map.append_bin(key, MetadataValue::from_bytes(v.as_bytes()));
        } else {
            let key = MetadataKey::from_bytes(lower.as_bytes()).map_err(|_| invalid())?;
            let value = MetadataValue::try_from(v.as_str()).map_err(|_| invalid())?;
            map.append(key, value);
        }
    }
    Ok(())
}

/// Metadata as (name, value) pairs; binary values stay base64 as on the wire.
fn metadata_pairs(map: &MetadataMap) -> Vec<(String, String)> {
    map.clone()
        .into_headers()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "grpc-status" | "grpc-message"))
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Per-call settings.
#[derive(Debug, Clone)]
pub struct CallParams {
    /// Request metadata, in order.
    pub metadata: Vec<(String, String)>,
    /// The deadline, sent as `grpc-timeout` and enforced here.
    pub timeout: Duration,
    /// Most JSON bytes of response messages kept (the test's `max-response-body-mib`): a
    /// stream that sends more ends with status 8 RESOURCE_EXHAUSTED and the messages so far.
    pub max_bytes: u64,
}

/// A finished call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// gRPC status code.
    pub status: u32,
    /// `grpc-message`.
    pub status_message: String,
    /// Response messages as canonical proto3 JSON (default values included, as k6).
    pub messages: Vec<String>,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Trailers (`grpc-status` and `grpc-message` left out).
    pub trailers: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = r#"syntax = "proto3";
package hello;
import "google/protobuf/timestamp.proto";
service Greeter {
  rpc SayHello (HelloRequest) returns (HelloReply);
  rpc LotsOfReplies (HelloRequest) returns (stream HelloReply);
}
message HelloRequest { string name = 1; int64 count = 2; }
message HelloReply { string message = 1; google.protobuf.Timestamp at = 2; }
"#;

    fn sources(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect()
    }

    #[test]
    fn loads_methods_with_well_known_imports() {
        let d = load(&sources(&[("hello.proto", HELLO)])).unwrap();
        assert_eq!(
            d.method_names(),
            ["hello.Greeter/LotsOfReplies", "hello.Greeter/SayHello"]
        );
        let m = d.method("/hello.Greeter/LotsOfReplies").unwrap();
        assert_eq!(m.kind, MethodKind::ServerStreaming);
        assert_eq!(m.full_name, "/hello.Greeter/LotsOfReplies");
        assert_eq!(
            (m.service.as_str(), m.name.as_str()),
            ("hello.Greeter", "LotsOfReplies")
        );
        assert_eq!(
            d.method("hello.Greeter/Nope").unwrap_err(),
            GrpcError::UnknownMethod("hello.Greeter/Nope".into())
        );
    }

    #[test]
    fn the_same_sources_share_one_compiled_set() {
        let a = load(&sources(&[("hello.proto", HELLO)])).unwrap();
        let b = load(&sources(&[("hello.proto", HELLO)])).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = load(&sources(&[("other.proto", HELLO)])).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn imports_resolve_among_the_sources() {
        let common = "syntax = \"proto3\";\npackage common;\nmessage Empty {}\n";
        let svc = "syntax = \"proto3\";\npackage svc;\nimport \"common/empty.proto\";\nservice S { rpc Ping (common.Empty) returns (common.Empty); }\n";
        let d = load(&sources(&[
            ("svc.proto", svc),
            ("common/empty.proto", common),
        ]))
        .unwrap();
        assert_eq!(d.method("svc.S/Ping").unwrap().kind, MethodKind::Unary);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let bad = "syntax = \"proto3\";\npackage bad;\nmessage M {\n  strin name = 1;\n}\n";
        let err = load(&sources(&[("bad.proto", bad)])).unwrap_err();
        match &err {
            GrpcError::Proto { file, line, .. } => {
                assert_eq!((file.as_str(), *line), ("bad.proto", 4), "{err}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().starts_with("bad.proto:4:"), "{err}");
        let missing = "syntax = \"proto3\";\nimport \"nowhere.proto\";\n";
        let err = load(&sources(&[("m.proto", missing)])).unwrap_err();
        assert!(err.to_string().contains("nowhere.proto"), "{err}");
        assert_eq!(load(&[]).unwrap_err(), GrpcError::NoSources);
    }

    #[test]
    fn json_round_trips_canonically() {
        let d = load(&sources(&[("hello.proto", HELLO)])).unwrap();
        let m = d.method("hello.Greeter/SayHello").unwrap();
        // camelCase and proto names, 64-bit-safe numbers as strings or numbers.
        let a = m.request(r#"{"name":"x","count":"3"}"#).unwrap();
        let b = m.request(r#"{"name":"x","count":3}"#).unwrap();
        assert_eq!(a, b);
        // int64 goes back as a string, as protojson (and so k6) writes it.
        assert_eq!(
            to_json(&a, u64::MAX).unwrap().unwrap(),
            r#"{"name":"x","count":"3"}"#
        );
        // Defaults are included, as k6 gives them.
        let empty = m.request("{}").unwrap();
        assert_eq!(
            to_json(&empty, u64::MAX).unwrap().unwrap(),
            r#"{"name":"","count":"0"}"#
        );
        let err = m.request(r#"{"nmae":"x"}"#).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "unable to serialise request object to protocol buffer (hello.HelloRequest): "
            ),
            "{err}"
        );
        assert!(m.request(r#"{"name":"x"} trailing"#).is_err());
        assert!(m.request(r#"{"count":"many"}"#).is_err());
    }

    #[test]
    fn targets_are_host_and_port() {
        let t = Target::parse("127.0.0.1:50051", false).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 50051));
        assert_eq!(t.origin(), "http://127.0.0.1:50051/");
        let t = Target::parse("[::1]:443", true).unwrap();
        assert_eq!(
            (t.host.as_str(), t.origin().as_str()),
            ("::1", "https://[::1]:443/")
        );
        assert_eq!(Target::parse("Api.Test:1", false).unwrap().host, "api.test");
        for bad in [
            "localhost",
            "host:",
            ":80",
            "http://x:1/",
            "h:99999",
            "::1:80",
        ] {
            assert!(Target::parse(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_other_parsers_could_read_as_another_host_are_refused() {
        // Each would reach the sandbox as a URL that does not parse or names another host,
        // while the resolver dials the raw text.
        for bad in [
            "127.0.0.1 x:80",
            "a@127.0.0.1:80",
            "127.0.0.1#:80",
            "127.0.0.1?:80",
            "allowed.test\\@evil:80",
            "h%2e:80",
            "[127.0.0.1]:80",
        ] {
            assert_eq!(
                Target::parse(bad, false).unwrap_err(),
                GrpcError::InvalidTarget(bad.into()),
                "{bad}"
            );
        }
    }

    #[test]
    fn sizes_are_checked_before_compiling() {
        let many: Vec<(String, String)> = (0..=MAX_PROTO_FILES)
            .map(|i| (format!("f{i}.proto"), String::new()))
            .collect();
        assert!(matches!(check_sizes(&many), Err(GrpcError::ProtoLimit(_))));
        let big = sources(&[("big.proto", &" ".repeat(MAX_PROTO_BYTES))]);
        assert!(matches!(check_sizes(&big), Err(GrpcError::ProtoLimit(_))));
        assert!(check_sizes(&sources(&[("hello.proto", HELLO)])).is_ok());
    }

    #[test]
    fn the_cache_keeps_the_newest_sets() {
        let mut cache = Cache::default();
        let set = Arc::new(Descriptors {
            methods: HashMap::new(),
        });
        for i in 0..=MAX_CACHED_SETS as u8 {
            cache.insert([i; 32], set.clone());
        }
        assert_eq!(cache.sets.len(), MAX_CACHED_SETS);
        assert!(!cache.sets.contains_key(&[0; 32]));
        assert!(cache.sets.contains_key(&[MAX_CACHED_SETS as u8; 32]));
    }

    #[test]
    fn json_expansion_stops_at_the_limit() {
        let d = load(&sources(&[("hello.proto", HELLO)])).unwrap();
        let m = d.method("hello.Greeter/SayHello").unwrap();
        let msg = m.request(r#"{"name":"xxxxxxxxxx"}"#).unwrap();
        let full = to_json(&msg, u64::MAX).unwrap().unwrap();
        assert_eq!(
            to_json(&msg, full.len() as u64).unwrap(),
            Some(full.clone())
        );
        assert_eq!(to_json(&msg, full.len() as u64 - 1).unwrap(), None);
    }

    #[test]
    fn encoded_messages_over_the_budget_are_refused_before_decoding() {
        let d = load(&sources(&[("hello.proto", HELLO)])).unwrap();
        let m = d.method("hello.Greeter/SayHello").unwrap();
        let mut decoder = DynamicCodec {
            output: m.output.clone(),
            max_bytes: 10,
        }
        .decoder();
        assert!(decoder.spend(6).is_ok());
        assert!(decoder.spend(4).is_ok());
        let e = decoder.spend(1).unwrap_err();
        assert_eq!(e.code(), tonic::Code::ResourceExhausted);
        assert!(e.message().contains("10 bytes"), "{}", e.message());
    }

    #[test]
    fn metadata_keys_are_checked() {
        let mut map = MetadataMap::new();
        append_metadata(&mut map, &[("X-Trace".into(), "abc".into())]).unwrap();
        assert_eq!(map.get("x-trace").unwrap(), "abc");
        let err = append_metadata(&mut map, &[("bad key".into(), "v".into())]).unwrap_err();
        assert_eq!(err, GrpcError::InvalidMetadata("bad key".into()));
    }
}
