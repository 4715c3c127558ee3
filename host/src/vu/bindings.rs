//! The one `bindgen!` call site: host-side bindings for `wit/` (world `volley:scenario/scenario`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "volley:scenario/scenario",
    imports: {
        "volley:scenario/http.send": async,
        "volley:scenario/http.send-with-params": async,
        "volley:scenario/http.send-packed": async,
        "volley:scenario/http.batch": async,
        "volley:scenario/timing.sleep": async,
        "volley:scenario/websocket.connect": async,
        "volley:scenario/websocket.[method]connection.send-text": async,
        "volley:scenario/websocket.[method]connection.send-binary": async,
        "volley:scenario/websocket.[method]connection.receive": async,
        "volley:scenario/websocket.[method]connection.ping": async,
        "volley:scenario/websocket.[method]connection.close": async,
        "volley:scenario/websocket-events.next-event": async,
        "volley:scenario/websocket-events.close-handshake": async,
        "volley:scenario/websocket-events.send-ping": async,
        "volley:scenario/grpc.[method]client.connect": async,
        "volley:scenario/grpc.[method]client.invoke": async,
        "volley:scenario/grpc.[method]client.server-stream": async,
        "volley:scenario/grpc-streams.reflect": async,
        "volley:scenario/grpc-streams.[static]call-stream.open": async,
        "volley:scenario/grpc-streams.[method]call-stream.write": async,
        "volley:scenario/grpc-streams.next-event": async,
        "volley:scenario/tcp.connect": async,
        "volley:scenario/tcp.[method]connection.write": async,
        "volley:scenario/tcp.[method]connection.read": async,
        "volley:scenario/execution.abort": trappable,
    },
    exports: { default: async },
    with: {
        "volley:scenario/websocket.connection": super::websocket::Session,
        "volley:scenario/grpc.client": super::grpc::GrpcClient,
        "volley:scenario/grpc-streams.call-stream": super::grpc_stream::CallStream,
        "volley:scenario/tcp.connection": super::tcp::TcpConnection,
    },
});

pub use self::volley::scenario::{
    checks, cookies, crypto, execution, group, grpc, grpc_streams, http, init, log, metrics, tcp,
    test_status, timing, vu, websocket, websocket_events,
};
