//! Streaming calls of every kind (client, server, bidirectional; k6's `grpc.Stream`): one task per
//! stream sends the requests the caller queues and turns each response message into an event on
//! the caller's [`Hub`], a queue bounded in events and in JSON bytes, so a server that sends faster
//! than the caller reads waits on HTTP/2 flow control instead of filling memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost_reflect::DynamicMessage;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tonic::Status;

use super::protos::to_json;
use super::{append_metadata, was_unsent, Connection, DynamicCodec, GrpcError, Method, MethodKind};

/// Most request messages queued on one stream and not yet taken by HTTP/2; `write` waits for room
/// past it (the server's flow control decides how fast a stream drains).
pub const MAX_QUEUED_WRITES: usize = 64;

/// What happened on a stream.
#[derive(Debug)]
pub enum EventKind {
    /// A response message as canonical proto3 JSON; its bytes are counted against the hub's
    /// budget until the event is dropped.
    Message(String, OwnedSemaphorePermit),
    /// The stream ended: gRPC status (0 when the server ended it OK), its message, and how long
    /// the stream lived.
    End {
        /// gRPC status code.
        status: u32,
        /// `grpc-message`, or why the client ended it.
        message: String,
        /// From opening to the end.
        elapsed: Duration,
        /// Whether the client's deadline ended it.
        timed_out: bool,
    },
}

/// An event of the stream numbered `id`.
#[derive(Debug)]
pub struct Event {
    /// The stream's number, given when it was opened.
    pub id: u32,
    /// What happened.
    pub kind: EventKind,
}

/// One caller's queue of stream events: at most `max_events` events and `max_bytes` of JSON
/// waiting, whatever the number of streams feeding it.
pub struct Hub {
    tx: mpsc::Sender<Event>,
    rx: mpsc::Receiver<Event>,
    budget: Arc<Semaphore>,
    max_bytes: usize,
}

impl Hub {
    /// A hub holding at most `max_events` events and `max_bytes` of message JSON (a single
    /// message larger than that ends its stream with status 8 RESOURCE_EXHAUSTED).
    pub fn new(max_events: usize, max_bytes: usize) -> Hub {
        let (tx, rx) = mpsc::channel(max_events.max(1));
        let max_bytes = max_bytes.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Hub {
            tx,
            rx,
            budget: Arc::new(Semaphore::new(max_bytes)),
            max_bytes,
        }
    }

    /// The next event, waiting at most `wait`; `None` when none came in time.
    pub async fn next(&mut self, wait: Duration) -> Option<Event> {
        if wait.is_zero() {
            return self.rx.try_recv().ok();
        }
        tokio::time::timeout(wait, self.rx.recv())
            .await
            .ok()
            .flatten()
    }
}

