//! The registry index: a TOML file listing scenarios with their version, source, digest, target
//! world and capabilities. Unknown keys are rejected.

use serde::{Deserialize, Serialize};

use crate::duration::Dur;

/// A parsed index.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Scenario entries (`[[scenario]]`).
    #[serde(default)]
    pub scenario: Vec<Entry>,
}

/// One version of one scenario.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Entry {
    /// `namespace:name`.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// Relative path (to the index), `http(s)://…` or `oci://registry/repo:tag`.
    pub source: String,
    /// `sha256:<64 hex digits>` of the component.
    pub digest: String,
    /// The WIT world it targets, e.g. `volley:scenario/scenario@0.1.1`.
    pub world: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What it may do; the user's grant can only narrow it.
    #[serde(default)]
    pub capabilities: Capabilities,
}

/// Capabilities a registry entry declares (and a lock file records).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capabilities {
    /// Hosts it may call.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Memory per instance, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_mib: Option<u64>,
    /// Longest iteration.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_dur")]
    pub max_iteration_duration: Option<Dur>,
    /// Guest CPU per iteration.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_dur")]
    pub cpu_budget: Option<Dur>,
}

mod opt_dur {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::duration::format_duration;
    use crate::duration::Dur;

    pub fn serialize<S: Serializer>(d: &Option<Dur>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(d.0)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Dur>, D::Error> {
        Option::<Dur>::deserialize(d)
    }
}

impl Capabilities {
    /// A stable hash of the capabilities (`sha256:…` of their canonical TOML).
    pub fn hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut sorted = self.clone();
        sorted.allowed_hosts.sort();
        sorted.allowed_hosts.dedup();
        let text = toml::to_string(&sorted).unwrap_or_default();
        format!("sha256:{}", hex(&Sha256::digest(text.as_bytes())))
    }

    /// What `self` grants beyond `locked`, one description per widening (empty: not wider).
    pub fn widenings(&self, locked: &Capabilities) -> Vec<String> {
        let mut out: Vec<String> = self
            .allowed_hosts
            .iter()
            .filter(|h| !locked.allowed_hosts.contains(h))
            .map(|h| format!("allowed host '{h}'"))
            .collect();
        let wider = |now: Option<u128>, then: Option<u128>| match (now, then) {
            (None, Some(_)) => true,
            (Some(n), Some(t)) => n > t,
            _ => false,
        };
        if wider(
            self.max_memory_mib.map(u128::from),
            locked.max_memory_mib.map(u128::from),
        ) {
            out.push("max-memory-mib".into());
        }
        let ms = |d: Option<Dur>| d.map(|d| d.0.as_millis());
        if wider(
            ms(self.max_iteration_duration),
            ms(locked.max_iteration_duration),
        ) {
            out.push("max-iteration-duration".into());
        }
        if wider(ms(self.cpu_budget), ms(locked.cpu_budget)) {
            out.push("cpu-budget".into());
        }
        out
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `digest` is `sha256:` and 64 lower-case hex digits.
pub fn valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}
