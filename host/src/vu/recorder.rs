//! Turns what a VU does into k6's metric samples with k6's system tags, written to the VU's own
//! buffer. Tag sets are interned through a small VU-local cache, so a request with tags seen
//! before costs no lock and no allocation beyond the cache key lookup.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::logging::{self, Level};
use crate::metrics::{
    builtin, ms_since, Aggregate, MetricId, Registry, Sample, SampleBuffer, SystemTags, TagSetId,
    Tags,
};
use crate::transport::Outcome;

/// Most tag sets a VU caches before it starts over (bounds memory with dynamic URLs).
const CACHE_LIMIT: usize = 4096;
/// Bytes of cache keys a VU holds before it starts over (long guest tags would otherwise make
/// the cache the largest thing a VU owns).
const CACHE_BYTES: usize = 256 << 10;
/// Longest key the cache keeps; longer tag lists are interned on every use.
const CACHE_KEY_MAX: usize = 4096;
/// Deepest group nesting. k6 has no limit, but every sample inside a group carries its whole
/// path; a deeper `enter` (and everything inside it) is ignored, with one warning.
pub const MAX_GROUP_DEPTH: usize = 32;
/// Longest group name in bytes; a longer name is refused as a too-deep group is.
pub const MAX_GROUP_NAME_BYTES: usize = 1024;
/// Longest check name in bytes; a longer check's result is dropped and counted with the
/// samples the tag-set limits drop, with one warning.
pub const MAX_CHECK_NAME_BYTES: usize = 1024;

/// Whether a refused group or check was already reported (once per run).
static GROUP_WARNED: AtomicBool = AtomicBool::new(false);
static CHECK_WARNED: AtomicBool = AtomicBool::new(false);

/// Writes `msg` as a host warning the first time `flag` is raised.
fn warn_once(flag: &AtomicBool, msg: impl FnOnce() -> String) {
    if !flag.swap(true, Ordering::Relaxed) {
        logging::host(Level::Warn, &msg());
    }
}

/// `status` in decimal, written into `buf` (a status tag on every request, without allocating).
fn status_text(status: u16, buf: &mut [u8; 5]) -> &str {
    let mut n = status;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// A VU's metric recorder.
pub struct Recorder {
    buffer: Arc<SampleBuffer>,
    tags: Tags,
    metrics: Registry,
    base: Vec<(String, String)>,
    cache: HashMap<String, TagSetId>,
    cache_bytes: usize,
    key: String,
    batch: Vec<Sample>,
    origin: Instant,
    system: SystemTags,
    /// Open groups: the path so far (`::a::b`) and when each was entered.
    groups: Vec<(String, Instant)>,
    /// Refused `enter`s still open (innermost), whose `exit`s are ignored too.
    refused_groups: u32,
}

/// What identifies a request for tagging.
pub struct RequestInfo<'a> {
    /// Method.
    pub method: &'a str,
    /// URL.
    pub url: &'a str,
    /// Guest-provided tags (`name` overrides the URL for grouping).
    pub tags: &'a [(String, String)],
    /// Whether a response's status is one the test expects (k6's `expectedStatuses`).
    pub expected: bool,
}

impl Recorder {
    /// A recorder writing to a new buffer of `agg`, with its tags, metrics and clock; `base`
    /// tags (the scenario and its tags) go on every sample.
    pub fn new(agg: &Aggregate, base: Vec<(String, String)>, system: SystemTags) -> Self {
        let mut recorder = Recorder {
            buffer: agg.buffer(),
            tags: agg.tags().clone(),
            metrics: agg.metrics().clone(),
            origin: agg.origin().0,
            groups: Vec::new(),
            refused_groups: 0,
            cache_bytes: 0,
            system,
            base,
            cache: HashMap::new(),
            key: String::new(),
            batch: Vec::with_capacity(12),
        };
        // The base set exists from the start, so a full interner never drops iterations.
        recorder.tag_set_exact(&[]);
        recorder
    }

