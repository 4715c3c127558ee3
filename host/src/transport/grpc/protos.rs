//! `.proto` sources compiled at run time (protox, no `protoc`) into the methods a call can
//! name, within limits on what one load may hand over and how many sets a run compiles, with a
//! small process-wide cache; and messages converted between canonical proto3 JSON and
//! protobuf with prost-reflect's `DynamicMessage`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http::uri::PathAndQuery;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use sha2::{Digest, Sha256};
use tonic::Status;

use super::GrpcError;

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
    pub(super) path: PathAndQuery,
    input: MessageDescriptor,
    pub(super) output: MessageDescriptor,
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
pub(super) fn to_json(msg: &DynamicMessage, limit: u64) -> Result<Option<String>, Status> {
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

    pub(super) fn from_pool(pool: &DescriptorPool) -> Result<Descriptors, GrpcError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::grpc::tests::{sources, HELLO};

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
}
