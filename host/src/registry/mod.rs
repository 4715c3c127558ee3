//! Shared scenario registries: resolve `namespace:name[@version]` through index files, download
//! the component, verify its sha256 digest before anything compiles it, keep it in a
//! content-addressed cache and pin it in `volley.lock`. Capabilities from the entry bound the
//! sandbox: the user's grant can only narrow them.

pub mod commands;
pub mod index;
pub mod lock;
pub mod oci;
pub mod transfer;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use index::{hex, valid_digest, Capabilities, Entry, Index};
use lock::{Lock, Locked};
use transfer::{LimitError, Limits, TransferError};

use crate::logging::{self, Level};
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
    /// An entry's source could not be read, or was refused.
    #[error("{name}@{version}: source '{source_ref}': {reason}")]
    Source {
        /// Scenario.
        name: String,
        /// Version.
        version: String,
        /// The entry's source.
        source_ref: String,
        /// What went wrong.
        reason: TransferError,
    },
    /// A file could not be read or published.
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
    #[error(
        "{name}: {reason} (volley.lock pins {locked}); run with --update-lock to accept the change"
    )]
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

/// How a run treats registries: what a download may cost and whether the lock may change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Size cap and timeouts of every download.
    pub limits: Limits,
    /// `--update-lock`: re-resolve and re-pin instead of refusing a change.
    pub update_lock: bool,
}

