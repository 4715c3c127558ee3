//! `volley registry …`: build and check indexes, push and pull OCI artifacts, list scenarios.
//! Every download is within the default [`Limits`].

use std::path::Path;

use super::index::Index;
use super::lock::Lock;
use super::transfer::{self, Limits};
use super::{cache_dir, digest_of, fetch, load_index, oci, resolve, RegistryError, ScenarioRef};

/// `index build DIR`: fills in the digest of every entry of `DIR/index.toml` whose source is a
/// local file. Returns a report line per entry.
pub fn build_index(dir: &Path) -> Result<Vec<String>, RegistryError> {
    let path = dir.join("index.toml");
    let location = path.display().to_string();
    let err = |reason: String| RegistryError::Index {
        location: location.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
    let mut index: Index = toml::from_str(&text).map_err(|e| err(e.message().to_string()))?;
    let mut report = Vec::new();
    for e in &mut index.scenario {
        if e.source.contains("://") {
            report.push(format!(
                "{}@{} {} (remote source, digest kept)",
                e.name, e.version, e.digest
            ));
            continue;
        }
        let bytes =
            transfer::read_local_source_now(dir, &e.source, &Limits::default()).map_err(|x| {
                err(format!(
                    "{}@{}: source '{}': {x}",
                    e.name, e.version, e.source
                ))
            })?;
        e.digest = digest_of(&bytes);
        report.push(format!("{}@{} {}", e.name, e.version, e.digest));
    }
    let out = toml::to_string_pretty(&index).map_err(|e| err(e.to_string()))?;
    let tmp = dir.join(".index.toml.tmp");
    std::fs::write(&tmp, out).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, &path).map_err(|e| err(e.to_string()))?;
    Ok(report)
}

/// `check INDEX`: validates the index and downloads every entry to verify its digest.
pub async fn check(location: &str) -> Result<Vec<String>, RegistryError> {
    let limits = Limits::default();
    let idx = load_index(location, &limits).await?;
    let mut report = Vec::new();
    for e in &idx.index.scenario {
        // No cache: a check never trusts (or fills) one.
        fetch(&idx, e, None, &limits).await?;
        report.push(format!("ok {}@{} {}", e.name, e.version, e.digest));
    }
    Ok(report)
}

/// `pull NAME`: resolves, downloads, verifies and caches; returns the cached file's path.
pub async fn pull(name: &str, registries: &[String]) -> Result<String, RegistryError> {
    let r = ScenarioRef::parse(name).ok_or_else(|| RegistryError::NotFound {
        name: name.to_string(),
        version: None,
        searched: "not a namespace:name[@version] reference".into(),
    })?;
    let limits = Limits::default();
    let mut indexes = Vec::new();
    for loc in registries {
        indexes.push(load_index(loc, &limits).await?);
    }
    let (idx, entry) = resolve(&indexes, &r, &Lock::default(), false)?;
    let cache = cache_dir();
    fetch(idx, entry, cache.as_deref(), &limits).await?;
    let cached = cache.map_or_else(
        || "(not cached)".to_string(),
        |c| {
            c.join("sha256")
                .join(format!(
                    "{}.wasm",
                    entry.digest.trim_start_matches("sha256:")
                ))
                .display()
                .to_string()
        },
    );
    Ok(format!(
        "{}@{} {} {cached}",
        entry.name, entry.version, entry.digest
    ))
}

/// `push FILE oci://…`: publishes a component; returns its digest and manifest URL.
pub async fn push(file: &Path, reference: &str) -> Result<String, RegistryError> {
    let bytes = std::fs::read(file).map_err(|e| RegistryError::Fetch {
        source_ref: file.display().to_string(),
        reason: e.to_string(),
    })?;
    let url = oci::push(&bytes, reference)
        .await
        .map_err(|reason| RegistryError::Fetch {
            source_ref: reference.to_string(),
            reason,
        })?;
    Ok(format!("{} {url}", digest_of(&bytes)))
}

/// `list`: every entry of the registries, one line each.
pub async fn list(registries: &[String]) -> Result<Vec<String>, RegistryError> {
    let mut out = Vec::new();
    for loc in registries {
        let idx = load_index(loc, &Limits::default()).await?;
        for e in &idx.index.scenario {
            out.push(format!(
                "{}@{}\t{}\t{}",
                e.name,
                e.version,
                e.digest,
                e.description.as_deref().unwrap_or("")
            ));
        }
    }
    Ok(out)
}
