//! Scenarios as standard Wasm OCI artifacts: a config of media type
//! `application/vnd.wasm.config.v0+json` and one `application/wasm` layer, pushed to and pulled
//! from any OCI distribution registry with `oci-client`. Registries on loopback are spoken to
//! over plain HTTP, every other one over HTTPS.

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use futures_util::StreamExt;

use super::transfer::{within, Capped, Limits, TransferError};

/// Media type of the Wasm artifact config.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// Media type of the component layer.
pub const WASM_LAYER: &str = "application/wasm";

fn reference(text: &str) -> Result<Reference, String> {
    let text = text.strip_prefix("oci://").unwrap_or(text);
    text.parse::<Reference>()
        .map_err(|e| format!("bad OCI reference '{text}': {e}"))
}

/// A client speaking plain HTTP to loopback registries and HTTPS to every other, with a
/// connect timeout.
fn client_for(r: &Reference, limits: &Limits) -> Client {
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
        connect_timeout: Some(limits.connect_timeout),
        ..Default::default()
    })
}

/// Pulls the component of a Wasm artifact (`registry/repo:tag` or `…@sha256:…`) within
/// `limits`: the layer is refused when its declared size exceeds the cap and streamed with the
/// cap enforced; the whole pull is under the download timeout.
pub async fn pull(text: &str, limits: &Limits) -> Result<Vec<u8>, TransferError> {
    let r = reference(text).map_err(TransferError::Failed)?;
    let client = client_for(&r, limits);
    let failed = |e: oci_client::errors::OciDistributionError| {
        TransferError::Failed(format!("pull {r}: {e}"))
    };
    within(limits, async {
        let (manifest, _) = client
            .pull_image_manifest(&r, &RegistryAuth::Anonymous)
            .await
            .map_err(failed)?;
        if manifest.config.media_type != WASM_CONFIG {
            return Err(TransferError::Failed(format!(
                "{r} is not a Wasm artifact (config media type {})",
                manifest.config.media_type
            )));
        }
        let layer = match manifest.layers.as_slice() {
            [layer] if layer.media_type == WASM_LAYER => layer,
            layers => {
                let found: Vec<&str> = layers.iter().map(|l| l.media_type.as_str()).collect();
                return Err(TransferError::Failed(format!(
                    "{r}: expected one {WASM_LAYER} layer, found {} ({})",
                    layers.len(),
                    found.join(", ")
                )));
            }
        };
        limits.admit(u64::try_from(layer.size).unwrap_or(u64::MAX))?;
        let mut stream = client.pull_blob_stream(&r, layer).await.map_err(failed)?;
        let mut body = Capped::new(limits, stream.content_length)?;
        while let Some(chunk) = stream.next().await {
            body.push(&chunk.map_err(|e| TransferError::Failed(format!("pull {r}: {e}")))?)?;
        }
        Ok(body.finish())
    })
    .await
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
    let pushed = client_for(&r, &Limits::default())
        .push(&r, &[layer], config, &RegistryAuth::Anonymous, None)
        .await
        .map_err(|e| format!("push {r}: {e}"))?;
    Ok(pushed.manifest_url)
}
