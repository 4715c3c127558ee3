//! Turns what a VU does into k6's metric samples with k6's system tags, written to the VU's own
//! buffer. Tag sets are interned through a small VU-local cache, so a request with tags seen
//! before costs no lock and no allocation beyond the cache key lookup.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::metrics::{
    builtin, ms_since, MetricId, Sample, SampleBuffer, SystemTags, TagSetId, Tags,
};
use crate::transport::Outcome;

/// Most tag sets a VU caches before it starts over (bounds memory with dynamic URLs).
const CACHE_LIMIT: usize = 4096;

/// A VU's metric recorder.
pub struct Recorder {
    buffer: Arc<SampleBuffer>,
    tags: Tags,
    base: Vec<(String, String)>,
    cache: HashMap<String, TagSetId>,
    key: String,
    batch: Vec<Sample>,
    origin: Instant,
    system: SystemTags,
    /// Open groups: the path so far (`::a::b`) and when each was entered.
    groups: Vec<(String, Instant)>,
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
    /// A recorder writing to `buffer`; `base` tags (the scenario and its tags) go on every sample.
    /// Sample times count from `origin` (the aggregate's start).
    pub fn new(
        buffer: Arc<SampleBuffer>,
        tags: Tags,
        base: Vec<(String, String)>,
        origin: Instant,
        system: SystemTags,
    ) -> Self {
        Recorder {
            groups: Vec::new(),
            system,
            buffer,
            tags,
            base,
            cache: HashMap::new(),
            key: String::new(),
            batch: Vec::with_capacity(12),
            origin,
        }
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
        if self.cache.len() >= CACHE_LIMIT {
            self.cache.clear();
        }
        self.cache.insert(self.key.clone(), id);
        id
    }

    /// Records one HTTP request: `http_reqs`, `http_req_failed`, the timing trends, and bytes.
    pub fn http(&mut self, req: &RequestInfo<'_>, outcome: &Outcome) {
        let name = req
            .tags
            .iter()
            .find(|(k, _)| k == "name")
            .map_or(req.url, |(_, v)| v.as_str());
        let mut extra: Vec<(&str, &str)> =
            vec![("method", req.method), ("url", req.url), ("name", name)];
        let status;
        let code;
        let error;
        match &outcome.result {
            Ok(ex) => {
                status = ex.status.to_string();
                extra.push(("status", &status));
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
        let tags = if self.system.allows("check") {
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

    /// Enters group `name` inside the current one.
    pub fn enter_group(&mut self, name: &str) {
        let parent = self.groups.last().map_or("", |(p, _)| p.as_str());
        let path = format!("{parent}::{name}");
        self.groups.push((path, Instant::now()));
    }

    /// Leaves the innermost group, recording its `group_duration` (tagged with its own path).
    pub fn exit_group(&mut self) {
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
    }

    fn flush(&mut self) {
        self.buffer.extend(&self.batch);
        self.batch.clear();
    }
}
