//! The host side of WIT `grpc`. Placeholder until the gRPC client lands: every call fails.

use wasmtime::component::Resource;

use super::bindings::{grpc, http::Failure};
use super::state::VuState;

/// A gRPC client (the `grpc.client` resource).
pub struct GrpcClient;

fn unavailable() -> Failure {
    Failure {
        code: 1000,
        message: "gRPC is not available in this build".into(),
    }
}

impl grpc::Host for VuState {}

impl grpc::HostClient for VuState {
    fn load(&mut self, _protos: Vec<(String, String)>) -> Result<Resource<GrpcClient>, String> {
        Err("gRPC is not available in this build".into())
    }

    async fn connect(
        &mut self,
        _client: Resource<GrpcClient>,
        _target: String,
        _params: grpc::ConnectParams,
    ) -> Result<(), Failure> {
        Err(unavailable())
    }

    async fn invoke(
        &mut self,
        _client: Resource<GrpcClient>,
        _method: String,
        _request: String,
        _params: grpc::CallParams,
    ) -> Result<grpc::Response, Failure> {
        Err(unavailable())
    }

    async fn server_stream(
        &mut self,
        _client: Resource<GrpcClient>,
        _method: String,
        _request: String,
        _params: grpc::CallParams,
    ) -> Result<grpc::Response, Failure> {
        Err(unavailable())
    }

    fn close(&mut self, _client: Resource<GrpcClient>) {}

    fn drop(&mut self, client: Resource<GrpcClient>) -> wasmtime::Result<()> {
        self.table.delete(client)?;
        Ok(())
    }
}
