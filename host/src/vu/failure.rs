//! The `failure` record (k6's `error_code` and `error`) that every network import returns, and
//! the conversions the imports share.

use wasmtime::component::ResourceTableError;

use super::bindings::http::Failure;
use crate::transport::TransportError;

/// k6's generic error code.
pub const GENERIC: u32 = 1000;

/// A failure with k6's `code` and `message`.
pub fn failure(code: u32, message: String) -> Failure {
    Failure { code, message }
}

impl From<TransportError> for Failure {
    fn from(e: TransportError) -> Self {
        failure(e.code(), e.to_string())
    }
}

/// A bad resource handle (a guest bug): k6's generic code.
impl From<ResourceTableError> for Failure {
    fn from(e: ResourceTableError) -> Self {
        failure(GENERIC, e.to_string())
    }
}