/// The caller's side of an open stream; dropping it cancels the call (RST_STREAM).
pub struct Stream {
    /// The number its events carry.
    pub id: u32,
    writes: Option<mpsc::Sender<DynamicMessage>>,
    method: Arc<Method>,
    task: tokio::task::JoinHandle<()>,
    /// Becomes true when the call is over: a `write` waiting for room stops waiting (HTTP/2
    /// keeps the request body, and so the queue, while a server that stopped reading holds it).
    over: watch::Receiver<bool>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream {
    /// Queues the JSON `request`, waiting while [`MAX_QUEUED_WRITES`] are queued. `Ok(false)`
    /// when the stream no longer takes messages (ended by `end`, by the server, or its
    /// deadline); an error when the JSON does not fit the method's input message. A method
    /// taking one request (unary, server-streaming) ends the client's side after it, as grpc-go.
    pub async fn write(&mut self, request: &str) -> Result<bool, GrpcError> {
        let msg = self.method.request(request)?;
        let Some(writes) = &self.writes else {
            return Ok(false);
        };
        let sent = tokio::select! {
            sent = writes.send(msg) => sent.is_ok(),
            _ = self.over.wait_for(|over| *over) => false,
        };
        if !sent
            || matches!(
                self.method.kind,
                MethodKind::Unary | MethodKind::ServerStreaming
            )
        {
            self.writes = None;
        }
        Ok(sent)
    }

    /// Ends the client's side: no more messages (the server sees the end of its request stream).
    pub fn end(&mut self) {
        self.writes = None;
    }

    /// Whether the call is over (its end event is queued or delivered).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Connection {
    /// Opens a stream on `method` (any kind) with `metadata`, ended by the client at `deadline`
    /// (none: never, as k6's streams), numbered `id` in the events it sends to `hub`. A request
    /// the connection could not send is [`GrpcError::Unsent`] in the end event's message only if
    /// the connection was already closed: callers reopen closed connections first.
    pub fn open_stream(
        &mut self,
        method: Arc<Method>,
        metadata: &[(String, String)],
        deadline: Option<Duration>,
        hub: &Hub,
        id: u32,
    ) -> Result<Stream, GrpcError> {
        let (wtx, mut wrx) = mpsc::channel::<DynamicMessage>(MAX_QUEUED_WRITES);
        let requests = futures_util::stream::poll_fn(move |cx| wrx.poll_recv(cx));
        let mut req = tonic::Request::new(requests);
        append_metadata(req.metadata_mut(), metadata)?;
        if let Some(d) = deadline {
            req.set_timeout(d);
        }
        let codec = DynamicCodec {
            output: method.output.clone(),
            // Each message is bounded by the connection's decoding limit and the hub's budget;
            // a stream may carry any number of them.
            max_bytes: u64::MAX,
        };
        let grpc = self.grpc.clone();
        let (events, budget, limit) = (hub.tx.clone(), hub.budget.clone(), hub.max_bytes);
        let path = method.path.clone();
        let (ended, over) = watch::channel(false);
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let exchange = exchange(grpc, req, path, codec, id, &events, budget, limit);
            let result = match deadline {
                Some(d) => tokio::time::timeout(d, exchange).await.ok(),
                None => Some(exchange.await),
            };
            let (status, message) = match &result {
                Some(Ok(())) => (0, String::new()),
                Some(Err(s)) if was_unsent(s) => (
                    tonic::Code::Unavailable as u32,
                    format!("connection error: {}", s.message()),
                ),
                Some(Err(s)) => (s.code() as u32, s.message().to_string()),
                None => (
                    tonic::Code::DeadlineExceeded as u32,
                    "context deadline exceeded".to_string(),
                ),
            };
            let kind = EventKind::End {
                status,
                message,
                elapsed: start.elapsed(),
                timed_out: result.is_none(),
            };
            ended.send_replace(true);
            let _ = events.send(Event { id, kind }).await;
        });
        Ok(Stream {
            id,
            writes: Some(wtx),
            method,
            task,
            over,
        })
    }
}

/// Sends the queued requests and forwards every response message to `events`, each waiting for
/// `limit`'s budget and room in the queue; `Err` carries a non-OK status.
#[allow(clippy::too_many_arguments)]
async fn exchange<S>(
    mut grpc: tonic::client::Grpc<super::H2>,
    req: tonic::Request<S>,
    path: http::uri::PathAndQuery,
    codec: DynamicCodec,
    id: u32,
    events: &mpsc::Sender<Event>,
    budget: Arc<Semaphore>,
    limit: usize,
) -> Result<(), Status>
where
    S: futures_util::Stream<Item = DynamicMessage> + Send + 'static,
{
    grpc.ready().await.map_err(Status::from_error)?;
    let mut stream = grpc.streaming(req, path, codec).await?.into_inner();
    while let Some(msg) = stream.message().await? {
        let json = to_json(&msg, limit as u64)?.ok_or_else(|| {
            Status::resource_exhausted(format!(
                "a response message exceeds {limit} bytes of JSON (max-response-body-mib)"
            ))
        })?;
        let permit = budget
            .clone()
            .acquire_many_owned(json.len().max(1) as u32)
            .await
            .map_err(|_| Status::cancelled("the stream's reader went away"))?;
        let kind = EventKind::Message(json, permit);
        if events.send(Event { id, kind }).await.is_err() {
            return Err(Status::cancelled("the stream's reader went away"));
        }
    }
    stream.trailers().await?;
    Ok(())
}
