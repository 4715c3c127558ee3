//! The shard protocol: what a shard (a child process running one execution segment) tells its
//! coordinator, and what the coordinator tells it back, over any byte stream (a pipe today, a
//! TCP connection tomorrow). `docs/design/009-sharding.md` describes it.
//!
//! Framing: the stream opens with [`MAGIC`] and a big-endian `u16` version; then each message is a
//! big-endian `u32` length and that many bytes of JSON. A reader refuses another version with
//! [`ProtocolError::Version`]: a change a reader of the old version would misread takes a new
//! version; new optional fields do not.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::metrics::{Contains, MetricKind, MetricValue, Trend};

/// The first bytes of every shard stream.
pub const MAGIC: [u8; 8] = *b"VOLLEYSH";
/// The protocol version this build speaks (2: `Ready`, `Start` and `Teardown`, so setup and
/// teardown run once per test and every shard starts its scenarios together; `Aborted`, so
/// one shard's `test.abort()` stops them all).
pub const VERSION: u16 = 2;
/// Largest message accepted (a tick of a run with every series at its cap is far below).
pub const MAX_MESSAGE: u32 = 64 << 20;

/// Why a shard stream cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The stream does not start with [`MAGIC`].
    #[error("not a Volley shard stream: it starts with {0:?}, not \"VOLLEYSH\"")]
    Magic(Vec<u8>),
    /// Another protocol version.
    #[error("shard protocol version {got} is not supported: this volley speaks version {VERSION}")]
    Version {
        /// The version the stream announced.
        got: u16,
    },
    /// A message longer than [`MAX_MESSAGE`].
    #[error("a shard message of {0} bytes is over the limit of {MAX_MESSAGE} bytes")]
    TooLarge(u32),
    /// A message that is not valid JSON of a known kind.
    #[error("a shard message cannot be decoded: {0}")]
    Decode(#[from] serde_json::Error),
    /// A message that contradicts what the stream said before (an unknown id, a wrong type).
    #[error("an invalid shard message: {0}")]
    Invalid(String),
    /// The stream ended inside the header or a message.
    #[error("the shard stream ended in the middle of a message")]
    Truncated,
    /// Reading failed.
    #[error("cannot read the shard stream: {0}")]
    Io(std::io::Error),
}

/// A shard's message to its coordinator.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Report {
    /// First message: who is speaking.
    Hello {
        /// The shard's index (0-based) among its coordinator's shards.
        index: u32,
        /// Its process id (on its own machine).
        pid: u32,
        /// The execution segment it runs, e.g. `1/4:2/4`.
        segment: String,
    },
    /// The shard's VUs are initialised; it waits for `Start`. The lifecycle shard (index 0) ran
    /// `setup` first and sends its data (`None`: setup is off).
    Ready {
        /// `setup`'s result.
        setup: Option<String>,
    },
    /// The script called `test.abort(reason)`: the coordinator stops every shard and the run
    /// exits as k6's ScriptAborted.
    Aborted {
        /// The reason given to `test.abort()`.
        reason: String,
    },
    /// Sent every 250 ms: what changed since the last tick.
    Tick(Tick),
    /// The run ended (after the last tick).
    Done(Outcome),
    /// The shard could not run the test.
    Failed {
        /// The error, as the shard would print it.
        message: String,
        /// The exit code a single process would have given.
        exit_code: i32,
    },
}

/// One tick: new definitions first, then the metric deltas that may refer to them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Tick {
    /// Custom metrics defined since the last tick, in the shard's id order (the first has the
    /// id after the shard's previous one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricDefWire>,
    /// Tag sets interned since the last tick, in id order starting at `first_tag_set`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_sets: Vec<Vec<(String, String)>>,
    /// Id of `tag_sets[0]`.
    #[serde(default)]
    pub first_tag_set: u32,
    /// The exact change of every series that received samples since the last tick.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deltas: Vec<Delta>,
    /// Every sample since the last tick, `[metric, tags, value, at]` in the shard's ids and
    /// milliseconds since its start; only when the coordinator asked (it has streaming outputs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<(u16, u32, f64, u32)>,
    /// The shard's clock (milliseconds since its start) when it sent this tick.
    #[serde(default)]
    pub now_ms: u32,
    /// The shard's counters now (absent in a tick that only carries more samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// A custom metric's definition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricDefWire {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: MetricKind,
    /// What it measures.
    pub contains: Contains,
}

/// The change of one series (metric and tag set, in the shard's ids).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delta {
    /// The shard's metric id.
    pub metric: u16,
    /// The shard's tag set id.
    pub tags: u32,
    /// What the samples since the last tick add up to.
    pub value: ValueWire,
}

