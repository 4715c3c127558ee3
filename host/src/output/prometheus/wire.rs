//! Prometheus remote write 1.0 on the wire: the `prometheus.WriteRequest` protobuf (only the fields
//! Volley sends), snappy block compression, and the headers the receiver expects.
//!
//! Field numbers follow `prompb/types.proto` and `prompb/remote.proto` of Prometheus 2.40+.

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
    pub positive: std::collections::BTreeMap<i32, u64>,
    /// Negative buckets by index of `|v|`.
    pub negative: std::collections::BTreeMap<i32, u64>,
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

/// Encodes a `prometheus.WriteRequest` holding `series`.
pub fn write_request(series: &[Series]) -> Vec<u8> {
    let mut req = Pb::default();
    for s in series {
        req.message(1, |ts| {
            for (name, value) in &s.labels {
                ts.message(1, |l| {
                    l.string(1, name);
                    l.string(2, value);
                });
            }
            match &s.point {
                Point::Float(v) => ts.message(2, |sample| {
                    sample.double(1, *v);
                    sample.varint(2, s.timestamp_ms as u64);
                }),
                Point::Histogram(h) => ts.message(4, |m| histogram(m, h, s.timestamp_ms)),
            }
        });
    }
    req.0
}

fn histogram(m: &mut Pb, h: &NativeHistogram, timestamp_ms: i64) {
    m.varint(1, h.count);
    m.double(3, h.sum);
    m.varint(4, zigzag(i64::from(NativeHistogram::SCHEMA)));
    m.double(5, ZERO_THRESHOLD);
    m.varint(6, h.zero_count);
    buckets(m, &h.negative, 8, 9);
    buckets(m, &h.positive, 11, 12);
    m.varint(15, timestamp_ms as u64);
}

/// Spans of consecutive bucket indexes, then each bucket's count as a delta to the previous one.
fn buckets(m: &mut Pb, buckets: &std::collections::BTreeMap<i32, u64>, spans: u32, deltas: u32) {
    let mut runs: Vec<(i32, u32)> = Vec::new();
    let mut last: Option<i32> = None;
    for &i in buckets.keys() {
        match (last, runs.last_mut()) {
            (Some(l), Some(run)) if i == l + 1 => run.1 += 1,
            (Some(l), _) => runs.push((i - l - 1, 1)),
            (None, _) => runs.push((i, 1)),
        }
        last = Some(i);
    }
    for (offset, length) in runs {
        m.message(spans, |span| {
            span.varint(1, zigzag(i64::from(offset)));
            span.varint(2, u64::from(length));
        });
    }
    let mut prev = 0i64;
    let packed: Vec<u64> = buckets
        .values()
        .map(|&c| {
            let delta = zigzag(c as i64 - prev);
            prev = c as i64;
            delta
        })
        .collect();
    if !packed.is_empty() {
        m.packed_varints(deltas, &packed);
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// A protobuf message being written.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn raw_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.raw_varint((u64::from(field) << 3) | u64::from(wire_type));
    }

    fn varint(&mut self, field: u32, v: u64) {
        self.key(field, 0);
        self.raw_varint(v);
    }

    fn double(&mut self, field: u32, v: f64) {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.raw_varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn message(&mut self, field: u32, build: impl FnOnce(&mut Pb)) {
        let mut inner = Pb::default();
        build(&mut inner);
        self.bytes(field, &inner.0);
    }

    fn packed_varints(&mut self, field: u32, values: &[u64]) {
        let mut inner = Pb::default();
        for &v in values {
            inner.raw_varint(v);
        }
        self.bytes(field, &inner.0);
    }
}

/// Snappy block compression, as remote write requires.
pub fn compress(body: &[u8]) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(body)
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
        let mut m = Pb::default();
        let b = [(3, 5u64), (4, 2), (7, 2)].into_iter().collect();
        buckets(&mut m, &b, 11, 12);
        // span {offset 3, length 2}, span {offset 2, length 1}, deltas [5, -3, 0] zigzagged.
        let expected = [
            0x5a, 4, 0x08, 6, 0x10, 2, // field 11: offset zigzag(3)=6, length 2
            0x5a, 4, 0x08, 4, 0x10, 1, // field 11: offset zigzag(2)=4, length 1
            0x62, 3, 10, 5, 0, // field 12 packed: zigzag(5)=10, zigzag(-3)=5, zigzag(0)=0
        ];
        assert_eq!(m.0, expected);
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

    /// What encoding a push costs, per series: `cargo test --release -p volley --lib
    /// encoding_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, run by name"]
    fn encoding_cost() {
        let series = typical_push(1_000);
        let rounds = 200;
        let mut bytes = 0;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            bytes += std::hint::black_box(write_request(&series)).len();
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
        let req = write_request(&[Series {
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
