//! Trend metrics in an HdrHistogram with one fixed configuration, so merges are exact:
//! values in microseconds (or raw units ×1000 for non-time trends) from 1 to 3.6·10⁹
//! (1 µs to 1 h), 3 significant digits. Exact count, sum, min and max are kept beside it.

use hdrhistogram::Histogram;

/// Highest trackable value (scaled units): 1 hour in microseconds.
const HIGHEST: u64 = 3_600_000_000;
/// Significant decimal digits kept.
const SIGFIG: u8 = 3;
/// Values (ms) are stored ×1000 (µs).
const SCALE: f64 = 1000.0;

/// A distribution of values.
#[derive(Debug, Clone)]
pub struct Trend {
    hist: Histogram<u64>,
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
            hist: Histogram::new_with_bounds(1, HIGHEST, SIGFIG)
                .expect("fixed histogram bounds are valid"),
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Records one value.
    pub fn record(&mut self, value: f64) {
        let v = value.max(0.0);
        self.hist.saturating_record((v * SCALE).round() as u64);
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Adds all of `other`'s samples (exact).
    pub fn merge(&mut self, other: &Trend) {
        // Same fixed bounds on both sides, so this cannot fail.
        let _ = self.hist.add(&other.hist);
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.hist.len()
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
        let v = self.hist.value_at_quantile(p / 100.0) as f64 / SCALE;
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
        match V2DeflateSerializer::new().serialize(&self.hist, &mut buf) {
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
        trend.hist.add(&read).map_err(|_| TrendError::Bounds)?;
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
}