    /// Interns base tags plus `extra`, using the VU-local cache.
    fn tag_set(&mut self, extra: &[(&str, &str)]) -> TagSetId {
        let group = match self.groups.last() {
            Some((path, _)) if self.system.allows("group") => Some(path.clone()),
            _ => None,
        };
        match group {
            Some(path) => {
                let mut with_group = extra.to_vec();
                with_group.push(("group", path.as_str()));
                self.tag_set_exact(&with_group)
            }
            None => self.tag_set_exact(extra),
        }
    }

    /// Interns base tags plus exactly `extra`.
    fn tag_set_exact(&mut self, extra: &[(&str, &str)]) -> TagSetId {
        self.key.clear();
        for (k, v) in extra {
            self.key.push_str(k);
            self.key.push('\u{1f}');
            self.key.push_str(v);
            self.key.push('\u{1e}');
        }
        if let Some(id) = self.cache.get(self.key.as_str()) {
            return *id;
        }
        let mut set = self.base.clone();
        for (k, v) in extra {
            set.retain(|(bk, _)| bk != k);
            set.push((k.to_string(), v.to_string()));
        }
        let id = self.tags.intern(set);
        self.remember(id);
        id
    }

    /// Caches `id` under the current key, starting over when the cache is full.
    fn remember(&mut self, id: TagSetId) {
        if self.key.len() > CACHE_KEY_MAX {
            return;
        }
        if self.cache.len() >= CACHE_LIMIT || self.cache_bytes + self.key.len() > CACHE_BYTES {
            self.cache.clear();
            self.cache_bytes = 0;
        }
        self.cache_bytes += self.key.len();
        self.cache.insert(self.key.clone(), id);
    }

    /// Records one HTTP request: `http_reqs`, `http_req_failed`, the timing trends, and bytes.
    pub fn http(&mut self, req: &RequestInfo<'_>, outcome: &Outcome) {
        let name = req
            .tags
            .iter()
            .find(|(k, _)| k == "name")
            .map_or(req.url, |(_, v)| v.as_str());
        // At most 8 system tags, then the guest's: one allocation, sized once.
        let mut extra: Vec<(&str, &str)> = Vec::with_capacity(8 + req.tags.len());
        extra.extend([("method", req.method), ("url", req.url), ("name", name)]);
        let mut digits = [0u8; 5];
        let code;
        let error;
        match &outcome.result {
            Ok(ex) => {
                extra.push(("status", status_text(ex.status, &mut digits)));
                extra.push(("proto", ex.proto));
                if let Some(v) = ex.tls_version {
                    extra.push(("tls_version", v));
                }
                extra.push((
                    "expected_response",
                    if req.expected { "true" } else { "false" },
                ));
            }
            Err(e) => {
                code = e.code().to_string();
                error = e.to_string();
                extra.push(("status", "0"));
                extra.push(("expected_response", "false"));
                extra.push(("error", &error));
                extra.push(("error_code", &code));
            }
        }
        extra.retain(|(k, _)| self.system.allows(k));
        for (k, v) in req.tags {
            extra.push((k, v));
        }
        let tags = self.tag_set(&extra);
        let at = ms_since(self.origin);
        let mut push = |metric: MetricId, value: f64| {
            self.batch.push(Sample {
                metric,
                tags,
                value,
                at,
            })
        };
        push(builtin::HTTP_REQS, 1.0);
        match &outcome.result {
            Ok(ex) => {
                let t = &ex.timings;
                push(builtin::HTTP_REQ_FAILED, f64::from(u8::from(!req.expected)));
                push(builtin::HTTP_REQ_DURATION, t.duration());
                push(builtin::HTTP_REQ_BLOCKED, t.blocked);
                push(builtin::HTTP_REQ_CONNECTING, t.connecting);
                push(builtin::HTTP_REQ_TLS_HANDSHAKING, t.tls_handshaking);
                push(builtin::HTTP_REQ_SENDING, t.sending);
                push(builtin::HTTP_REQ_WAITING, t.waiting);
                push(builtin::HTTP_REQ_RECEIVING, t.receiving);
            }
            Err(_) => push(builtin::HTTP_REQ_FAILED, 1.0),
        }
        push(builtin::DATA_SENT, outcome.bytes_sent as f64);
        push(builtin::DATA_RECEIVED, outcome.bytes_received as f64);
        self.flush();
    }

