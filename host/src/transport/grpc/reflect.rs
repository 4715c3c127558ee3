//! Server reflection (k6's `connect(addr, { reflect: true })`): the schema from the server's
//! `grpc.reflection.v1` service, or `v1alpha` when v1 is unimplemented (as grpc-go's
//! `grpcreflect.NewClientAuto`), within limits on what one server may make the client hold.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;
use prost::Message as _;
use prost_reflect::prost_types::FileDescriptorProto;
use prost_reflect::DescriptorPool;
use tokio::sync::mpsc;
use tonic::{Code, Status};
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

use super::protos::Descriptors;
use super::{append_metadata, Connection, GrpcError};

/// Most bytes of file descriptors one reflection may receive.
pub const MAX_REFLECTION_BYTES: usize = 4 << 20;

/// Most files (services' files and their imports) one reflection may receive.
pub const MAX_REFLECTED_FILES: usize = 256;

/// Most services one reflection may describe.
pub const MAX_REFLECTED_SERVICES: usize = 256;

const V1: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
const V1ALPHA: &str = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

fn failed(why: impl std::fmt::Display) -> GrpcError {
    GrpcError::Reflection(why.to_string())
}

/// One `ServerReflectionInfo` call: a question, then its answer, in turn.
struct Session {
    questions: mpsc::Sender<ServerReflectionRequest>,
    answers: tonic::Streaming<ServerReflectionResponse>,
    /// Descriptor bytes received so far.
    received: usize,
}

impl Session {
    async fn open(
        conn: &mut Connection,
        path: &'static str,
        metadata: &[(String, String)],
    ) -> Result<Session, Status> {
        let (questions, mut rx) = mpsc::channel(1);
        let requests = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let mut req = tonic::Request::new(requests);
        append_metadata(req.metadata_mut(), metadata)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let mut grpc = conn.grpc.clone();
        grpc.ready().await.map_err(Status::from_error)?;
        let codec =
            tonic_prost::ProstCodec::<ServerReflectionRequest, ServerReflectionResponse>::default();
        // The first question goes before the answer stream is awaited: a server may wait for it
        // before sending its headers.
        let _ = questions
            .send(question(MessageRequest::ListServices(String::new())))
            .await;
        let answers = grpc
            .streaming(req, PathAndQuery::from_static(path), codec)
            .await?
            .into_inner();
        Ok(Session {
            questions,
            answers,
            received: 0,
        })
    }

    /// The answer to the question already sent (the first) or to `q`.
    async fn answer(&mut self, q: Option<MessageRequest>) -> Result<MessageResponse, GrpcError> {
        if let Some(q) = q {
            self.questions
                .send(question(q))
                .await
                .map_err(|_| failed("the server ended the reflection stream"))?;
        }
        let answer = self
            .answers
            .message()
            .await
            .map_err(|s| failed(format!("{:?}: {}", s.code(), s.message())))?
            .ok_or_else(|| failed("the server ended the reflection stream"))?;
        self.received += answer.encoded_len();
        if self.received > MAX_REFLECTION_BYTES {
            return Err(failed(format!(
                "the server's descriptors exceed {MAX_REFLECTION_BYTES} bytes"
            )));
        }
        match answer.message_response {
            Some(MessageResponse::ErrorResponse(e)) => Err(failed(format!(
                "the server answered error {}: {}",
                e.error_code, e.error_message
            ))),
            Some(r) => Ok(r),
            None => Err(failed("the server sent an empty answer")),
        }
    }

    /// The files of a file-descriptor answer.
    async fn files(&mut self, q: MessageRequest) -> Result<Vec<FileDescriptorProto>, GrpcError> {
        match self.answer(Some(q)).await? {
            MessageResponse::FileDescriptorResponse(f) => f
                .file_descriptor_proto
                .iter()
                .map(|b| FileDescriptorProto::decode(b.as_slice()).map_err(failed))
                .collect(),
            _ => Err(failed("the server answered another question")),
        }
    }
}

fn question(q: MessageRequest) -> ServerReflectionRequest {
    ServerReflectionRequest {
        host: String::new(),
        message_request: Some(q),
    }
}

/// The methods of every service the server lists, from its reflection service, within
/// `timeout` and the limits above. `metadata` goes with the reflection call (k6's
/// `reflectMetadata`).
pub async fn reflect(
    conn: &mut Connection,
    metadata: &[(String, String)],
    timeout: Duration,
) -> Result<Arc<Descriptors>, GrpcError> {
    match tokio::time::timeout(timeout, reflect_files(conn, metadata)).await {
        Ok(r) => r,
        Err(_) => Err(failed(format!(
            "no answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

async fn reflect_files(
    conn: &mut Connection,
    metadata: &[(String, String)],
) -> Result<Arc<Descriptors>, GrpcError> {
    let mut session = match Session::open(conn, V1, metadata).await {
        Err(s) if s.code() == Code::Unimplemented => Session::open(conn, V1ALPHA, metadata).await,
        other => other,
    }
    .map_err(|s| {
        failed(format!(
            "can't list services: {:?}: {}",
            s.code(),
            s.message()
        ))
    })?;
    let services = match session.answer(None).await {
        Ok(MessageResponse::ListServicesResponse(l)) => l.service,
        Ok(_) => return Err(failed("the server answered another question")),
        Err(GrpcError::Reflection(why)) => {
            return Err(failed(format!("can't list services: {why}")))
        }
        Err(e) => return Err(e),
    };
    if services.len() > MAX_REFLECTED_SERVICES {
        return Err(failed(format!(
            "the server lists {} services, the most one reflection takes is {MAX_REFLECTED_SERVICES}",
            services.len()
        )));
    }
    let mut files: HashMap<String, FileDescriptorProto> = HashMap::new();
    let add = |files: &mut HashMap<String, FileDescriptorProto>, got: Vec<FileDescriptorProto>| {
        for f in got {
            files.entry(f.name().to_string()).or_insert(f);
        }
        if files.len() > MAX_REFLECTED_FILES {
            return Err(failed(format!(
                "the server's services need more than {MAX_REFLECTED_FILES} files"
            )));
        }
        Ok(())
    };
    for s in &services {
        let got = session
            .files(MessageRequest::FileContainingSymbol(s.name.clone()))
            .await
            .map_err(|e| failed(format!("can't get method on service \"{}\": {e}", s.name)))?;
        add(&mut files, got)?;
    }
    // Imports the answers left out: asked by name, Google's well-known types compiled here.
    loop {
        let missing: Vec<String> = files
            .values()
            .flat_map(|f| f.dependency.iter())
            .filter(|d| !files.contains_key(*d))
            .cloned()
            .collect();
        let Some(name) = missing.into_iter().next() else {
            break;
        };
        let got = match session
            .files(MessageRequest::FileByFilename(name.clone()))
            .await
        {
            Ok(got) if got.iter().any(|f| f.name() == name) => got,
            _ => match protox::file::FileResolver::open_file(
                &protox::file::GoogleFileResolver::new(),
                &name,
            ) {
                Ok(f) => vec![f.file_descriptor_proto().clone()],
                Err(_) => return Err(failed(format!("the server has no file {name}"))),
            },
        };
        add(&mut files, got)?;
    }
    drop(session);
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files.into_values())
        .map_err(|e| failed(format!("invalid descriptors: {e}")))?;
    Ok(Arc::new(Descriptors::from_pool(&pool)?))
}
