//! Trend metrics with HdrHistogram's layout for one fixed configuration, so merges are exact:
//! values in microseconds (or raw units ×1000 for non-time trends) from 1 to 3.6·10⁹
//! (1 µs to 1 h), 3 significant digits. Exact count, sum, min and max are kept beside it.
//!
//! A full histogram of that range is 23,552 counters (184 KiB), too much per tag set when a
//! metric has thousands of them. So a trend starts sparse (one `(bucket, count)` pair per
//! distinct bucket seen) and becomes a histogram that grows with its largest value only once
//! it has seen [`SPARSE_MAX`] distinct buckets. Both forms count in the same buckets, so
//! percentiles, merges and the serialized form are exactly those of the fixed histogram.

use std::sync::LazyLock;

use hdrhistogram::Histogram;

/// Highest trackable value (scaled units): 1 hour in microseconds.
const HIGHEST: u64 = 3_600_000_000;
/// Significant decimal digits kept.
const SIGFIG: u8 = 3;
/// Values (ms) are stored ×1000 (µs).
const SCALE: f64 = 1000.0;
/// Distinct buckets a trend keeps as a sorted list (16 bytes each, so at most 8 KiB) before it
/// turns into a histogram (8 bytes per bucket up to its largest value).
pub const SPARSE_MAX: usize = 512;

/// The bucket layout every trend shares (it depends on the lowest value and the significant
/// digits, not on the highest), used to find a value's bucket without a histogram of one's own.
static LAYOUT: LazyLock<Histogram<u64>> = LazyLock::new(growing);

/// An empty histogram that starts at its smallest size and grows with the values recorded.
fn growing() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 2, SIGFIG).expect("fixed histogram bounds are valid");
    h.auto(true);
    h
}

/// A histogram of Volley's full fixed range (what the serialized form holds).
fn fixed() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST, SIGFIG).expect("fixed histogram bounds are valid")
}

/// A trend's bucket counts: sparse while few buckets are used, dense after.
#[derive(Debug, Clone)]
enum Counts {
    /// `(lowest value of the bucket, count)`, sorted by value; `total` is the sum of counts.
    Sparse {
        buckets: Vec<(u64, u64)>,
        total: u64,
    },
    /// A histogram sized to the largest value recorded.
    Dense(Box<Histogram<u64>>),
}

impl Counts {
    /// Counts `n` samples of scaled `value` (clamped to the range).
    fn record_n(&mut self, value: u64, n: u64) {
        let value = value.min(HIGHEST);
        if let Counts::Sparse { buckets, total } = self {
            let key = LAYOUT.lowest_equivalent(value);
            match buckets.binary_search_by_key(&key, |b| b.0) {
                Ok(i) => {
                    buckets[i].1 = buckets[i].1.saturating_add(n);
                    *total = total.saturating_add(n);
                    return;
                }
                Err(i) if buckets.len() < SPARSE_MAX => {
                    buckets.insert(i, (key, n));
                    *total = total.saturating_add(n);
                    return;
                }
                Err(_) => self.densify(),
            }
        }
        if let Counts::Dense(h) = self {
            // A growing histogram only fails past usize; the value is clamped well below.
            let _ = h.record_n(value, n);
        }
    }

    /// Turns the sparse form into a histogram (no-op when already dense).
    fn densify(&mut self) {
        if let Counts::Sparse { buckets, .. } = self {
            let mut h = growing();
            for &(v, n) in buckets.iter() {
                let _ = h.record_n(v, n);
            }
            *self = Counts::Dense(Box::new(h));
        }
    }

    /// Adds every count of `other`.
    fn merge(&mut self, other: &Counts) {
        match other {
            Counts::Sparse { buckets, .. } => {
                for &(v, n) in buckets {
                    self.record_n(v, n);
                }
            }
            Counts::Dense(o) => {
                self.densify();
                if let Counts::Dense(h) = self {
                    let _ = h.add(&**o);
                }
            }
        }
    }

    /// Number of samples.
    fn len(&self) -> u64 {
        match self {
            Counts::Sparse { total, .. } => *total,
            Counts::Dense(h) => h.len(),
        }
    }

    /// HdrHistogram's `value_at_quantile` (0 < q ≤ 1), the same walk over the same buckets.
    fn value_at_quantile(&self, q: f64) -> u64 {
        match self {
            Counts::Dense(h) => h.value_at_quantile(q),
            Counts::Sparse { buckets, total } => {
                let wanted = ((q.min(1.0) * *total as f64).ceil() as u64).max(1);
                let mut seen = 0u64;
                for &(v, n) in buckets {
                    seen = seen.saturating_add(n);
                    if seen >= wanted {
                        return LAYOUT.highest_equivalent(v);
                    }
                }
                0
            }
        }
    }

