//! `volley.lock`: which version, digest and capabilities each registry scenario resolved to.
//! A later run with the lock refuses a changed digest or widened capabilities.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::index::Capabilities;
use super::RegistryError;

/// The lock file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// One entry per scenario name.
    #[serde(default)]
    pub scenario: Vec<Locked>,
}

/// A pinned scenario.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Locked {
    /// `namespace:name`.
    pub name: String,
    /// The resolved version.
    pub version: String,
    /// Its digest.
    pub digest: String,
    /// Hash of its capabilities.
    pub capabilities_hash: String,
    /// Its capabilities.
    pub capabilities: Capabilities,
}

impl Lock {
    /// Reads the lock at `path`; an absent file is an empty lock.
    pub fn read(path: &Path) -> Result<Lock, RegistryError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| RegistryError::Lock {
                path: path.to_path_buf(),
                reason: e.message().to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock::default()),
            Err(e) => Err(RegistryError::Lock {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        }
    }

    /// Writes the lock atomically (temp file + rename).
    pub fn write(&self, path: &Path) -> Result<(), RegistryError> {
        let err = |e: String| RegistryError::Lock {
            path: path.to_path_buf(),
            reason: e,
        };
        let text = toml::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        let tmp = path.with_extension("lock.tmp");
        std::fs::write(
            &tmp,
            format!("# Written by volley: pinned registry scenarios.\n{text}"),
        )
        .map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
    }

    /// The pin for `name`.
    pub fn get(&self, name: &str) -> Option<&Locked> {
        self.scenario.iter().find(|l| l.name == name)
    }

    /// Records (or replaces) the pin for `locked.name`.
    pub fn set(&mut self, locked: Locked) {
        self.scenario.retain(|l| l.name != locked.name);
        self.scenario.push(locked);
        self.scenario.sort_by(|a, b| a.name.cmp(&b.name));
    }
}
