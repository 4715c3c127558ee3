//! Metrics: k6's built-in metric definitions, interned tag sets, VU-local sample buffers and the
//! aggregate they are merged into on a timer. Knows nothing of wasm, HTTP or executors.
//!
//! Hot path: a VU appends `Sample`s to its own buffer (an uncontended lock only it and the merge
//! timer touch). Tag sets are interned once per distinct set, so a sample is 16 bytes.

mod aggregate;
pub mod cap;
mod registry;
pub mod series;
mod tags;
pub mod thresholds;
mod trend;
mod value;
pub mod window;

use std::sync::{Arc, Mutex};

pub use aggregate::{ms_since, Aggregate, Delta};
pub use registry::{MetricError, Registry, MAX_CUSTOM};
pub use tags::{SystemTags, TagSet, TagSetId, Tags, MAX_TAG_BYTES, MAX_TAG_SETS, SYSTEM_TAGS};
pub use trend::{Trend, TrendError, TrendStats};
pub use value::MetricValue;

/// k6's four metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// A sum (`http_reqs`, `data_sent`).
    Counter,
    /// The last value, with min and max (`vus`).
    Gauge,
    /// Share of non-zero samples (`checks`, `http_req_failed`).
    Rate,
    /// A distribution (`http_req_duration`).
    Trend,
}

/// What a metric's values measure, for formatting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Contains {
    /// Plain numbers.
    Default,
    /// Milliseconds.
    Time,
    /// Bytes.
    Data,
}

/// Index of a metric in [`BUILTINS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricId(pub u16);

/// A metric's definition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    /// k6's name, e.g. `http_req_duration`.
    pub name: &'static str,
    /// Its type.
    pub kind: MetricKind,
    /// What its values measure.
    pub contains: Contains,
}

macro_rules! builtins {
    ($($id:ident = $idx:literal, $name:literal, $kind:ident, $contains:ident;)*) => {
        /// Ids of k6's built-in metrics.
        pub mod builtin {
            use super::MetricId;
            $(#[doc = concat!("`", $name, "`")] pub const $id: MetricId = MetricId($idx);)*
        }
        /// k6's built-in metrics, indexed by [`MetricId`].
        pub const BUILTINS: &[MetricDef] = &[
            $(MetricDef { name: $name, kind: MetricKind::$kind, contains: Contains::$contains },)*
        ];
    };
}

builtins! {
    VUS = 0, "vus", Gauge, Default;
    VUS_MAX = 1, "vus_max", Gauge, Default;
    ITERATIONS = 2, "iterations", Counter, Default;
    ITERATION_DURATION = 3, "iteration_duration", Trend, Time;
    DROPPED_ITERATIONS = 4, "dropped_iterations", Counter, Default;
    CHECKS = 5, "checks", Rate, Default;
    DATA_SENT = 6, "data_sent", Counter, Data;
    DATA_RECEIVED = 7, "data_received", Counter, Data;
    HTTP_REQS = 8, "http_reqs", Counter, Default;
    HTTP_REQ_FAILED = 9, "http_req_failed", Rate, Default;
    HTTP_REQ_DURATION = 10, "http_req_duration", Trend, Time;
    HTTP_REQ_BLOCKED = 11, "http_req_blocked", Trend, Time;
    HTTP_REQ_CONNECTING = 12, "http_req_connecting", Trend, Time;
    HTTP_REQ_TLS_HANDSHAKING = 13, "http_req_tls_handshaking", Trend, Time;
    HTTP_REQ_SENDING = 14, "http_req_sending", Trend, Time;
    HTTP_REQ_WAITING = 15, "http_req_waiting", Trend, Time;
    HTTP_REQ_RECEIVING = 16, "http_req_receiving", Trend, Time;
    ITERATION_LATENESS = 17, "iteration_lateness", Trend, Time;
    ITERATION_DURATION_INTENDED = 18, "iteration_duration_intended", Trend, Time;
    GROUP_DURATION = 19, "group_duration", Trend, Time;
    WS_SESSIONS = 20, "ws_sessions", Counter, Default;
    WS_CONNECTING = 21, "ws_connecting", Trend, Time;
    WS_SESSION_DURATION = 22, "ws_session_duration", Trend, Time;
    WS_MSGS_SENT = 23, "ws_msgs_sent", Counter, Default;
    WS_MSGS_RECEIVED = 24, "ws_msgs_received", Counter, Default;
    WS_PING = 25, "ws_ping", Trend, Time;
    GRPC_REQ_DURATION = 26, "grpc_req_duration", Trend, Time;
    GRPC_STREAMS = 27, "grpc_streams", Counter, Default;
    GRPC_STREAMS_MSGS_SENT = 28, "grpc_streams_msgs_sent", Counter, Default;
    GRPC_STREAMS_MSGS_RECEIVED = 29, "grpc_streams_msgs_received", Counter, Default;
}

impl MetricId {
    /// Whether this is a built-in metric.
    pub fn is_builtin(self) -> bool {
        (self.0 as usize) < BUILTINS.len()
    }
}

// `iteration_lateness` and `iteration_duration_intended` are Volley's, for arrival-rate
// scenarios: how late an iteration started against its scheduled time, and its duration measured
// from that scheduled time (coordinated-omission corrected, as wrk2 reports latency).

/// One measurement: a value of a metric under a tag set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Which metric.
    pub metric: MetricId,
    /// Its tags.
    pub tags: TagSetId,
    /// The value: ms for time, bytes for data, 0/1 for rates.
    pub value: f64,
    /// When it was taken: milliseconds since the aggregate started.
    pub at: u32,
}

/// A VU's own sample buffer, drained by the aggregate's merge timer.
#[derive(Debug, Default)]
pub struct SampleBuffer {
    samples: Mutex<Vec<Sample>>,
}

impl SampleBuffer {
    /// A new, shareable buffer.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Appends samples. Only the owning VU and the merge timer take this lock.
    pub fn extend(&self, samples: &[Sample]) {
        self.lock().extend_from_slice(samples);
    }

    /// Appends one sample.
    pub fn push(&self, sample: Sample) {
        self.lock().push(sample);
    }

    /// Moves the buffered samples into `out` (which should be empty), keeping capacity around.
    pub fn drain_into(&self, out: &mut Vec<Sample>) {
        std::mem::swap(&mut *self.lock(), out);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Sample>> {
        // A poisoned buffer only means a VU panicked mid-push; its samples are still valid.
        self.samples.lock().unwrap_or_else(|e| e.into_inner())
    }
}