    /// The counts in a histogram of the full fixed range.
    fn to_fixed(&self) -> Histogram<u64> {
        let mut h = fixed();
        match self {
            Counts::Sparse { buckets, .. } => {
                for &(v, n) in buckets {
                    let _ = h.record_n(v, n);
                }
            }
            Counts::Dense(d) => {
                let _ = h.add(&**d);
            }
        }
        h
    }

    /// Heap bytes held.
    fn heap_bytes(&self) -> usize {
        match self {
            Counts::Sparse { buckets, .. } => buckets.capacity() * size_of::<(u64, u64)>(),
            Counts::Dense(h) => h.distinct_values() * size_of::<u64>(),
        }
    }
}

/// A distribution of values.
#[derive(Debug, Clone)]
pub struct Trend {
    counts: Counts,
    sum: f64,
    min: f64,
    max: f64,
}

/// The numbers a summary shows for a trend, in the metric's unit (ms for time).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct TrendStats {
    /// Number of samples.
    pub count: u64,
    /// Mean.
    pub avg: f64,
    /// Minimum.
    pub min: f64,
    /// Median.
    pub med: f64,
    /// Maximum.
    pub max: f64,
}

impl Default for Trend {
    fn default() -> Self {
        Self::new()
    }
}

impl Trend {
    /// An empty trend.
    pub fn new() -> Self {
        Trend {
            counts: Counts::Sparse {
                buckets: Vec::new(),
                total: 0,
            },
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Records one value.
    pub fn record(&mut self, value: f64) {
        let v = value.max(0.0);
        self.counts.record_n((v * SCALE).round() as u64, 1);
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Adds all of `other`'s samples (exact).
    pub fn merge(&mut self, other: &Trend) {
        self.counts.merge(&other.counts);
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.counts.len()
    }

    /// The `p`th percentile (0–100); 0 with no samples, as k6.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.count() == 0 {
            return 0.0;
        }
        if p >= 100.0 {
            return self.max;
        }
        if p <= 0.0 {
            return self.min;
        }
        let v = self.counts.value_at_quantile(p / 100.0) as f64 / SCALE;
        v.clamp(self.min, self.max)
    }

    /// Count, mean, min, median and max; zeros with no samples, as k6.
    pub fn stats(&self) -> TrendStats {
        let count = self.count();
        if count == 0 {
            return TrendStats::default();
        }
        TrendStats {
            count,
            avg: self.sum / count as f64,
            min: self.min,
            med: self.percentile(50.0),
            max: self.max,
        }
    }

    /// The histogram in HdrHistogram's V2 deflate format, base64-encoded, for exact merges later.
    pub fn serialized(&self) -> String {
        use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
        let mut buf = Vec::new();
        match V2DeflateSerializer::new().serialize(&self.counts.to_fixed(), &mut buf) {
            Ok(_) => base64_encode(&buf),
            Err(_) => String::new(),
        }
    }
}

/// Why a serialized trend cannot be read back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrendError {
    /// Not base64.
    #[error("the histogram is not valid base64")]
    Base64,
    /// Not an HdrHistogram V2 (deflate) payload.
    #[error("the histogram cannot be decoded: {0}")]
    Hdr(String),
    /// Recorded with other bounds than Volley's fixed ones, so it cannot merge exactly.
    #[error(
        "the histogram was not recorded with Volley's bounds (1 µs–1 h, 3 significant digits)"
    )]
    Bounds,
}

