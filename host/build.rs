//! Builds the default Monte Carlo scenario component (`plugins/montecarlo`) for wasm32-wasip2
//! so the `volley` binary can embed it. Set `VOLLEY_MONTECARLO_WASM` to use a prebuilt file.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .parent()
        .expect("host/ sits in the workspace root")
        .to_path_buf();
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("montecarlo.wasm");
    println!("cargo:rerun-if-env-changed=VOLLEY_MONTECARLO_WASM");
    if let Some(prebuilt) = std::env::var_os("VOLLEY_MONTECARLO_WASM") {
        std::fs::copy(&prebuilt, &out).expect("copy VOLLEY_MONTECARLO_WASM");
        return;
    }
    for watched in [
        "plugins/montecarlo/src",
        "plugins/montecarlo/Cargo.toml",
        "sdk/src",
        "sdk/Cargo.toml",
        "wit",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let built = build_guest(&root, "montecarlo");
    std::fs::copy(&built, &out).unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
}

/// Runs a nested cargo for the guest target in its own target dir (so it does not wait on the
/// lock the outer build holds) and returns the component's path.
fn build_guest(root: &Path, package: &str) -> PathBuf {
    let target_dir = root.join("target").join("guest");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "--package",
            package,
            "--target",
            "wasm32-wasip2",
            "--profile",
            "guest",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        // Flags and wrappers meant for the host build must not leak into the guest build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_MAKEFLAGS")
        .status()
        .expect("run cargo for the wasm32-wasip2 guest");
    assert!(
        status.success(),
        "building the {package} scenario for wasm32-wasip2 failed; is the target installed? \
         (rustup target add wasm32-wasip2)"
    );
    target_dir
        .join("wasm32-wasip2")
        .join("guest")
        .join(format!("{package}.wasm"))
}
