//! Interned tag sets. A tag set is interned once (a short write lock on first sight) and then
//! referred to by a 4-byte id; VUs cache ids so the per-request path does not touch the lock.
//! The interner never evicts, so it is bounded: past [`MAX_TAG_SETS`] sets or [`MAX_TAG_BYTES`]
//! bytes of keys and values, new sets get [`TagSetId::OVERFLOW`], whose samples the aggregate
//! drops and counts.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// An interned, sorted list of `key:value` tags.
pub type TagSet = Arc<[(String, String)]>;

/// Id of an interned tag set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagSetId(pub u32);

impl TagSetId {
    /// Stands for a tag set that was not kept (a limit was reached): its samples are dropped.
    pub const OVERFLOW: TagSetId = TagSetId(u32::MAX);
}

/// Most distinct tag sets a run interns (all metrics together). An HTTP tag set is ~10 short
/// pairs, so this is tens of MB at most; 10× the per-metric series cap.
pub const MAX_TAG_SETS: usize = 100_000;
/// Most bytes of tag keys and values a run interns (long guest tags reach this before
/// [`MAX_TAG_SETS`]).
pub const MAX_TAG_BYTES: usize = 64 << 20;

/// The test's tag-set interner. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Tags {
    inner: Arc<RwLock<Interner>>,
}

#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<TagSet, TagSetId>,
    sets: Vec<TagSet>,
    /// Bytes of keys and values interned.
    bytes: usize,
}

impl Interner {
    /// Whether a new set of `bytes` fits under the run's limits.
    fn has_room(&self, bytes: usize) -> bool {
        self.sets.len() < MAX_TAG_SETS && self.bytes.saturating_add(bytes) <= MAX_TAG_BYTES
    }
}

impl Tags {
    /// A new, empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// Interns `tags` (any order; keys should be unique) and returns its id, or
    /// [`TagSetId::OVERFLOW`] when a new set would pass the run's limits.
    pub fn intern(&self, mut tags: Vec<(String, String)>) -> TagSetId {
        tags.sort();
        let bytes = tags.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        let set: TagSet = tags.into();
        {
            let r = self.read();
            if let Some(id) = r.ids.get(&set) {
                return *id;
            }
            if !r.has_room(bytes) {
                return TagSetId::OVERFLOW;
            }
        }
        let mut w = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = w.ids.get(&set) {
            return *id;
        }
        if !w.has_room(bytes) {
            return TagSetId::OVERFLOW;
        }
        let id = TagSetId(w.sets.len() as u32);
        w.bytes += bytes;
        w.sets.push(set.clone());
        w.ids.insert(set, id);
        id
    }

    /// The tag set behind `id` (empty for [`TagSetId::OVERFLOW`]).
    pub fn get(&self, id: TagSetId) -> TagSet {
        self.read()
            .sets
            .get(id.0 as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from([]))
    }

    /// A snapshot of all tag sets, indexed by id.
    pub fn all(&self) -> Vec<TagSet> {
        self.read().sets.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Interner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// k6's system tags; the ones Volley sets are enabled by default.
pub const SYSTEM_TAGS: [&str; 16] = [
    "proto",
    "subproto",
    "status",
    "method",
    "url",
    "name",
    "group",
    "check",
    "error",
    "error_code",
    "tls_version",
    "scenario",
    "service",
    "expected_response",
    "vu",
    "iter",
];

/// Which system tags samples carry (k6's `--system-tags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemTags(u32);

impl Default for SystemTags {
    /// k6's default set: everything but `vu` and `iter`.
    fn default() -> Self {
        SystemTags::parse(&SYSTEM_TAGS[..14]).unwrap_or(SystemTags(0))
    }
}

impl SystemTags {
    /// The set naming `tags`; an unknown name is returned as the error.
    pub fn parse<S: AsRef<str>>(tags: &[S]) -> Result<SystemTags, String> {
        let mut bits = 0u32;
        for t in tags {
            let t = t.as_ref().trim();
            let i = SYSTEM_TAGS
                .iter()
                .position(|s| *s == t)
                .ok_or_else(|| t.to_string())?;
            bits |= 1 << i;
        }
        Ok(SystemTags(bits))
    }

    /// Whether system tag `key` is enabled (keys that are not system tags always are).
    pub fn allows(self, key: &str) -> bool {
        system_tag_index(key).is_none_or(|i| self.0 & (1 << i) != 0)
    }
}

/// `key`'s index in [`SYSTEM_TAGS`]. A `match` the compiler turns into a length switch: this
/// runs for each tag of every request.
fn system_tag_index(key: &str) -> Option<usize> {
    Some(match key {
        "proto" => 0,
        "subproto" => 1,
        "status" => 2,
        "method" => 3,
        "url" => 4,
        "name" => 5,
        "group" => 6,
        "check" => 7,
        "error" => 8,
        "error_code" => 9,
        "tls_version" => 10,
        "scenario" => 11,
        "service" => 12,
        "expected_response" => 13,
        "vu" => 14,
        "iter" => 15,
        _ => return None,
    })
}

/// Whether `set` contains every `key:value` pair of `filter`.
pub fn matches(set: &[(String, String)], filter: &[(String, String)]) -> bool {
    filter
        .iter()
        .all(|(k, v)| set.iter().any(|(sk, sv)| sk == k && sv == v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn interning_is_order_independent_and_stable() {
        let tags = Tags::new();
        let a = tags.intern(t(&[("status", "200"), ("method", "GET")]));
        let b = tags.intern(t(&[("method", "GET"), ("status", "200")]));
        let c = tags.intern(t(&[("method", "POST")]));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(tags.get(a)[0].0, "method");
    }

    #[test]
    fn every_system_tag_has_its_own_bit() {
        for (i, key) in SYSTEM_TAGS.iter().enumerate() {
            assert_eq!(system_tag_index(key), Some(i), "{key}");
            let only = SystemTags::parse(&[key]).unwrap();
            assert!(only.allows(key));
            assert!(SYSTEM_TAGS.iter().filter(|k| only.allows(k)).count() == 1);
        }
        assert!(SystemTags::parse::<&str>(&[])
            .unwrap()
            .allows("not_a_system_tag"));
    }

    #[test]
    fn filter_matching() {
        let set = t(&[("method", "GET"), ("status", "200")]);
        assert!(matches(&set, &t(&[("status", "200")])));
        assert!(matches(&set, &[]));
        assert!(!matches(&set, &t(&[("status", "404")])));
    }

    #[test]
    fn interning_stops_at_the_run_limit() {
        let tags = Tags::new();
        let big = "x".repeat(MAX_TAG_BYTES / 2);
        assert_ne!(tags.intern(t(&[("a", &big)])), TagSetId::OVERFLOW);
        assert_eq!(tags.intern(t(&[("b", &big)])), TagSetId::OVERFLOW);
        assert_ne!(
            tags.intern(t(&[("a", &big)])),
            TagSetId::OVERFLOW,
            "known sets still resolve"
        );
        assert!(tags.get(TagSetId::OVERFLOW).is_empty());
        let many = Tags::new();
        for i in 0..MAX_TAG_SETS {
            assert_ne!(
                many.intern(t(&[("id", &i.to_string())])),
                TagSetId::OVERFLOW
            );
        }
        assert_eq!(many.intern(t(&[("id", "new")])), TagSetId::OVERFLOW);
        assert_eq!(many.all().len(), MAX_TAG_SETS);
    }
}