impl Trend {
    /// Rebuilds a trend from [`Trend::serialized`] and its exact sum, min and max.
    pub fn from_serialized(
        encoded: &str,
        sum: f64,
        min: f64,
        max: f64,
    ) -> Result<Trend, TrendError> {
        use hdrhistogram::serialization::Deserializer;
        let bytes = base64_decode(encoded).ok_or(TrendError::Base64)?;
        let read: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| TrendError::Hdr(format!("{e:?}")))?;
        let mut trend = Trend::new();
        if read.sigfig() != SIGFIG || read.high() > HIGHEST || read.low() < 1 {
            return Err(TrendError::Bounds);
        }
        let mut dense = growing();
        dense.add(&read).map_err(|_| TrendError::Bounds)?;
        trend.counts = Counts::Dense(Box::new(dense));
        trend.sum = sum;
        if trend.count() > 0 {
            trend.min = min;
            trend.max = max;
        }
        Ok(trend)
    }

    /// Exact sum of the samples.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Heap bytes the trend holds (its counts), for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.counts.heap_bytes()
    }

    /// Exact smallest and largest sample (`None` when empty).
    pub fn extremes(&self) -> Option<(f64, f64)> {
        (self.count() > 0).then_some((self.min, self.max))
    }
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    Some(out)
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_and_percentiles_within_hdr_precision() {
        let mut t = Trend::new();
        for i in 1..=1000 {
            t.record(i as f64);
        }
        let s = t.stats();
        assert_eq!(s.count, 1000);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 1000.0);
        assert!((s.avg - 500.5).abs() < 1e-9);
        let p95 = t.percentile(95.0);
        assert!((p95 - 950.0).abs() <= 950.0 * 0.001 + 1.0, "p95={p95}");
        assert!((s.med - 500.0).abs() <= 1.0, "med={}", s.med);
    }

    #[test]
    fn merge_is_exact() {
        let (mut a, mut b, mut all) = (Trend::new(), Trend::new(), Trend::new());
        for i in 0..500 {
            let v = (i * 7 % 113) as f64 + 0.25;
            if i % 2 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a.stats(), all.stats());
        assert_eq!(a.percentile(99.0), all.percentile(99.0));
    }

    #[test]
    fn empty_trend_is_zero() {
        assert_eq!(Trend::new().stats(), TrendStats::default());
        assert_eq!(Trend::new().percentile(95.0), 0.0);
    }

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        for s in [&b"f"[..], b"fo", b"foo", b"foob", b""] {
            assert_eq!(base64_decode(&base64_encode(s)).unwrap(), s);
        }
        assert_eq!(base64_decode("Z"), None);
        assert_eq!(base64_decode("Z!=="), None);
    }

    #[test]
    fn serialized_trend_reads_back_exactly() {
        let mut t = Trend::new();
        for i in 0..300 {
            t.record(f64::from(i) * 1.7 + 0.3);
        }
        let (min, max) = t.extremes().unwrap();
        let back = Trend::from_serialized(&t.serialized(), t.sum(), min, max).unwrap();
        assert_eq!(back.stats(), t.stats());
        assert_eq!(back.percentile(99.0), t.percentile(99.0));
        assert_eq!(back.serialized(), t.serialized());
        assert_eq!(
            Trend::from_serialized("@@", 0.0, 0.0, 0.0).unwrap_err(),
            TrendError::Base64
        );
    }

    /// A reference trend in one full fixed histogram, as trends were before the sparse form.
    fn reference(values: &[f64]) -> Histogram<u64> {
        let mut h = fixed();
        for v in values {
            h.saturating_record((v.max(0.0) * SCALE).round() as u64);
        }
        h
    }

    #[test]
    fn sparse_and_dense_agree_with_a_full_histogram() {
        // Wide enough to turn dense, and a few values only (stays sparse).
        let wide: Vec<f64> = (0..5000)
            .map(|i| f64::from(i * i % 9973) * 0.37 + 0.1)
            .collect();
        for values in [&wide[..], &wide[..7]] {
            let mut t = Trend::new();
            values.iter().for_each(|v| t.record(*v));
            let full = reference(values);
            for p in [1.0, 25.0, 50.0, 90.0, 95.0, 99.0, 99.9] {
                let want = (full.value_at_quantile(p / 100.0) as f64 / SCALE).clamp(t.min, t.max);
                assert_eq!(t.percentile(p), want, "p{p} of {} values", values.len());
            }
        }
        let mut dense = Trend::new();
        wide.iter().for_each(|v| dense.record(*v));
        assert!(matches!(dense.counts, Counts::Dense(_)));
        let mut sparse = Trend::new();
        wide[..7].iter().for_each(|v| sparse.record(*v));
        assert!(matches!(sparse.counts, Counts::Sparse { .. }));
    }

    #[test]
    fn a_tag_set_costs_far_less_than_a_full_histogram() {
        let full = fixed().distinct_values() * size_of::<u64>();
        let mut one = Trend::new();
        assert_eq!(one.heap_bytes(), 0, "an empty trend holds nothing");
        for v in [12.5, 13.0, 250.0, 12.5] {
            one.record(v);
        }
        // Before: 188,416 bytes per tag set. After: a few buckets.
        assert_eq!(full, 188_416);
        assert!(one.heap_bytes() <= 64, "{} bytes", one.heap_bytes());
        let mut wide = Trend::new();
        (0..100_000).for_each(|i| wide.record(f64::from(i) * 0.01));
        assert!(wide.heap_bytes() <= full, "{} bytes", wide.heap_bytes());
    }
}
