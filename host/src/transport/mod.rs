//! The HTTP transport: a VU's own keep-alive connections (reused across iterations, as k6
//! does), HTTP/1.1 or HTTP/2 (ALPN over TLS, or prior knowledge with `h2c`), TLS with rustls,
//! k6's timing phases and on-the-wire byte counts. Knows nothing of wasm or metrics.
//!
//! `config` says how clients behave, `exchange` what a request and its response are, `error`
//! why a request failed; `client` is a VU's client, `connect` opens its connections and `h1`
//! speaks HTTP/1.1 on them (HTTP/2 is hyper's).

mod client;
mod config;
mod connect;
mod cookies;
pub mod debug;
mod encoding;
mod error;
mod exchange;
pub mod grpc;
mod h1;
mod rate_limit;
mod redirect;
pub mod resolve;
mod stream;
mod timed_io;
pub mod tls;

pub use client::Client;
pub use config::{HttpConfig, HttpDebug, HttpSettings, DEFAULT_BATCH, DEFAULT_BATCH_PER_HOST};
pub use cookies::{CookieJar, MAX_COOKIES, MAX_COOKIE_BYTES};
pub use encoding::{compress, compress_off_worker};
pub use error::TransportError;
pub use exchange::{Exchange, Headers, Outcome, Outgoing, Timings, DEFAULT_TIMEOUT};
pub use rate_limit::RateLimit;
pub use redirect::redirect;
pub use stream::{Opened, Stream};
pub use timed_io::IoStats;

#[cfg(test)]
mod tests;