impl Policy {
    /// The policy of a run: the cap `registry-max-download-mib` (default when `None`) and
    /// `--update-lock`.
    pub fn new(max_download_mib: Option<u64>, update_lock: bool) -> Result<Policy, LimitError> {
        Ok(Policy {
            limits: Limits::with_max_mib(max_download_mib)?,
            update_lock,
        })
    }
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

/// Reads an index from a path or an `http(s)://` URL within `limits` and validates every entry.
pub async fn load_index(location: &str, limits: &Limits) -> Result<LoadedIndex, RegistryError> {
    let err = |reason: String| RegistryError::Index {
        location: location.to_string(),
        reason,
    };
    let bytes = if is_url(location) {
        transfer::download(location, limits).await
    } else {
        let (path, limits) = (PathBuf::from(location), *limits);
        tokio::task::spawn_blocking(move || transfer::read_regular_file(&path, &limits))
            .await
            .map_err(|e| err(e.to_string()))?
    };
    let text = String::from_utf8(bytes.map_err(|e| err(e.to_string()))?)
        .map_err(|e| err(e.to_string()))?;
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
    if !world_supported(&e.world) {
        return Err(format!(
            "world '{}' is not one this host runs ({WORLD}@{} to {})",
            e.world,
            oldest_world(),
            crate::vu::WORLD_VERSION
        ));
    }
    for h in &e.capabilities.allowed_hosts {
        HostPattern::parse(h).map_err(|x| x.to_string())?;
    }
    Ok(())
}

/// The world registry entries target.
const WORLD: &str = "volley:scenario/scenario";

/// Whether this host runs `world`: [`WORLD`] at a version from [`oldest_world`] up to the host's
/// own [`crate::vu::WORLD_VERSION`] (same major and minor, patch no higher).
fn world_supported(world: &str) -> bool {
    let Ok(host) = semver::Version::parse(crate::vu::WORLD_VERSION) else {
        return false;
    };
    world
        .strip_prefix(WORLD)
        .and_then(|w| w.strip_prefix('@'))
        .and_then(|v| semver::Version::parse(v).ok())
        .is_some_and(|v| {
            v.pre.is_empty()
                && (v.major, v.minor) == (host.major, host.minor)
                && v.patch <= host.patch
        })
}

/// The first version of the host's world series: `0.1.0` for `0.1.3`.
fn oldest_world() -> String {
    let v = crate::vu::WORLD_VERSION;
    let series = v.rsplit_once('.').map_or(v, |(s, _)| s);
    format!("{series}.0")
}

/// The entry `r` resolves to: the highest version matching its requirement, or the locked
/// version when the lock pins one that still matches (unless `update`: then the lock is not
/// consulted, and [`check_and_pin`] re-pins).
pub fn resolve<'a>(
    indexes: &'a [LoadedIndex],
    r: &ScenarioRef,
    lock: &Lock,
    update: bool,
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
    let locked = lock.get(&r.name).filter(|_| !update);
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

/// Checks `entry` against the lock and records it. A locked name accepts only its locked
/// digest and no wider capabilities; with `update` any change is accepted (and reported).
pub fn check_and_pin(entry: &Entry, lock: &mut Lock, update: bool) -> Result<(), RegistryError> {
    if let Some(l) = lock.get(&entry.name) {
        let changes = lock_changes(l, entry);
        if !changes.is_empty() {
            if !update {
                return Err(RegistryError::LockConflict {
                    name: entry.name.clone(),
                    reason: changes.join("; "),
                    locked: format!("{} {}", l.version, l.digest),
                });
            }
            logging::host(
                Level::Warn,
                &format!(
                    "{}: --update-lock: {} (volley.lock pinned {} {})",
                    entry.name,
                    changes.join("; "),
                    l.version,
                    l.digest
                ),
            );
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

/// How `entry` departs from the pin `l`: another digest, wider capabilities (empty: none).
fn lock_changes(l: &Locked, entry: &Entry) -> Vec<String> {
    let mut changes = Vec::new();
    if l.digest != entry.digest {
        changes.push(if l.version == entry.version {
            format!("version {} now has digest {}", entry.version, entry.digest)
        } else {
            format!(
                "resolves to version {} with digest {}, not the locked digest {}",
                entry.version, entry.digest, l.digest
            )
        });
    }
    let wider = entry.capabilities.widenings(&l.capabilities);
    if !wider.is_empty() {
        changes.push(format!("capabilities widened: {}", wider.join(", ")));
    }
    changes
}

/// The content-addressed cache directory (`registry` under the cache root), when only this
/// user can write it.
pub fn cache_dir() -> Option<PathBuf> {
    crate::cache::dir("registry")
}

/// Returns the verified component bytes of `entry`, from `cache` (if any) or downloaded within
/// `limits` (then cached). Nothing unverified is ever stored under its final name.
pub async fn fetch(
    idx: &LoadedIndex,
    entry: &Entry,
    cache: Option<&Path>,
    limits: &Limits,
) -> Result<Vec<u8>, RegistryError> {
    let hexdigest = entry.digest.trim_start_matches("sha256:");
    let cached = cache.map(|c| c.join("sha256").join(format!("{hexdigest}.wasm")));
    if let Some(path) = &cached {
        if let Ok(bytes) = transfer::read_regular_file(path, limits) {
            if digest_of(&bytes) == entry.digest {
                return Ok(bytes);
            }
            // A corrupted cache entry is replaced by a fresh download.
            let _ = std::fs::remove_file(path);
        }
    }
    let bytes = read_source(idx, entry, limits)
        .await
        .map_err(|reason| RegistryError::Source {
            name: entry.name.clone(),
            version: entry.version.clone(),
            source_ref: entry.source.clone(),
            reason,
        })?;
    let actual = digest_of(&bytes);
    if actual != entry.digest {
        return Err(RegistryError::DigestMismatch {
            name: entry.name.clone(),
            version: entry.version.clone(),
            expected: entry.digest.clone(),
            actual,
        });
    }
    if let Some(path) = &cached {
        store(path, hexdigest, &bytes)?;
    }
    Ok(bytes)
}

/// Reads `entry`'s source within `limits`: an OCI artifact, a URL, a path relative to an index
/// served over HTTP, or a regular file under a local index's directory.
async fn read_source(
    idx: &LoadedIndex,
    entry: &Entry,
    limits: &Limits,
) -> Result<Vec<u8>, TransferError> {
    if let Some(reference) = entry.source.strip_prefix("oci://") {
        oci::pull(reference, limits).await
    } else if is_url(&entry.source) {
        transfer::download(&entry.source, limits).await
    } else if is_url(&idx.location) {
        let base = idx
            .location
            .rsplit_once('/')
            .map_or(idx.location.as_str(), |(b, _)| b);
        transfer::download(&format!("{base}/{}", entry.source), limits).await
    } else {
        let dir = Path::new(&idx.location).parent().unwrap_or(Path::new("."));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        transfer::read_local_source(dir, &entry.source, limits).await
    }
}

/// Whether `location` is an `http://` or `https://` URL.
fn is_url(location: &str) -> bool {
    location.starts_with("http://") || location.starts_with("https://")
}

/// Stores verified `bytes` at `path` (temp file, then rename).
fn store(path: &Path, hexdigest: &str, bytes: &[u8]) -> Result<(), RegistryError> {
    let cache_err = |source| RegistryError::Cache {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(cache_err)?;
    let tmp = dir.join(format!(".{hexdigest}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(cache_err)?;
    std::fs::rename(&tmp, path).map_err(cache_err)
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
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
            if !declared.iter().any(|d| d.contains(h)) {
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
                   entry: Option<crate::duration::Dur>,
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
