//! Number formatting as k6's summary does it: times in µs/ms/s, data in SI units, percentages.

use crate::metrics::thresholds::Aggregation;
use crate::metrics::{Contains, MetricKind, MetricValue};

/// A time in milliseconds: `808.56µs`, `2.32ms`, `1.5s`, `1m2.5s`.
pub fn time_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{}µs", trim(ms * 1000.0))
    } else if ms < 1000.0 {
        format!("{}ms", trim(ms))
    } else if ms < 60_000.0 {
        format!("{}s", trim(ms / 1000.0))
    } else {
        let m = (ms / 60_000.0).floor();
        format!("{}m{}s", m, trim((ms - m * 60_000.0) / 1000.0))
    }
}

/// Two decimals without trailing zeros, as Go's `%.2f` then trimmed (k6's `humanize`).
fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// A time in milliseconds in a fixed unit (`s`, `ms`, `us`), or chosen per value.
pub fn time_in(ms: f64, unit: Option<&str>) -> String {
    match unit {
        Some("s") => format!("{}s", trim(ms / 1000.0)),
        Some("ms") => format!("{}ms", trim(ms)),
        Some("us") => format!("{}µs", trim(ms * 1000.0)),
        _ => time_ms(ms),
    }
}

/// Bytes in SI units: `852 B`, `6.0 kB`, `1.2 MB`.
pub fn data(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000.0 {
        return format!("{} B", bytes.round());
    }
    let mut v = bytes;
    let mut unit = "B";
    for u in UNITS {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// A value in the metric's unit.
pub fn value(v: f64, contains: Contains) -> String {
    match contains {
        Contains::Time => time_ms(v),
        Contains::Data => data(v),
        Contains::Default => {
            if v.fract() == 0.0 && v.abs() < 1e15 {
                format!("{v}")
            } else {
                format!("{v:.6}")
            }
        }
    }
}

/// A threshold's aggregated value as the THRESHOLDS section shows it: `p(95)=4.64ms`, `rate=0.00%`.
pub fn threshold_value(
    agg: Aggregation,
    v: Option<f64>,
    kind: MetricKind,
    contains: Contains,
) -> String {
    let label = agg.label();
    let Some(v) = v else {
        return format!("{label}=n/a");
    };
    let text = match (kind, agg) {
        (MetricKind::Rate, _) => format!("{:.2}%", v * 100.0),
        (MetricKind::Counter, Aggregation::Rate) => format!("{v:.6}/s"),
        _ => value(v, contains),
    };
    format!("{label}={text}")
}

/// Percentage of a rate metric: `12.50%`.
pub fn percent(nonzero: u64, total: u64) -> String {
    if total == 0 {
        return "0.00%".into();
    }
    format!("{:.2}%", nonzero as f64 / total as f64 * 100.0)
}

/// Trend statistic `stat` of `v` (`avg`, `p(95)`, ...), in ms for time trends.
pub fn trend_stat(v: &MetricValue, stat: &str) -> Option<f64> {
    let MetricValue::Trend(t) = v else {
        return None;
    };
    let s = t.stats();
    Some(match stat {
        "avg" => s.avg,
        "min" => s.min,
        "med" => s.med,
        "max" => s.max,
        "count" => s.count as f64,
        other => {
            let p: f64 = other.strip_prefix("p(")?.strip_suffix(')')?.parse().ok()?;
            t.percentile(p)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_k6() {
        assert_eq!(time_ms(0.80856), "808.56µs");
        assert_eq!(time_ms(2.3201), "2.32ms");
        assert_eq!(time_ms(503.54), "503.54ms");
        assert_eq!(time_ms(1500.0), "1.5s");
        assert_eq!(time_ms(62_500.0), "1m2.5s");
        assert_eq!(time_in(1500.0, Some("ms")), "1500ms");
        assert_eq!(time_in(2.5, Some("us")), "2500µs");
        assert_eq!(time_in(250.0, Some("s")), "0.25s");
        assert_eq!(data(852.0), "852 B");
        assert_eq!(data(6000.0), "6.0 kB");
        assert_eq!(data(2_048_000.0), "2.0 MB");
        assert_eq!(percent(1, 8), "12.50%");
        assert_eq!(percent(0, 0), "0.00%");
    }
}
