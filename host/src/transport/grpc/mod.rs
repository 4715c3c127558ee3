//! gRPC over the transport's own streams: calls made by tonic's client over one hyper HTTP/2
//! connection (h2c, or TLS with ALPN `h2`) to a target parsed once for the sandbox and the dial,
//! with responses bounded before they are expanded to JSON. The `.proto` side (compilation,
//! methods, JSON conversion) is in `protos.rs`, streams of every kind in `stream.rs`, server
//! reflection in `reflect.rs`. Knows nothing of wasm or metrics: callers read the byte counters and time
//! the calls themselves.

use std::future::Future;
use std::net::Ipv6Addr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::Status;

use super::error::{hyper_error, source_of};
use super::{Client, IoStats, TransportError};
use crate::sandbox::Sandbox;

mod protos;
mod reflect;
mod stream;

use protos::to_json;
pub use protos::{
    load, Descriptors, Method, MethodKind, MAX_CACHED_SETS, MAX_COMPILED_SETS, MAX_PROTO_BYTES,
    MAX_PROTO_FILES, PROTO_COMPILE_TIMEOUT,
};
pub use reflect::{reflect, MAX_REFLECTED_FILES, MAX_REFLECTED_SERVICES, MAX_REFLECTION_BYTES};
pub use stream::{Event, EventKind, Hub, Stream, MAX_QUEUED_WRITES};

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
    /// Server reflection failed or went past a limit.
    #[error("server reflection: {0}")]
    Reflection(String),
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
mod tests;
