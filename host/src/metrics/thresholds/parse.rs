//! k6's threshold grammar: `<aggregation> <operator> <number>` on a metric or a sub-metric
//! (`http_req_duration{status:200}`), and which aggregations fit which metric type.

use crate::metrics::MetricKind;

/// What a threshold aggregates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    /// Counter: total count.
    Count,
    /// Counter: count per second; Rate: share of non-zero samples.
    Rate,
    /// Gauge: last value.
    Value,
    /// Trend: mean.
    Avg,
    /// Trend: minimum.
    Min,
    /// Trend: maximum.
    Max,
    /// Trend: median.
    Med,
    /// Trend: percentile, 0–100.
    Percentile(f64),
}

impl Aggregation {
    /// Whether k6 allows this aggregation on a metric of `kind`.
    pub fn fits(self, kind: MetricKind) -> bool {
        use Aggregation::*;
        match kind {
            MetricKind::Counter => matches!(self, Count | Rate),
            MetricKind::Gauge => matches!(self, Value),
            MetricKind::Rate => matches!(self, Rate),
            MetricKind::Trend => matches!(self, Avg | Min | Max | Med | Percentile(_)),
        }
    }

    /// The name as written in an expression and in the summary: `p(95)`, `avg`, `rate`.
    pub fn label(self) -> String {
        match self {
            Aggregation::Count => "count".into(),
            Aggregation::Rate => "rate".into(),
            Aggregation::Value => "value".into(),
            Aggregation::Avg => "avg".into(),
            Aggregation::Min => "min".into(),
            Aggregation::Max => "max".into(),
            Aggregation::Med => "med".into(),
            Aggregation::Percentile(p) => format!("p({p})"),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` or `===`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    fn holds(self, lhs: f64, rhs: f64) -> bool {
        match self {
            Op::Lt => lhs < rhs,
            Op::Le => lhs <= rhs,
            Op::Gt => lhs > rhs,
            Op::Ge => lhs >= rhs,
            Op::Eq => lhs == rhs,
            Op::Ne => lhs != rhs,
        }
    }
}

/// A parsed threshold expression such as `p(95)<2000`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What is aggregated.
    pub aggregation: Aggregation,
    /// How it is compared.
    pub op: Op,
    /// The number it is compared with.
    pub bound: f64,
    /// The expression as the user wrote it.
    pub source: String,
    /// Volley's windowed thresholds (`p(95)<500 over 30s`): only the samples of the last
    /// `window` count. `None`: the whole test, as in k6.
    pub window: Option<std::time::Duration>,
}

impl Expr {
    /// Whether `value` (the aggregation's current value) passes.
    pub fn passes(&self, value: f64) -> bool {
        self.op.holds(value, self.bound)
    }
}

/// Why a threshold expression or metric selector is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    /// The expression does not follow `aggregation operator number`.
    #[error("threshold '{expr}': {reason}")]
    Syntax {
        /// The expression.
        expr: String,
        /// What was wrong.
        reason: String,
    },
    /// The metric name or `{tag:value}` selector is malformed.
    #[error("threshold metric '{selector}': {reason}")]
    Selector {
        /// The selector text.
        selector: String,
        /// What was wrong.
        reason: String,
    },
}

/// Operators in the order k6 tries them.
const OPERATORS: [(&str, Op); 7] = [
    ("<=", Op::Le),
    ("<", Op::Lt),
    (">=", Op::Ge),
    (">", Op::Gt),
    ("===", Op::Eq),
    ("==", Op::Eq),
    ("!=", Op::Ne),
];

/// Parses a threshold expression (k6's `assertion` rule).
pub fn parse_expr(source: &str) -> Result<Expr, ThresholdError> {
    let syntax = |reason: &str| ThresholdError::Syntax {
        expr: source.to_string(),
        reason: reason.to_string(),
    };
    let (assertion, window) = match source.rsplit_once(" over ") {
        Some((a, w)) => {
            let window = crate::duration::parse_duration(w.trim())
                .map_err(|e| syntax(&format!("window: {e}")))?;
            if window < std::time::Duration::from_secs(1) {
                return Err(syntax("a window must be at least 1s"));
            }
            (a, Some(window))
        }
        None => (source, None),
    };
    let (left, op, right) = OPERATORS
        .iter()
        .find_map(|(text, op)| {
            let (l, r) = assertion.split_once(text)?;
            (!r.trim().is_empty()).then_some((l, *op, r))
        })
        .ok_or_else(|| syntax("expected an operator (<, <=, >, >=, ==, ===, !=) and a number"))?;
    let bound: f64 = right
        .trim()
        .parse()
        .map_err(|_| syntax(&format!("'{}' is not a number", right.trim())))?;
    let aggregation = parse_aggregation(left.trim()).ok_or_else(|| {
        syntax(&format!(
            "unknown aggregation '{}' (expected count, rate, value, avg, min, max, med or p(N))",
            left.trim()
        ))
    })?;
    Ok(Expr {
        aggregation,
        op,
        bound,
        source: source.to_string(),
        window,
    })
}

fn parse_aggregation(text: &str) -> Option<Aggregation> {
    Some(match text {
        "count" => Aggregation::Count,
        "rate" => Aggregation::Rate,
        "value" => Aggregation::Value,
        "avg" => Aggregation::Avg,
        "min" => Aggregation::Min,
        "max" => Aggregation::Max,
        "med" => Aggregation::Med,
        _ => {
            let inner = text.strip_prefix("p(")?.strip_suffix(')')?;
            let p: f64 = inner.trim().parse().ok()?;
            if !(0.0..=100.0).contains(&p) {
                return None;
            }
            Aggregation::Percentile(p)
        }
    })
}

/// A metric name with an optional tag filter: `http_req_duration{status:200,method:GET}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Selector {
    /// The metric name.
    pub metric: String,
    /// `key:value` pairs a sample's tags must all contain, sorted by key.
    pub tags: Vec<(String, String)>,
}

impl Selector {
    /// The sub-metric label as k6 prints it: `{status:200}`; empty for the whole metric.
    pub fn tags_label(&self) -> String {
        if self.tags.is_empty() {
            return String::new();
        }
        let inner: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        format!("{{{}}}", inner.join(","))
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.metric, self.tags_label())
    }
}

/// Parses a metric name with an optional `{tag:value,...}` selector (k6's `ParseMetricName`).
pub fn parse_selector(text: &str) -> Result<Selector, ThresholdError> {
    let bad = |reason: &str| ThresholdError::Selector {
        selector: text.to_string(),
        reason: reason.to_string(),
    };
    let Some(open) = text.find('{') else {
        if text.contains('}') {
            return Err(bad("'}' without '{'"));
        }
        return Ok(Selector {
            metric: text.trim().to_string(),
            tags: Vec::new(),
        });
    };
    let close = text.rfind('}').ok_or_else(|| bad("missing closing '}'"))?;
    if close != text.len() - 1 {
        return Err(bad("'}' must be the last character"));
    }
    let metric = text[..open].trim();
    if metric.is_empty() {
        return Err(bad("missing metric name before '{'"));
    }
    let mut tags = Vec::new();
    for pair in text[open + 1..close].split(',') {
        let (k, v) = pair
            .split_once(':')
            .ok_or_else(|| bad(&format!("tag '{}' is not key:value", pair.trim())))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            return Err(bad(&format!(
                "tag '{}' has an empty key or value",
                pair.trim()
            )));
        }
        tags.push((k.to_string(), v.to_string()));
    }
    tags.sort();
    Ok(Selector {
        metric: metric.to_string(),
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// No threshold or selector text panics (NaN, infinities, huge percentiles, odd tags).
        #[test]
        fn no_threshold_input_panics(
            expr in "[a-z()0-9.<>=!&| eEinfNa-]{0,24}",
            selector in "[a-z_{}:,0-9 ]{0,32}",
            window in "( over [0-9a-z.]{0,8})?",
        ) {
            let _ = parse_expr(&format!("{expr}{window}"));
            let _ = parse_selector(&selector);
        }
    }

    #[test]
    fn parses_every_aggregation_and_operator() {
        let cases = [
            ("p(95)<2000", Aggregation::Percentile(95.0), Op::Lt, 2000.0),
            ("p(99.9) <= 1.5", Aggregation::Percentile(99.9), Op::Le, 1.5),
            ("rate<0.01", Aggregation::Rate, Op::Lt, 0.01),
            ("count>=5", Aggregation::Count, Op::Ge, 5.0),
            ("value>1", Aggregation::Value, Op::Gt, 1.0),
            ("avg===3", Aggregation::Avg, Op::Eq, 3.0),
            ("min==3", Aggregation::Min, Op::Eq, 3.0),
            ("max!=0", Aggregation::Max, Op::Ne, 0.0),
            ("med < 10", Aggregation::Med, Op::Lt, 10.0),
        ];
        for (src, agg, op, bound) in cases {
            let e = parse_expr(src).unwrap();
            assert_eq!((e.aggregation, e.op, e.bound), (agg, op, bound), "{src}");
        }
    }

    #[test]
    fn parses_windows() {
        let e = parse_expr("p(95)<500 over 30s").unwrap();
        assert_eq!(e.window, Some(std::time::Duration::from_secs(30)));
        assert_eq!(
            (e.aggregation, e.op, e.bound),
            (Aggregation::Percentile(95.0), Op::Lt, 500.0)
        );
        assert_eq!(parse_expr("rate<0.01").unwrap().window, None);
        assert!(parse_expr("rate<0.01 over 10x")
            .unwrap_err()
            .to_string()
            .contains("window"));
        assert!(parse_expr("rate<0.01 over 500ms").is_err());
    }

    #[test]
    fn rejects_bad_expressions() {
        for src in [
            "p(95)", "p95<1", "avg<abc", "mean<3", "<5", "p(101)<1", "", "count>",
        ] {
            assert!(parse_expr(src).is_err(), "{src} should fail");
        }
        let msg = parse_expr("mean<3").unwrap_err().to_string();
        assert!(
            msg.contains("mean<3") && msg.contains("unknown aggregation"),
            "{msg}"
        );
    }

    #[test]
    fn evaluates_operators() {
        assert!(parse_expr("p(95)<2000").unwrap().passes(1999.0));
        assert!(!parse_expr("p(95)<2000").unwrap().passes(2000.0));
        assert!(parse_expr("rate<=0.5").unwrap().passes(0.5));
        assert!(parse_expr("count!=3").unwrap().passes(2.0));
    }

    #[test]
    fn aggregations_fit_metric_kinds() {
        assert!(Aggregation::Count.fits(MetricKind::Counter));
        assert!(Aggregation::Rate.fits(MetricKind::Counter));
        assert!(Aggregation::Rate.fits(MetricKind::Rate));
        assert!(!Aggregation::Count.fits(MetricKind::Rate));
        assert!(Aggregation::Value.fits(MetricKind::Gauge));
        assert!(!Aggregation::Avg.fits(MetricKind::Gauge));
        assert!(Aggregation::Percentile(90.0).fits(MetricKind::Trend));
        assert!(!Aggregation::Rate.fits(MetricKind::Trend));
    }

    #[test]
    fn parses_selectors() {
        let s = parse_selector("http_req_duration{status:200,method:GET}").unwrap();
        assert_eq!(s.metric, "http_req_duration");
        assert_eq!(s.tags_label(), "{method:GET,status:200}");
        assert_eq!(parse_selector("checks").unwrap().tags, vec![]);
        let g = parse_selector("group_duration{group:::g1}").unwrap();
        assert_eq!(g.tags, vec![("group".into(), "::g1".into())]);
        for bad in ["a{b}", "a{b:}", "{b:c}", "a{b:c}x", "a{b:c", "a}"] {
            assert!(parse_selector(bad).is_err(), "{bad} should fail");
        }
    }
}