    /// Records one check result.
    pub fn check(&mut self, name: &str, passed: bool) {
        let tags = if name.len() > MAX_CHECK_NAME_BYTES {
            warn_once(&CHECK_WARNED, || {
                format!(
                    "a check name longer than {MAX_CHECK_NAME_BYTES} bytes was refused; \
                     its results are dropped"
                )
            });
            TagSetId::OVERFLOW
        } else if self.system.allows("check") {
            self.tag_set(&[("check", name)])
        } else {
            self.tag_set(&[])
        };
        self.buffer.push(Sample {
            metric: builtin::CHECKS,
            tags,
            value: f64::from(u8::from(passed)),
            at: ms_since(self.origin),
        });
    }

    /// Records one check result with the guest's extra `tags` (k6's `check(v, sets, tags)`).
    pub fn check_tagged(&mut self, name: &str, passed: bool, tags: &[(String, String)]) {
        if tags.is_empty() || name.len() > MAX_CHECK_NAME_BYTES {
            return self.check(name, passed);
        }
        let mut extra: Vec<(&str, &str)> =
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if self.system.allows("check") {
            extra.push(("check", name));
        }
        let tags = self.tag_set(&extra);
        self.buffer.push(Sample {
            metric: builtin::CHECKS,
            tags,
            value: f64::from(u8::from(passed)),
            at: ms_since(self.origin),
        });
    }

    /// The tags on every sample of this VU (the test's, the scenario's and the VU's own).
    pub fn base_tags(&self) -> &[(String, String)] {
        &self.base
    }

