//! Real protocol servers on 127.0.0.1 for Volley's end-to-end tests and benchmarks. Each runs
//! on its own tokio runtime, so a synchronous test can start one and read its counters.

pub mod grpc;
pub mod ws;
