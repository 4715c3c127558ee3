//! k6-style duration strings: `1d2h`, `1h2m3s`, `1m30s`, `500ms`, `1.5s`, `250us`, or a bare
//! number of milliseconds as k6 accepts in JSON (`"1000"` → 1 s). Every duration is finite,
//! non-negative and at most [`MAX_DURATION`], so no later arithmetic on it can overflow.

use std::time::Duration;

use serde::Deserialize;

/// The longest duration any option may hold: ten years.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 86_400);

/// Why a duration string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (expected e.g. \"30s\", \"1m30s\", \"500ms\")")]
pub struct DurationError {
    /// The text that did not parse.
    pub input: String,
    /// What was wrong.
    pub reason: &'static str,
}

/// Parses a k6-style duration.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_string(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if s.starts_with('-') {
        return Err(err("negative"));
    }
    if s.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        if let Ok(ms) = s.parse::<f64>() {
            return from_millis(ms).map_err(err);
        }
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("number without a unit"))?;
        if num_len == 0 {
            return Err(err("expected a number"));
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| err("bad number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "d" => 86_400.0,
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(err("unknown unit (use d, h, m, s, ms, us, ns)")),
        };
        total += value * seconds;
        rest = &rest[unit_len..];
    }
    from_millis(total * 1000.0).map_err(err)
}

/// A duration from a number of milliseconds, refused when negative, not finite, or longer
/// than [`MAX_DURATION`].
pub fn from_millis(ms: f64) -> Result<Duration, &'static str> {
    if ms.is_nan() {
        return Err("not a number");
    }
    if ms < 0.0 {
        return Err("negative");
    }
    if ms > MAX_DURATION.as_secs_f64() * 1000.0 {
        return Err("longer than 10 years");
    }
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

/// A duration written as a k6 string (`"1m30s"`) or a number of milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Millis(f64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(s) => parse_duration(&s)
                .map(Dur)
                .map_err(serde::de::Error::custom),
            Raw::Millis(ms) => from_millis(ms).map(Dur).map_err(|reason| {
                let shown = if ms.abs() < 1e12 {
                    ms.to_string()
                } else {
                    format!("{ms:e}")
                };
                serde::de::Error::custom(format!(
                    "invalid duration {shown}: {reason} (expected a number of milliseconds up to 10 years)"
                ))
            }),
        }
    }
}

/// Formats a duration the way k6 prints it in banners: `10m0s`, `1m30s`, `30s`, `1.5s`, `500ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let h = ms / 3_600_000;
    let m = (ms / 60_000) % 60;
    let s = (ms % 60_000) as f64 / 1000.0;
    let secs = if s.fract() == 0.0 {
        format!("{}s", s as u64)
    } else {
        format!("{s}s")
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_forms() {
        let cases = [
            ("30s", 30_000),
            ("1m30s", 90_000),
            ("500ms", 500),
            ("1h2m3s", 3_723_000),
            ("1.5s", 1_500),
            ("2m", 120_000),
            ("1000", 1_000),
            ("0s", 0),
        ];
        for (input, ms) in cases {
            assert_eq!(parse_duration(input).unwrap().as_millis(), ms, "{input}");
        }
        assert_eq!(parse_duration("250us").unwrap().as_micros(), 250);
        assert_eq!(
            parse_duration("1d2h").unwrap(),
            Duration::from_secs(26 * 3600)
        );
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(input in "\\PC{0,24}") {
            if let Ok(d) = parse_duration(&input) {
                proptest::prop_assert!(d <= MAX_DURATION);
            }
        }

        #[test]
        fn no_number_panics(ms in proptest::num::f64::ANY) {
            if let Ok(d) = from_millis(ms) {
                proptest::prop_assert!(d <= MAX_DURATION);
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        for input in [
            "",
            "abc",
            "10x",
            "s",
            "-5s",
            "1m30",
            "1..5s",
            "inf",
            "NaN",
            "-inf",
            "1e30",
            "1e300",
            "infinity",
            "99999999999h",
            "1e400s",
        ] {
            assert!(parse_duration(input).is_err(), "{input} should fail");
        }
        let e = parse_duration("10x").unwrap_err();
        assert!(e.to_string().contains("\"10x\""));
    }

    #[test]
    fn formats_like_k6() {
        assert_eq!(format_duration(Duration::from_secs(600)), "10m0s");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(3630)), "1h0m30s");
    }
}
