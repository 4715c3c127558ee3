//! Generates the gRPC test service from `proto/hello.proto` with protox (no `protoc` needed),
//! and its encoded descriptors for the reflection service.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/hello.proto");
    let fds = protox::compile(["hello.proto"], ["proto"])?;
    // The encoded descriptors, served by the reflection service.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("hello_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
