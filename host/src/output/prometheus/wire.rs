//! Prometheus remote write 1.0 on the wire: the `prometheus.WriteRequest` protobuf (only the fields
//! Volley sends), encoded by prost, and snappy block compression.
//!
//! The messages are derived with prost from `prompb/types.proto` and `prompb/remote.proto` of
//! Prometheus 2.40+, written out as prost-build would generate them (no build script, no protoc).

use std::collections::BTreeMap;

use prost::Message as _;

/// Prometheus's default zero-bucket width for native histograms.
pub const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// A label pair.
pub type Label = (String, String);

/// One series with one point: a float sample or a native histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels, `__name__` included, sorted by name.
    pub labels: Vec<Label>,
    /// The point.
    pub point: Point,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// A series' value at one instant.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    /// A float sample (counter, gauge).
    Float(f64),
    /// An integer native histogram.
    Histogram(NativeHistogram),
}

/// An integer native histogram with exponential buckets of schema [`NativeHistogram::SCHEMA`]:
/// bucket `i` holds values in `(2^((i-1)/2^schema), 2^(i/2^schema)]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NativeHistogram {
    /// Observations.
    pub count: u64,
    /// Sum of the observations.
    pub sum: f64,
    /// Observations with `|v| <= ZERO_THRESHOLD`.
    pub zero_count: u64,
    /// Positive buckets by index.
    pub positive: BTreeMap<i32, u64>,
    /// Negative buckets by index of `|v|`.
    pub negative: BTreeMap<i32, u64>,
}

impl NativeHistogram {
    /// Buckets grow by a factor of 2^(1/32), about 2.2 %: quantiles Prometheus interpolates stay
    /// within that of the exact ones.
    pub const SCHEMA: i32 = 5;

    /// Adds one observation.
    pub fn observe(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        self.count += 1;
        self.sum += v;
        if v.abs() <= ZERO_THRESHOLD {
            self.zero_count += 1;
        } else {
            let side = if v > 0.0 {
                &mut self.positive
            } else {
                &mut self.negative
            };
            *side.entry(bucket_index(v.abs())).or_default() += 1;
        }
    }
}

/// The bucket of a positive value at [`NativeHistogram::SCHEMA`].
pub fn bucket_index(v: f64) -> i32 {
    (v.log2() * f64::from(1 << NativeHistogram::SCHEMA)).ceil() as i32
}

/// Encodes a `prometheus.WriteRequest` holding `series` (taken, so their labels move into the
/// message rather than being copied).
pub fn write_request(series: Vec<Series>) -> Vec<u8> {
    prompb::WriteRequest {
        timeseries: series.into_iter().map(time_series).collect(),
    }
    .encode_to_vec()
}

fn time_series(s: Series) -> prompb::TimeSeries {
    let labels = s
        .labels
        .into_iter()
        .map(|(name, value)| prompb::Label { name, value })
        .collect();
    let (samples, histograms) = match &s.point {
        Point::Float(v) => (
            vec![prompb::Sample {
                value: *v,
                timestamp: s.timestamp_ms,
            }],
            Vec::new(),
        ),
        Point::Histogram(h) => (Vec::new(), vec![histogram(h, s.timestamp_ms)]),
    };
    prompb::TimeSeries {
        labels,
        samples,
        histograms,
    }
}

fn histogram(h: &NativeHistogram, timestamp: i64) -> prompb::Histogram {
    let (negative_spans, negative_deltas) = buckets(&h.negative);
    let (positive_spans, positive_deltas) = buckets(&h.positive);
    prompb::Histogram {
        count: Some(prompb::histogram::Count::CountInt(h.count)),
        sum: h.sum,
        schema: NativeHistogram::SCHEMA,
        zero_threshold: ZERO_THRESHOLD,
        zero_count: Some(prompb::histogram::ZeroCount::ZeroCountInt(h.zero_count)),
        negative_spans,
        negative_deltas,
        positive_spans,
        positive_deltas,
        timestamp,
    }
}

