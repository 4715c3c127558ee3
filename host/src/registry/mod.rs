//! Shared scenario registries: resolve `namespace:name[@version]` through index files, download
//! the component, verify its sha256 digest before anything compiles it, keep it in a
//! content-addressed cache and pin it in `volley.lock`. Capabilities from the entry bound the
//! sandbox: the user's grant can only narrow them.

pub mod commands;
pub mod index;
pub mod lock;
pub mod oci;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use index::{hex, valid_digest, Capabilities, Entry, Index};
use lock::{Lock, Locked};

use crate::sandbox::{HostPattern, Sandbox};

/// Why a registry operation failed. Every variant names what and where.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// An index could not be read or parsed.
    #[error("registry index {location}: {reason}")]
    Index {
        /// Path or URL.
        location: String,
        /// What was wrong.
        reason: String,
    },
    /// No entry matches.
    #[error("no scenario {name}{} in the registries ({searched})", version.as_ref().map(|v| format!("@{v}")).unwrap_or_default())]
    NotFound {
        /// The name asked for.
        name: String,
        /// The version requirement, if any.
        version: Option<String>,
        /// Which registries were searched.
        searched: String,
    },
    /// A download failed.
    #[error("cannot fetch {source_ref}: {reason}")]
    Fetch {
        /// The entry's source.
        source_ref: String,
        /// What went wrong.
        reason: String,
    },
    /// The downloaded bytes do not match the entry's digest.
    #[error("{name}@{version}: digest mismatch: the index says {expected}, the download is {actual}; nothing was cached")]
    DigestMismatch {
        /// Scenario.
        name: String,
        /// Version.
        version: String,
        /// The index's digest.
        expected: String,
        /// The download's digest.
        actual: String,
    },
    /// The lock file forbids this resolution.
    #[error("{name}: {reason} (volley.lock pins {locked}); delete its entry from the lock to accept the change")]
    LockConflict {
        /// Scenario.
        name: String,
        /// What changed.
        reason: String,
        /// What the lock says.
        locked: String,
    },
    /// The lock file is unreadable.
    #[error("lock file {path}: {reason}")]
    Lock {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The user tried to grant more than the entry declares.
    #[error("{name}: sandbox.{key}: {reason}")]
    Widened {
        /// Scenario.
        name: String,
        /// The sandbox key.
        key: String,
        /// What was too wide.
        reason: String,
    },
    /// The cache could not be written.
    #[error("cache {path}: {source}")]
    Cache {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A scenario reference: `namespace:name` with an optional semver requirement after `@`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioRef {
    /// `namespace:name`.
    pub name: String,
    /// Version requirement (`1.2` means `^1.2`).
    pub version: Option<String>,
}

impl ScenarioRef {
    /// Parses `acme:checkout@1.2`; `None` when `text` does not look like a registry reference
    /// (e.g. it is a file path).
    pub fn parse(text: &str) -> Option<ScenarioRef> {
        let (name, version) = match text.split_once('@') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (text, None),
        };
        let (ns, n) = name.split_once(':')?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        (ok(ns) && ok(n)).then(|| ScenarioRef {
            name: name.to_string(),
            version,
        })
    }
}

/// A loaded index with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedIndex {
    /// Path or URL of the index.
    pub location: String,
    /// Its entries.
    pub index: Index,
}

/// Reads an index from a path or an `http://` URL and validates every entry.
pub async fn load_index(location: &str) -> Result<LoadedIndex, RegistryError> {
    let err = |reason: String| RegistryError::Index {
        location: location.to_string(),
        reason,
    };
    let text = if location.starts_with("http://") || location.starts_with("https://") {
        String::from_utf8(download(location).await.map_err(err)?).map_err(|e| err(e.to_string()))?
    } else {
        std::fs::read_to_string(location).map_err(|e| err(e.to_string()))?
    };
    let index: Index = toml::from_str(&text).map_err(|e| err(e.message().to_string()))?;
    for e in &index.scenario {
        validate_entry(e).map_err(|r| err(format!("scenario {}@{}: {r}", e.name, e.version)))?;
    }
    Ok(LoadedIndex {
        location: location.to_string(),
        index,
    })
}