/// A [`MetricValue`] on the wire. A trend is its HDR histogram in the same form the JSON
/// summary export carries (V2 deflate, base64) with its exact sum and extremes, so merging
/// deltas is exactly merging histograms.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ValueWire {
    /// A counter's sum.
    Counter {
        /// Sum.
        sum: f64,
    },
    /// A gauge's last value and extremes.
    Gauge {
        /// Last value.
        last: f64,
        /// Minimum.
        min: f64,
        /// Maximum.
        max: f64,
    },
    /// A rate's counts.
    Rate {
        /// Non-zero samples.
        nonzero: u64,
        /// All samples.
        total: u64,
    },
    /// A trend.
    Trend {
        /// HDR histogram, V2 deflate, base64.
        hdr: String,
        /// Exact sum.
        sum: f64,
        /// Exact minimum.
        min: f64,
        /// Exact maximum.
        max: f64,
    },
}

impl ValueWire {
    /// The wire form of `v`.
    pub fn from_value(v: &MetricValue) -> ValueWire {
        match v {
            MetricValue::Counter { sum } => ValueWire::Counter { sum: *sum },
            MetricValue::Gauge { last, min, max } => ValueWire::Gauge {
                last: *last,
                min: *min,
                max: *max,
            },
            MetricValue::Rate { nonzero, total } => ValueWire::Rate {
                nonzero: *nonzero,
                total: *total,
            },
            MetricValue::Trend(t) => {
                let (min, max) = t.extremes().unwrap_or((0.0, 0.0));
                ValueWire::Trend {
                    hdr: t.serialized(),
                    sum: t.sum(),
                    min,
                    max,
                }
            }
        }
    }

    /// The value, or why it cannot be read.
    pub fn to_value(&self) -> Result<MetricValue, crate::metrics::TrendError> {
        Ok(match self {
            ValueWire::Counter { sum } => MetricValue::Counter { sum: *sum },
            ValueWire::Gauge { last, min, max } => MetricValue::Gauge {
                last: *last,
                min: *min,
                max: *max,
            },
            ValueWire::Rate { nonzero, total } => MetricValue::Rate {
                nonzero: *nonzero,
                total: (*total).max(*nonzero),
            },
            ValueWire::Trend { hdr, sum, min, max } => {
                MetricValue::Trend(Trend::from_serialized(hdr, *sum, *min, *max)?)
            }
        })
    }
}

/// A shard's live counters, for the coordinator's progress and `vus` samples.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    /// Milliseconds since the shard's scenarios started (`None`: still creating VUs or in
    /// `setup`).
    pub running_ms: Option<u64>,
    /// VUs running an iteration now.
    pub active: u64,
    /// VUs created.
    pub vus_max: u64,
    /// Per scenario, in the test's order: active VUs, complete and interrupted iterations.
    pub scenarios: Vec<[u64; 3]>,
}

/// How a shard's run ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    /// Milliseconds from the start of its first scenario to the end of its last.
    pub elapsed_ms: u64,
    /// Per scenario: name, complete and interrupted iterations.
    pub scenarios: Vec<(String, u64, u64)>,
    /// Distinct iteration errors with counts.
    pub errors: BTreeMap<String, u64>,
    /// Most VUs it created.
    pub vus_max: u32,
    /// It was stopped early (by its coordinator or a signal).
    pub stopped: bool,
    /// A scenario task failed (a host bug): its message.
    pub panicked: Option<String>,
    /// `teardown` failed: why.
    pub teardown: Option<String>,
    /// `teardown` timed out (after this many milliseconds).
    pub teardown_timeout_ms: Option<u64>,
    /// The script called `test.fail()`.
    #[serde(default)]
    pub marked_failed: bool,
}

/// The coordinator's message to a shard.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    /// Stop the run gracefully (Ctrl-C, or an `abortOnFail` threshold crossed on the merged
    /// metrics): iterations are interrupted, teardown runs, the last tick and `Done` follow.
    Stop,
    /// Every shard is ready: start the scenarios, with `setup`'s data.
    Start {
        /// What the lifecycle shard's `setup` returned (empty when it did not run).
        setup: String,
    },
    /// To the lifecycle shard, once every other shard is done: run `teardown`.
    Teardown,
}

/// The bytes a stream starts with.
pub fn header() -> [u8; 10] {
    let mut h = [0u8; 10];
    h[..8].copy_from_slice(&MAGIC);
    h[8..].copy_from_slice(&VERSION.to_be_bytes());
    h
}