/// Spans of consecutive bucket indexes, and each bucket's count as a delta to the previous one.
fn buckets(buckets: &BTreeMap<i32, u64>) -> (Vec<prompb::BucketSpan>, Vec<i64>) {
    let mut spans: Vec<prompb::BucketSpan> = Vec::new();
    let mut last: Option<i32> = None;
    for &i in buckets.keys() {
        match (last, spans.last_mut()) {
            (Some(l), Some(span)) if i == l + 1 => span.length += 1,
            (Some(l), _) => spans.push(prompb::BucketSpan {
                offset: i - l - 1,
                length: 1,
            }),
            (None, _) => spans.push(prompb::BucketSpan {
                offset: i,
                length: 1,
            }),
        }
        last = Some(i);
    }
    let mut prev = 0i64;
    let deltas = buckets
        .values()
        .map(|&c| {
            let delta = c as i64 - prev;
            prev = c as i64;
            delta
        })
        .collect();
    (spans, deltas)
}

/// Snappy block compression, as remote write requires.
pub fn compress(body: &[u8]) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(body)
}

/// The remote-write messages as prost-build would generate them from `prompb/remote.proto` and
/// `prompb/types.proto`, cut to the fields Volley sends (their numbers are those of the files).
mod prompb {
    /// `prometheus.WriteRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// `prometheus.TimeSeries`: labels, then float samples or native histograms.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        #[prost(message, repeated, tag = "4")]
        pub histograms: Vec<Histogram>,
    }

    /// `prometheus.Label`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `prometheus.Sample`.
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }

    /// `prometheus.Histogram`, integer counts only.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(oneof = "histogram::Count", tags = "1")]
        pub count: Option<histogram::Count>,
        #[prost(double, tag = "3")]
        pub sum: f64,
        #[prost(sint32, tag = "4")]
        pub schema: i32,
        #[prost(double, tag = "5")]
        pub zero_threshold: f64,
        #[prost(oneof = "histogram::ZeroCount", tags = "6")]
        pub zero_count: Option<histogram::ZeroCount>,
        #[prost(message, repeated, tag = "8")]
        pub negative_spans: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "9")]
        pub negative_deltas: Vec<i64>,
        #[prost(message, repeated, tag = "11")]
        pub positive_spans: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "12")]
        pub positive_deltas: Vec<i64>,
        #[prost(int64, tag = "15")]
        pub timestamp: i64,
    }

    /// `prometheus.Histogram`'s oneofs.
    pub mod histogram {
        /// `count`: observations.
        #[derive(Clone, Copy, PartialEq, prost::Oneof)]
        pub enum Count {
            /// `count_int`.
            #[prost(uint64, tag = "1")]
            CountInt(u64),
        }

        /// `zero_count`: observations in the zero bucket.
        #[derive(Clone, Copy, PartialEq, prost::Oneof)]
        pub enum ZeroCount {
            /// `zero_count_int`.
            #[prost(uint64, tag = "6")]
            ZeroCountInt(u64),
        }
    }

    /// `prometheus.BucketSpan`: `length` consecutive buckets, `offset` after the previous span.
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct BucketSpan {
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        #[prost(uint32, tag = "2")]
        pub length: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_schema_boundaries() {
        // Schema 5: bucket 0 is (2^(-1/32), 1], bucket 32 is (2^(31/32), 2].
        assert_eq!(bucket_index(1.0), 0);
        assert_eq!(bucket_index(2.0), 32);
        assert_eq!(bucket_index(1.01), 1);
        assert_eq!(bucket_index(0.5), -32);
    }

    #[test]
    fn histogram_counts_every_observation_once() {
        let mut h = NativeHistogram::default();
        for v in [0.0, 0.001, 0.001, 0.25, -3.0, f64::NAN] {
            h.observe(v);
        }
        assert_eq!(h.count, 5);
        assert_eq!(h.zero_count, 1);
        assert_eq!(h.positive.values().sum::<u64>(), 3);
        assert_eq!(h.negative.values().sum::<u64>(), 1);
        assert!((h.sum - (-2.748)).abs() < 1e-12);
    }

    #[test]
    fn encodes_spans_and_deltas() {
        let b = [(3, 5u64), (4, 2), (7, 2)].into_iter().collect();
        let (positive_spans, positive_deltas) = buckets(&b);
        let m = prompb::Histogram {
            positive_spans,
            positive_deltas,
            ..Default::default()
        };
        // span {offset 3, length 2}, span {offset 2, length 1}, deltas [5, -3, 0] zigzagged.
        let expected = [
            0x5a, 4, 0x08, 6, 0x10, 2, // field 11: offset zigzag(3)=6, length 2
            0x5a, 4, 0x08, 4, 0x10, 1, // field 11: offset zigzag(2)=4, length 1
            0x62, 3, 10, 5, 0, // field 12 packed: zigzag(5)=10, zigzag(-3)=5, zigzag(0)=0
        ];
        assert_eq!(m.encode_to_vec(), expected);
    }

    #[test]
    fn encodes_a_histogram_series_as_the_hand_written_encoder_did() {
        let mut h = NativeHistogram::default();
        for v in [0.0, 0.001, 0.001, 0.25, -3.0] {
            h.observe(v);
        }
        let req = write_request(vec![Series {
            labels: vec![("__name__".into(), "t".into())],
            point: Point::Histogram(h),
            timestamp_ms: 1_700_000_000_000,
        }]);
        // Written by the hand-written encoder this module replaced: count 5, sum -2.748, schema 5,
        // the zero threshold, zero count 1, one negative and two positive buckets, timestamp.
        let expected = [
            10, 75, 10, 13, 10, 8, 95, 95, 110, 97, 109, 101, 95, 95, 18, 1, 116, 34, 58, 8, 5, 25,
            150, 67, 139, 108, 231, 251, 5, 192, 32, 10, 41, 0, 0, 0, 0, 0, 0, 240, 55, 48, 1, 66,
            4, 8, 102, 16, 1, 74, 1, 2, 90, 5, 8, 251, 4, 16, 1, 90, 5, 8, 250, 3, 16, 1, 98, 2, 4,
            1, 120, 128, 208, 149, 255, 188, 49,
        ];
        assert_eq!(req, expected);
    }

    /// A push of `n` series as a run makes them: eight labels each, half float samples, half
    /// native histograms of a latency trend.
    fn typical_push(n: usize) -> Vec<Series> {
        (0..n)
            .map(|i| {
                let mut labels: Vec<Label> = [
                    ("__name__", "k6_http_req_duration_seconds"),
                    ("expected_response", "true"),
                    ("method", "GET"),
                    ("name", "http://127.0.0.1:8080/"),
                    ("proto", "HTTP/1.1"),
                    ("scenario", "default"),
                    ("status", "200"),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
                labels.push(("url".into(), format!("http://127.0.0.1:8080/{i}")));
                let point = if i % 2 == 0 {
                    Point::Float(i as f64 * 1.5)
                } else {
                    let mut h = NativeHistogram::default();
                    for k in 0..2_000 {
                        h.observe(0.001 + f64::from(k % 400) * 0.000_1);
                    }
                    Point::Histogram(h)
                };
                Series {
                    labels,
                    point,
                    timestamp_ms: 1_700_000_000_000,
                }
            })
            .collect()
    }

    /// What encoding a push costs per series, with the copy of the series every push makes:
    /// `cargo test --release -p volley --lib encoding_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, run by name"]
    fn encoding_cost() {
        let series = typical_push(1_000);
        let rounds = 200;
        let mut bytes = 0;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            bytes += std::hint::black_box(write_request(series.clone())).len();
        }
        let per_series = start.elapsed().as_nanos() as f64 / (rounds * series.len()) as f64;
        println!(
            "write_request: {per_series:.0} ns per series ({} bytes per push of {})",
            bytes / rounds,
            series.len()
        );
    }

    #[test]
    fn encodes_a_float_series() {
        let req = write_request(vec![Series {
            labels: vec![("__name__".into(), "up".into())],
            point: Point::Float(1.0),
            timestamp_ms: 1,
        }]);
        let label = [0x0a, 0x0e, 0x0a, 0x08]
            .into_iter()
            .chain(*b"__name__")
            .chain([0x12, 0x02])
            .chain(*b"up");
        let sample = [0x12, 0x0b, 0x09]
            .into_iter()
            .chain(1.0f64.to_le_bytes())
            .chain([0x10, 0x01]);
        let ts: Vec<u8> = label.chain(sample).collect();
        let mut expected = vec![0x0a, ts.len() as u8];
        expected.extend(ts);
        assert_eq!(req, expected);
        assert_eq!(
            snap::raw::Decoder::new()
                .decompress_vec(&compress(&req).unwrap())
                .unwrap(),
            req
        );
    }
}
