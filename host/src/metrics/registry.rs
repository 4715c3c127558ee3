//! The metrics one test knows: k6's built-ins, then the custom metrics it declares or its
//! scenarios create (`new Trend('x')`), with ids continuing from the built-ins. Owned by the
//! test (its `TestConfig` and the aggregate it records into), so two tests in
//! one process never see each other's metrics.

use std::sync::{Arc, RwLock, RwLockReadGuard};

use super::{Contains, MetricDef, MetricId, MetricKind, BUILTINS};

/// Most custom metrics a test may define.
pub const MAX_CUSTOM: usize = 1000;

/// Why a custom metric cannot be defined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    /// The name breaks k6's rule.
    #[error(
        "invalid metric name '{0}': use 1-128 letters, digits and '_', not starting with a digit"
    )]
    InvalidName(String),
    /// The name exists with another type.
    #[error("metric '{name}' is already a {existing:?}, not a {wanted:?}")]
    KindMismatch {
        /// The name.
        name: String,
        /// Its type.
        existing: MetricKind,
        /// The type asked for.
        wanted: MetricKind,
    },
    /// Too many custom metrics.
    #[error("too many custom metrics (at most {MAX_CUSTOM})")]
    TooMany,
}

/// A test's metric definitions. Cheap to clone (shared); lookups take a read lock that only
/// the definition of a new custom metric contends.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    custom: Arc<RwLock<Vec<MetricDef>>>,
}

impl PartialEq for Registry {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.custom, &other.custom) || self.all() == other.all()
    }
}

impl Registry {
    /// A registry with only the built-ins.
    pub fn new() -> Self {
        Self::default()
    }

    /// The definition of `id`, which this registry issued.
    pub fn def(&self, id: MetricId) -> MetricDef {
        let i = id.0 as usize;
        match BUILTINS.get(i) {
            Some(d) => *d,
            None => self.read()[i - BUILTINS.len()],
        }
    }

    /// Finds a metric (built-in or custom) by name.
    pub fn by_name(&self, name: &str) -> Option<MetricId> {
        if let Some(i) = BUILTINS.iter().position(|d| d.name == name) {
            return Some(MetricId(i as u16));
        }
        self.read()
            .iter()
            .position(|d| d.name == name)
            .map(|i| MetricId((BUILTINS.len() + i) as u16))
    }

    /// Finds or defines a custom metric `name` of `kind` (k6's `new Trend(name, isTime)`).
    pub fn custom(
        &self,
        name: &str,
        kind: MetricKind,
        contains: Contains,
    ) -> Result<MetricId, MetricError> {
        let valid = !name.is_empty()
            && name.len() <= 128
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(MetricError::InvalidName(name.to_string()));
        }
        let existing = |id: MetricId, def: MetricDef| {
            if def.kind == kind {
                Ok(id)
            } else {
                Err(MetricError::KindMismatch {
                    name: name.to_string(),
                    existing: def.kind,
                    wanted: kind,
                })
            }
        };
        if let Some(id) = self.by_name(name) {
            return existing(id, self.def(id));
        }
        let mut custom = self.custom.write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = custom.iter().position(|d| d.name == name) {
            return existing(MetricId((BUILTINS.len() + i) as u16), custom[i]);
        }
        if custom.len() >= MAX_CUSTOM {
            return Err(MetricError::TooMany);
        }
        custom.push(MetricDef {
            // Bounded by MAX_CUSTOM per test, so leaking the names is bounded too.
            name: Box::leak(name.to_string().into_boxed_str()),
            kind,
            contains,
        });
        Ok(MetricId((BUILTINS.len() + custom.len() - 1) as u16))
    }

    /// Every metric defined so far, built-in and custom.
    pub fn all(&self) -> Vec<MetricDef> {
        BUILTINS
            .iter()
            .copied()
            .chain(self.read().iter().copied())
            .collect()
    }

    fn read(&self) -> RwLockReadGuard<'_, Vec<MetricDef>> {
        self.custom.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_tests_do_not_share_custom_metrics() {
        let a = Registry::new();
        let b = Registry::new();
        let id = a
            .custom("only_in_a", MetricKind::Trend, Contains::Time)
            .unwrap();
        assert_eq!(a.by_name("only_in_a"), Some(id));
        assert_eq!(a.def(id).name, "only_in_a");
        assert_eq!(b.by_name("only_in_a"), None);
        // The same name may have another type in another test.
        assert!(b
            .custom("only_in_a", MetricKind::Counter, Contains::Default)
            .is_ok());
        assert!(matches!(
            a.custom("only_in_a", MetricKind::Counter, Contains::Default),
            Err(MetricError::KindMismatch { .. })
        ));
    }
}