fn validate_entry(e: &Entry) -> Result<(), String> {
    if ScenarioRef::parse(&e.name).is_none_or(|r| r.version.is_some()) {
        return Err(format!("name '{}' is not namespace:name", e.name));
    }
    semver::Version::parse(&e.version).map_err(|x| format!("version '{}': {x}", e.version))?;
    if !valid_digest(&e.digest) {
        return Err(format!(
            "digest '{}' is not sha256:<64 hex digits>",
            e.digest
        ));
    }
    let supported = e
        .world
        .strip_prefix("volley:scenario/scenario@0.1.")
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p <= 2);
    if !supported {
        return Err(format!(
            "world '{}' is not one this host runs (volley:scenario/scenario@0.1.0 to 0.1.3)",
            e.world
        ));
    }
    for h in &e.capabilities.allowed_hosts {
        HostPattern::parse(h).map_err(|x| x.to_string())?;
    }
    Ok(())
}

/// The entry `r` resolves to: the highest version matching its requirement, or the locked
/// version when the lock pins one that still matches.
pub fn resolve<'a>(
    indexes: &'a [LoadedIndex],
    r: &ScenarioRef,
    lock: &Lock,
) -> Result<(&'a LoadedIndex, &'a Entry), RegistryError> {
    let req = match &r.version {
        Some(v) => Some(
            semver::VersionReq::parse(v).map_err(|e| RegistryError::NotFound {
                name: r.name.clone(),
                version: Some(format!("{v} ({e})")),
                searched: String::new(),
            })?,
        ),
        None => None,
    };
    let locked = lock.get(&r.name);
    let mut best: Option<(&LoadedIndex, &Entry, semver::Version)> = None;
    for idx in indexes {
        for e in idx.index.scenario.iter().filter(|e| e.name == r.name) {
            let Ok(v) = semver::Version::parse(&e.version) else {
                continue;
            };
            if req.as_ref().is_some_and(|q| !q.matches(&v)) {
                continue;
            }
            if let Some(l) = locked {
                if l.version == e.version {
                    return Ok((idx, e));
                }
            }
            if best.as_ref().is_none_or(|(_, _, b)| v > *b) {
                best = Some((idx, e, v));
            }
        }
    }
    best.map(|(i, e, _)| (i, e))
        .ok_or_else(|| RegistryError::NotFound {
            name: r.name.clone(),
            version: r.version.clone(),
            searched: indexes
                .iter()
                .map(|i| i.location.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Checks `entry` against the lock (same digest, no wider capabilities) and records it.
pub fn check_and_pin(entry: &Entry, lock: &mut Lock) -> Result<(), RegistryError> {
    if let Some(l) = lock.get(&entry.name) {
        if l.version == entry.version && l.digest != entry.digest {
            return Err(RegistryError::LockConflict {
                name: entry.name.clone(),
                reason: format!("version {} now has digest {}", entry.version, entry.digest),
                locked: format!("{} {}", l.version, l.digest),
            });
        }
        let wider = entry.capabilities.widenings(&l.capabilities);
        if !wider.is_empty() {
            return Err(RegistryError::LockConflict {
                name: entry.name.clone(),
                reason: format!("capabilities widened: {}", wider.join(", ")),
                locked: l.capabilities_hash.clone(),
            });
        }
    }
    lock.set(Locked {
        name: entry.name.clone(),
        version: entry.version.clone(),
        digest: entry.digest.clone(),
        capabilities_hash: entry.capabilities.hash(),
        capabilities: entry.capabilities.clone(),
    });
    Ok(())
}

/// The content-addressed cache directory: `$VOLLEY_CACHE_DIR/registry` or
/// `~/.cache/volley/registry`.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("VOLLEY_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("volley")))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("volley"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("volley"));
    base.join("registry")
}

/// Returns the verified component bytes of `entry`, from the cache or downloaded (then cached).
/// Nothing unverified is ever stored under its final name.
pub async fn fetch(
    idx: &LoadedIndex,
    entry: &Entry,
    cache: &Path,
) -> Result<Vec<u8>, RegistryError> {
    let hexdigest = entry.digest.trim_start_matches("sha256:");
    let path = cache.join("sha256").join(format!("{hexdigest}.wasm"));
    if let Ok(bytes) = std::fs::read(&path) {
        if digest_of(&bytes) == entry.digest {
            return Ok(bytes);
        }
        // A corrupted cache entry is replaced by a fresh download.
        let _ = std::fs::remove_file(&path);
    }
    let fetch_err = |reason: String| RegistryError::Fetch {
        source_ref: entry.source.clone(),
        reason,
    };
    let bytes = if let Some(reference) = entry.source.strip_prefix("oci://") {
        oci::pull(reference).await.map_err(fetch_err)?
    } else if entry.source.starts_with("http://") || entry.source.starts_with("https://") {
        download(&entry.source).await.map_err(fetch_err)?
    } else if idx.location.starts_with("http://") || idx.location.starts_with("https://") {
        let base = idx
            .location
            .rsplit_once('/')
            .map_or(idx.location.as_str(), |(b, _)| b);
        download(&format!("{base}/{}", entry.source))
            .await
            .map_err(fetch_err)?
    } else {
        let dir = Path::new(&idx.location).parent().unwrap_or(Path::new("."));
        std::fs::read(dir.join(&entry.source)).map_err(|e| fetch_err(e.to_string()))?
    };
    let actual = digest_of(&bytes);
    if actual != entry.digest {
        return Err(RegistryError::DigestMismatch {
            name: entry.name.clone(),
            version: entry.version.clone(),
            expected: entry.digest.clone(),
            actual,
        });
    }
    let cache_err = |source| RegistryError::Cache {
        path: path.clone(),
        source,
    };
    let dir = path.parent().unwrap_or(cache);
    std::fs::create_dir_all(dir).map_err(cache_err)?;
    let tmp = dir.join(format!(".{hexdigest}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &bytes).map_err(cache_err)?;
    std::fs::rename(&tmp, &path).map_err(cache_err)?;
    Ok(bytes)
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// GETs `url` (http or https, system roots) and returns the body.
pub async fn download(url: &str) -> Result<Vec<u8>, String> {
    let res = reqwest::Client::new()
        .get(url)
        .timeout(std::time::Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| format!("{e}"))?;
    if !res.status().is_success() {
        return Err(format!("HTTP status {}", res.status().as_u16()));
    }
    res.bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| e.to_string())
}

/// The sandbox for a registry scenario: the entry's capabilities, narrowed by the user's.
/// Granting more than the entry declares is an error.
pub fn narrow(
    entry: &Entry,
    user: &Sandbox,
    user_hosts_given: bool,
) -> Result<Sandbox, RegistryError> {
    let caps: &Capabilities = &entry.capabilities;
    let widened = |key: &str, reason: String| RegistryError::Widened {
        name: entry.name.clone(),
        key: key.to_string(),
        reason,
    };
    let declared: Vec<HostPattern> = caps
        .allowed_hosts
        .iter()
        .filter_map(|h| HostPattern::parse(h).ok())
        .collect();
    let allowed_hosts = if user_hosts_given {
        for h in &user.allowed_hosts {
            if !declared
                .iter()
                .any(|d| d.as_str() == h.as_str() || d.as_str() == "*")
            {
                return Err(widened(
                    "allowed-hosts",
                    format!(
                        "'{}' is not among the hosts the entry declares ({})",
                        h.as_str(),
                        caps.allowed_hosts.join(", ")
                    ),
                ));
            }
        }
        user.allowed_hosts.clone()
    } else {
        declared
    };
    let entry_memory = caps.max_memory_mib.map(|m| m << 20);
    let max_memory = match entry_memory {
        Some(m) => m.min(user.max_memory),
        None => user.max_memory,
    };
    let min_dur = |key: &str,
                   entry: Option<crate::config::Dur>,
                   user: Option<std::time::Duration>| {
        match (entry.map(|d| d.0), user) {
            (Some(e), Some(u)) if u > e => Err(widened(
                key,
                format!("{u:?} is more than the entry's {e:?}"),
            )),
            (Some(e), Some(u)) => Ok(Some(u.min(e))),
            (e, u) => Ok(u.or(e)),
        }
    };
    Ok(Sandbox {
        allowed_hosts,
        max_memory,
        max_iteration_duration: min_dur(
            "max-iteration-duration",
            caps.max_iteration_duration,
            user.max_iteration_duration,
        )?,
        cpu_budget: min_dur("cpu-budget", caps.cpu_budget, user.cpu_budget)?,
        allow_imports: user.allow_imports.clone(),
    })
}

#[cfg(test)]
mod tests;