/// One message, framed.
pub fn encode<M: Serialize>(msg: &M) -> Vec<u8> {
    // Serializing these plain types cannot fail (no maps with non-string keys).
    let body = serde_json::to_vec(msg).unwrap_or_default();
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reads and checks the stream's header.
pub async fn read_header<R: AsyncRead + Unpin>(r: &mut R) -> Result<(), ProtocolError> {
    let mut h = [0u8; 10];
    read_exact(r, &mut h)
        .await?
        .ok_or(ProtocolError::Truncated)?;
    if h[..8] != MAGIC {
        return Err(ProtocolError::Magic(h[..8].to_vec()));
    }
    let got = u16::from_be_bytes([h[8], h[9]]);
    if got != VERSION {
        return Err(ProtocolError::Version { got });
    }
    Ok(())
}

/// Reads the next message; `None` when the stream ended cleanly between messages.
pub async fn read_message<R: AsyncRead + Unpin, M: serde::de::DeserializeOwned>(
    r: &mut R,
) -> Result<Option<M>, ProtocolError> {
    let mut len = [0u8; 4];
    if read_exact(r, &mut len).await?.is_none() {
        return Ok(None);
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_MESSAGE {
        return Err(ProtocolError::TooLarge(len));
    }
    let mut body = vec![0u8; len as usize];
    read_exact(r, &mut body)
        .await?
        .ok_or(ProtocolError::Truncated)?;
    Ok(Some(serde_json::from_slice(&body)?))
}

/// Fills `buf`; `None` when the stream was already at its end, `Truncated` when it ended midway.
async fn read_exact<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
) -> Result<Option<()>, ProtocolError> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]).await {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(ProtocolError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ProtocolError::Io(e)),
        }
    }
    Ok(Some(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(messages: &[Report]) -> Vec<u8> {
        let mut bytes = header().to_vec();
        for m in messages {
            bytes.extend(encode(m));
        }
        bytes
    }

    async fn read_all(bytes: &[u8]) -> Result<Vec<Report>, ProtocolError> {
        let mut r = bytes;
        read_header(&mut r).await?;
        let mut out = Vec::new();
        while let Some(m) = read_message(&mut r).await? {
            out.push(m);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn messages_round_trip_with_an_exact_histogram() {
        let mut value = MetricValue::new(MetricKind::Trend);
        for v in [1.5, 20.0, 20.0, 3000.25] {
            value.add(v);
        }
        let msgs = vec![
            Report::Hello {
                index: 1,
                pid: 42,
                segment: "1/2:1".into(),
            },
            Report::Tick(Tick {
                tag_sets: vec![vec![("status".into(), "200".into())]],
                first_tag_set: 3,
                deltas: vec![Delta {
                    metric: 10,
                    tags: 3,
                    value: ValueWire::from_value(&value),
                }],
                ..Tick::default()
            }),
            Report::Done(Outcome::default()),
        ];
        let back = read_all(&stream(&msgs)).await.unwrap();
        assert_eq!(back, msgs);
        let Report::Tick(t) = &back[1] else {
            panic!("not a tick")
        };
        let MetricValue::Trend(trend) = t.deltas[0].value.to_value().unwrap() else {
            panic!("not a trend")
        };
        assert_eq!(trend.count(), 4);
        assert_eq!(trend.extremes(), Some((1.5, 3000.25)));
        assert_eq!(trend.sum(), 3041.75);
    }

    #[tokio::test]
    async fn another_version_is_refused_by_name() {
        let mut bytes = stream(&[]);
        bytes[8..10].copy_from_slice(&1u16.to_be_bytes());
        let err = read_all(&bytes).await.unwrap_err();
        assert!(matches!(err, ProtocolError::Version { got: 1 }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "shard protocol version 1 is not supported: this volley speaks version 2"
        );
    }

    #[tokio::test]
    async fn junk_oversized_and_cut_streams_are_errors() {
        let err = read_all(b"Hello, world").await.unwrap_err();
        assert!(matches!(err, ProtocolError::Magic(_)), "{err:?}");
        let mut big = header().to_vec();
        big.extend((MAX_MESSAGE + 1).to_be_bytes());
        assert!(matches!(
            read_all(&big).await.unwrap_err(),
            ProtocolError::TooLarge(_)
        ));
        let whole = stream(&[Report::Done(Outcome::default())]);
        let cut = &whole[..whole.len() - 1];
        assert!(matches!(
            read_all(cut).await.unwrap_err(),
            ProtocolError::Truncated
        ));
        assert!(matches!(
            read_all(&header()[..5]).await.unwrap_err(),
            ProtocolError::Truncated
        ));
    }
}