    /// Sets one of the tags on every sample of this VU from now on (k6's
    /// `exec.vu.metrics.tags[key] = value`).
    pub fn set_base_tag(&mut self, key: &str, value: &str) {
        match self.base.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.to_string(),
            None => self.base.push((key.to_string(), value.to_string())),
        }
        self.forget_tag_sets();
    }

    /// Removes one of the tags on every sample of this VU.
    pub fn remove_base_tag(&mut self, key: &str) {
        self.base.retain(|(k, _)| k != key);
        self.forget_tag_sets();
    }

    /// Empties the tag-set cache (its entries include the base tags) and interns the new base set.
    fn forget_tag_sets(&mut self) {
        self.cache.clear();
        self.cache_bytes = 0;
        self.tag_set_exact(&[]);
    }

    /// Records a completed iteration and its duration (ms).
    pub fn iteration(&mut self, duration_ms: f64) {
        let tags = self.tag_set(&[]);
        self.batch.push(Sample {
            metric: builtin::ITERATIONS,
            tags,
            value: 1.0,
            at: ms_since(self.origin),
        });
        self.batch.push(Sample {
            metric: builtin::ITERATION_DURATION,
            tags,
            value: duration_ms,
            at: ms_since(self.origin),
        });
        self.flush();
    }

    /// Records one value of an engine metric under the VU's base tags.
    pub fn sample(&mut self, metric: MetricId, value: f64) {
        let tags = self.tag_set(&[]);
        self.buffer.push(Sample {
            metric,
            tags,
            value,
            at: ms_since(self.origin),
        });
    }

    /// Records samples of a protocol beyond HTTP (WebSockets, gRPC, TCP) at one instant:
    /// `system` tags (kept when the test's `systemTags` allow them) plus the guest's `tags`.
    pub fn protocol(
        &mut self,
        system: &[(&str, &str)],
        tags: &[(String, String)],
        values: &[(MetricId, f64)],
    ) {
        let mut extra: Vec<(&str, &str)> = system
            .iter()
            .copied()
            .filter(|(k, _)| self.system.allows(k))
            .collect();
        extra.extend(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let tags = self.tag_set(&extra);
        let at = ms_since(self.origin);
        self.batch
            .extend(values.iter().map(|&(metric, value)| Sample {
                metric,
                tags,
                value,
                at,
            }));
        self.flush();
    }

    /// The test's metric definitions (custom metrics are defined through them).
    pub fn metrics(&self) -> &Registry {
        &self.metrics
    }

    /// Records a custom metric sample with the guest's extra tags.
    pub fn custom(&mut self, metric: MetricId, value: f64, tags: &[(String, String)]) {
        let extra: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let tags = self.tag_set(&extra);
        self.buffer.push(Sample {
            metric,
            tags,
            value,
            at: ms_since(self.origin),
        });
    }

    /// Enters group `name` inside the current one, unless it is too deep or its name too long
    /// (or it is inside a refused group): then samples keep the current group and the matching
    /// `exit` is ignored. `group.enter` has no error result, so the refusal is a host warning.
    pub fn enter_group(&mut self, name: &str) {
        if self.refused_groups > 0
            || self.groups.len() >= MAX_GROUP_DEPTH
            || name.len() > MAX_GROUP_NAME_BYTES
        {
            self.refused_groups = self.refused_groups.saturating_add(1);
            return warn_once(&GROUP_WARNED, || {
                format!(
                    "a group deeper than {MAX_GROUP_DEPTH} levels or with a name longer than \
                     {MAX_GROUP_NAME_BYTES} bytes was ignored (its samples keep the enclosing group)"
                )
            });
        }
        let parent = self.groups.last().map_or("", |(p, _)| p.as_str());
        let path = format!("{parent}::{name}");
        self.groups.push((path, Instant::now()));
    }

    /// Leaves the innermost group, recording its `group_duration` (tagged with its own path).
    pub fn exit_group(&mut self) {
        if self.refused_groups > 0 {
            self.refused_groups -= 1;
            return;
        }
        let Some((path, entered)) = self.groups.last().cloned() else {
            return;
        };
        let ms = entered.elapsed().as_secs_f64() * 1000.0;
        let tags = if self.system.allows("group") {
            self.tag_set_exact(&[("group", path.as_str())])
        } else {
            self.tag_set_exact(&[])
        };
        self.groups.pop();
        self.buffer.push(Sample {
            metric: builtin::GROUP_DURATION,
            tags,
            value: ms,
            at: ms_since(self.origin),
        });
    }

    /// Closes any group an iteration left open (e.g. it trapped inside one), without timing it.
    pub fn reset_groups(&mut self) {
        self.groups.clear();
        self.refused_groups = 0;
    }

    fn flush(&mut self) {
        self.buffer.extend(&self.batch);
        self.batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Aggregate;

    fn recorder() -> (Arc<Aggregate>, Recorder) {
        let agg = Aggregate::new(Tags::new(), Registry::new());
        let rec = Recorder::new(&agg, Vec::new(), SystemTags::default());
        (agg, rec)
    }

    #[test]
    fn status_tags_are_the_decimal_status() {
        for status in [0u16, 7, 42, 200, 404, 599, 1000, u16::MAX] {
            assert_eq!(status_text(status, &mut [0; 5]), status.to_string());
        }
    }

    #[test]
    fn groups_past_the_depth_or_name_limit_are_ignored_with_their_exits() {
        let (agg, mut rec) = recorder();
        for i in 0..MAX_GROUP_DEPTH + 100 {
            rec.enter_group(&format!("g{i}"));
        }
        assert_eq!(rec.groups.len(), MAX_GROUP_DEPTH);
        for _ in 0..100 {
            rec.exit_group();
        }
        assert_eq!(
            rec.groups.len(),
            MAX_GROUP_DEPTH,
            "refused exits leave real groups open"
        );
        rec.reset_groups();
        rec.enter_group(&"n".repeat(MAX_GROUP_NAME_BYTES + 1));
        rec.enter_group("inside a refused group");
        assert!(rec.groups.is_empty());
        rec.exit_group();
        rec.exit_group();
        rec.enter_group("ok");
        rec.exit_group();
        agg.collect();
        let by = agg.by_tag(builtin::GROUP_DURATION, "group");
        assert_eq!(by.len(), 1);
        assert_eq!(by[0].0, "::ok");
    }

    #[test]
    fn long_check_names_are_dropped_and_counted() {
        let (agg, mut rec) = recorder();
        rec.check("short", true);
        rec.check(&"c".repeat(MAX_CHECK_NAME_BYTES + 1), false);
        agg.collect();
        assert_eq!(agg.by_tag(builtin::CHECKS, "check").len(), 1);
        assert_eq!(agg.dropped_samples(), 1);
    }
}
