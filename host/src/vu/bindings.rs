//! The one `bindgen!` call site: host-side bindings for `wit/` (world `volley:scenario/scenario`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "volley:scenario/scenario",
    imports: {
        "volley:scenario/http.send": async,
        "volley:scenario/http.send-with-params": async,
        "volley:scenario/http.batch": async,
        "volley:scenario/timing.sleep": async,
    },
    exports: { default: async },
});

pub use self::volley::scenario::{checks, group, http, log, metrics, timing, vu};
