//! Scenarios as standard Wasm OCI artifacts: a config of media type
//! `application/vnd.wasm.config.v0+json` and one `application/wasm` layer, pushed to and pulled
//! from any OCI distribution registry with `oci-client`. Registries on loopback are spoken to
//! over plain HTTP, every other one over HTTPS.

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

/// Media type of the Wasm artifact config.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// Media type of the component layer.
pub const WASM_LAYER: &str = "application/wasm";

fn reference(text: &str) -> Result<Reference, String> {
    let text = text.strip_prefix("oci://").unwrap_or(text);
    text.parse::<Reference>()
        .map_err(|e| format!("bad OCI reference '{text}': {e}"))
}

fn client_for(r: &Reference) -> Client {
    let host = r.resolve_registry();
    let local = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|h| host == *h || host.starts_with(&format!("{h}:")));
    Client::new(ClientConfig {
        protocol: if local {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        ..Default::default()
    })
}

/// Pulls the component of a Wasm artifact (`registry/repo:tag` or `…@sha256:…`).
pub async fn pull(text: &str) -> Result<Vec<u8>, String> {
    let r = reference(text)?;
    let image = client_for(&r)
        .pull(&r, &RegistryAuth::Anonymous, vec![WASM_LAYER])
        .await
        .map_err(|e| format!("pull {r}: {e}"))?;
    if image.config.media_type != WASM_CONFIG {
        return Err(format!(
            "{r} is not a Wasm artifact (config media type {})",
            image.config.media_type
        ));
    }
    match image.layers.as_slice() {
        [layer] => Ok(layer.data.to_vec()),
        layers => Err(format!(
            "{r}: expected one {WASM_LAYER} layer, found {}",
            layers.len()
        )),
    }
}

/// Pushes `component` as a Wasm artifact; returns the manifest URL.
pub async fn push(component: &[u8], text: &str) -> Result<String, String> {
    let r = reference(text)?;
    let digest = super::digest_of(component);
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [digest],
    });
    let layer = ImageLayer::new(component.to_vec(), WASM_LAYER.to_string(), None);
    let config = Config::new(
        config.to_string().into_bytes(),
        WASM_CONFIG.to_string(),
        None,
    );
    let pushed = client_for(&r)
        .push(&r, &[layer], config, &RegistryAuth::Anonymous, None)
        .await
        .map_err(|e| format!("push {r}: {e}"))?;
    Ok(pushed.manifest_url)
}
