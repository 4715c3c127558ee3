//! The HTML report (`--report FILE`): one self-contained page (inline CSS and SVG, no scripts,
//! no network fetches) with charts over time of VUs, requests/s, latency percentiles, failure
//! rate and checks, the thresholds table, per-scenario and per-URL tables, and the text summary.
//! The live dashboard (`output::dashboard`) renders its updates with the same [`body`].

use std::fmt::Write;

use super::{format, summary, Results};
use crate::metrics::series::Point;
use crate::metrics::{builtin, Aggregate, MetricValue};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 16.0;
const RIGHT: f64 = 12.0;

/// One line of a chart.
struct Line<'a> {
    label: &'a str,
    color: &'a str,
    /// One value per second; `None` where the second has nothing to show (no requests).
    values: Vec<Option<f64>>,
}

/// What a report page shows: the results, the per-second series and the breakdown tables.
pub struct Page<'a> {
    /// The summary's snapshot (thresholds, metrics, facts).
    pub results: &'a Results,
    /// One point per second of the run so far.
    pub series: &'a [Point],
    /// Per-scenario and per-URL rows.
    pub breakdown: &'a Breakdown,
    /// The page title.
    pub title: &'a str,
}

/// Renders the whole report page (what `--report` writes, and the live dashboard's final page).
pub fn render(p: &Page<'_>) -> String {
    document(p.title, &body(p), "")
}

/// The page around a body: the one stylesheet both the report and the live dashboard use.
/// `extra` goes after the body (the live dashboard's status line and script).
pub fn document(title: &str, body: &str, extra: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #111827; background: #f9fafb; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 16px; margin: 18px 0 6px; }}
.charts {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(720px, 1fr)); gap: 16px; }}
.card {{ background: white; border: 1px solid #e5e7eb; border-radius: 8px; padding: 12px; }}
table {{ border-collapse: collapse; background: white; }}
td, th {{ border: 1px solid #e5e7eb; padding: 4px 10px; text-align: left; font-size: 14px; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.pass {{ color: #059669; font-weight: bold; }} .fail {{ color: #dc2626; font-weight: bold; }}
pre {{ background: white; border: 1px solid #e5e7eb; padding: 12px; overflow-x: auto; font-size: 12px; }}
svg text {{ font-size: 11px; fill: #4b5563; }}
#live-status {{ color: #4b5563; }}
</style></head><body>
<h1>{title}</h1>
<main id="report">{body}</main>
{extra}</body></html>
"#,
        title = escape(title),
    )
}

/// The page's content: facts, thresholds, breakdown tables, charts and the text summary.
pub fn body(p: &Page<'_>) -> String {
    let (r, series) = (p.results, p.series);
    let seconds: Vec<f64> = series.iter().map(|p| f64::from(p.second)).collect();
    let pct = |num: u64, den: u64| (den > 0).then(|| num as f64 * 100.0 / den as f64);
    let when_requests = |p: &Point, v: f64| (p.requests > 0).then_some(v);
    let charts = [
        chart(
            "Virtual users",
            "VUs",
            &seconds,
            &[line("vus", "#3b82f6", series, |p| Some(p.vus))],
        ),
        chart(
            "Requests per second",
            "req/s",
            &seconds,
            &[line("http_reqs", "#10b981", series, |p| {
                Some(p.requests as f64)
            })],
        ),
        chart(
            "Request duration",
            "ms",
            &seconds,
            &[
                line("p50", "#6366f1", series, |p| when_requests(p, p.p50)),
                line("p90", "#f59e0b", series, |p| when_requests(p, p.p90)),
                line("p95", "#ef4444", series, |p| when_requests(p, p.p95)),
                line("p99", "#7f1d1d", series, |p| when_requests(p, p.p99)),
            ],
        ),
        chart(
            "Failed requests",
            "%",
            &seconds,
            &[line("http_req_failed", "#dc2626", series, |p| {
                pct(p.failed, p.requests)
            })],
        ),
        chart(
            "Checks passed",
            "%",
            &seconds,
            &[line("checks", "#059669", series, |p| {
                pct(p.checks_passed, p.checks)
            })],
        ),
    ];
    let requests = counter(r, "http_reqs");
    let mut page = String::new();
    let _ = write!(
        page,
        r#"<p id="facts" data-elapsed-ms="{elapsed_ms}" data-requests="{requests}" data-iterations="{iterations}">Duration {duration}, {requests} requests, {iterations} complete and {interrupted} interrupted iterations, segment {segment}.</p>
<h2>Thresholds</h2>
"#,
        elapsed_ms = r.facts.duration.as_millis(),
        duration = format::time_ms(r.facts.duration.as_secs_f64() * 1000.0),
        iterations = r.facts.iterations.0,
        interrupted = r.facts.iterations.1,
        segment = escape(&r.facts.segment),
    );
    if r.thresholds.is_empty() {
        page.push_str("<p>No thresholds.</p>\n");
    } else {
        page.push_str("<table id=\"thresholds\"><tr><th>Metric</th><th>Threshold</th><th>Value</th><th>Result</th></tr>\n");
        for t in &r.thresholds {
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                escape(&t.selector.to_string()),
                escape(&t.source),
                t.value.map_or("n/a".to_string(), |v| format!("{v:.3}")),
                if t.passed { "pass" } else { "fail" },
                if t.passed { "✓ passed" } else { "✗ failed" }
            );
        }
        page.push_str("</table>\n");
    }
    page.push_str("<h2>Over time</h2>\n<div class=\"charts\">\n");
    for c in charts {
        let _ = writeln!(page, "<div class=\"card\">{c}</div>");
    }
    page.push_str("</div>\n");
    page.push_str("<h2>Scenarios</h2>\n");
    page.push_str(&table("scenarios", "Scenario", &p.breakdown.scenarios, 0));
    page.push_str("<h2>Requests by URL (<code>name</code> tag)</h2>\n");
    page.push_str(&table(
        "urls",
        "URL",
        &p.breakdown.urls,
        p.breakdown.urls_left_out,
    ));
    page.push_str("<h2>Summary</h2>\n<pre id=\"summary\">");
    page.push_str(&escape(&summary::render(r)));
    page.push_str("</pre>\n");
    page
}

/// A counter's total in `r` (0 when it has no samples).
fn counter(r: &Results, name: &str) -> u64 {
    match r.metric(name).map(|m| &m.value) {
        Some(MetricValue::Counter { sum }) => *sum as u64,
        _ => 0,
    }
}

/// A breakdown table; each row carries its figures as `data-` attributes as well.
fn table(id: &str, first: &str, rows: &[Row], left_out: usize) -> String {
    if rows.is_empty() {
        return format!("<p id=\"{id}\">No requests yet.</p>\n");
    }
    let mut t = format!(
        "<table id=\"{id}\"><tr><th>{first}</th><th>Requests</th><th>Failed</th><th>Iterations</th><th>Avg (ms)</th><th>p(95) (ms)</th></tr>\n"
    );
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    for row in rows {
        let _ = writeln!(
            t,
            "<tr data-name=\"{n}\" data-requests=\"{q}\" data-failed=\"{f}\"><td>{n}</td><td class=\"num\">{q}</td><td class=\"num\">{f}</td><td class=\"num\">{i}</td><td class=\"num\">{a}</td><td class=\"num\">{p}</td></tr>",
            n = escape(&row.name),
            q = row.requests,
            f = row.failed,
            i = row.iterations.map_or("-".to_string(), |i| i.to_string()),
            a = ms(row.avg_ms),
            p = ms(row.p95_ms),
        );
    }
    if left_out > 0 {
        let _ = writeln!(
            t,
            "<tr><td colspan=\"6\">and {left_out} more with fewer requests</td></tr>"
        );
    }
    t.push_str("</table>\n");
    t
}

/// Rows of the per-scenario and per-URL tables.
#[derive(Debug, Default)]
pub struct Breakdown {
    /// One row per scenario of the test, in its order.
    pub scenarios: Vec<Row>,
    /// The URLs (`name` tag) with the most requests, most first.
    pub urls: Vec<Row>,
    /// URLs not shown because of [`MAX_URL_ROWS`].
    pub urls_left_out: usize,
}

/// One row of a breakdown table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// Scenario name or URL.
    pub name: String,
    /// `http_reqs`.
    pub requests: u64,
    /// Failed requests (`http_req_failed`).
    pub failed: u64,
    /// Complete iterations (scenarios only).
    pub iterations: Option<u64>,
    /// Mean `http_req_duration`.
    pub avg_ms: Option<f64>,
    /// 95th percentile of `http_req_duration`.
    pub p95_ms: Option<f64>,
}

/// The most URL rows a page shows (a test may request thousands of distinct URLs).
pub const MAX_URL_ROWS: usize = 50;

impl Breakdown {
    /// The tables' rows from the aggregate: `scenarios` in the test's order, URLs by requests.
    pub fn collect(scenarios: &[String], agg: &Aggregate) -> Breakdown {
        let by = |metric, key: &str| agg.by_tag(metric, key);
        let rows = |key: &str| -> Vec<Row> {
            let mut rows: Vec<Row> = by(builtin::HTTP_REQS, key)
                .into_iter()
                .map(|(name, v)| Row {
                    name,
                    requests: sum(&v),
                    ..Row::default()
                })
                .collect();
            let mut fill = |metric, set: &dyn Fn(&mut Row, &MetricValue)| {
                for (name, v) in by(metric, key) {
                    if let Some(row) = rows.iter_mut().find(|r| r.name == name) {
                        set(row, &v);
                    }
                }
            };
            fill(builtin::HTTP_REQ_FAILED, &|row, v| {
                if let MetricValue::Rate { nonzero, .. } = v {
                    row.failed = *nonzero;
                }
            });
            fill(builtin::HTTP_REQ_DURATION, &|row, v| {
                if let MetricValue::Trend(t) = v {
                    if t.count() > 0 {
                        row.avg_ms = Some(t.stats().avg);
                        row.p95_ms = Some(t.percentile(95.0));
                    }
                }
            });
            fill(builtin::ITERATIONS, &|row, v| row.iterations = Some(sum(v)));
            rows
        };
        let mut by_scenario = rows("scenario");
        for (name, v) in by(builtin::ITERATIONS, "scenario") {
            if !by_scenario.iter().any(|r| r.name == name) {
                by_scenario.push(Row {
                    name,
                    iterations: Some(sum(&v)),
                    ..Row::default()
                });
            }
        }
        let scenarios = scenarios
            .iter()
            .map(|name| {
                by_scenario
                    .iter()
                    .find(|r| &r.name == name)
                    .cloned()
                    .unwrap_or_else(|| Row {
                        name: name.clone(),
                        ..Row::default()
                    })
            })
            .collect();
        let mut urls = rows("name");
        for row in &mut urls {
            row.iterations = None;
        }
        urls.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.name.cmp(&b.name)));
        let urls_left_out = urls.len().saturating_sub(MAX_URL_ROWS);
        urls.truncate(MAX_URL_ROWS);
        Breakdown {
            scenarios,
            urls,
            urls_left_out,
        }
    }
}

fn sum(v: &MetricValue) -> u64 {
    match v {
        MetricValue::Counter { sum } => *sum as u64,
        _ => 0,
    }
}

fn line<'a>(
    label: &'a str,
    color: &'a str,
    series: &[Point],
    f: impl Fn(&Point) -> Option<f64>,
) -> Line<'a> {
    Line {
        label,
        color,
        values: series.iter().map(f).collect(),
    }
}

/// An SVG line chart with a y axis from 0 to a rounded maximum and the test's seconds on x.
fn chart(title: &str, unit: &str, xs: &[f64], lines: &[Line<'_>]) -> String {
    let max_x = xs.last().copied().unwrap_or(0.0).max(1.0);
    let max_y = nice_ceiling(
        lines
            .iter()
            .flat_map(|l| l.values.iter().flatten().copied())
            .fold(0.0, f64::max),
    );
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x = |v: f64| LEFT + v / max_x * plot_w;
    let y = |v: f64| TOP + plot_h - v / max_y * plot_h;
    let mut svg = format!(
        r#"<svg class="chart" role="img" aria-label="{t}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = escape(title)
    );
    for i in 0..=4 {
        let v = max_y * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            short(v),
            y = y(v),
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="{}">{} ({unit})</text><text x="{}" y="{}" text-anchor="end">{}s</text>"#,
        TOP - 4.0,
        escape(title),
        WIDTH - RIGHT,
        HEIGHT - 8.0,
        max_x
    );
    for (i, l) in lines.iter().enumerate() {
        let points: Vec<String> = xs
            .iter()
            .zip(&l.values)
            .filter_map(|(a, b)| b.map(|b| format!("{:.1},{:.1}", x(*a), y(b))))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="series" data-label="{label}" fill="none" stroke="{c}" stroke-width="2" points="{p}"/><text x="{lx}" y="{ly}" fill="{c}" style="fill:{c}">{label}</text>"#,
            label = escape(l.label),
            c = l.color,
            p = points.join(" "),
            lx = LEFT + 10.0 + 70.0 * i as f64,
            ly = HEIGHT - 8.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// 1, 2 or 5 times a power of ten, at least `v` (and at least 1).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 1.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

fn short(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        // Axis steps are quarters of 1, 2 or 5 times a power of ten: two decimals show them.
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axis_maxima() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(42.0), 50.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
        assert_eq!(nice_ceiling(101.0), 200.0);
        let labels: Vec<String> = [0.0, 0.25, 2.5, 37.5, 100.0, 1500.0]
            .iter()
            .map(|v| short(*v))
            .collect();
        assert_eq!(labels, ["0", "0.25", "2.5", "37.5", "100", "1.5k"]);
    }

    #[test]
    fn charts_have_one_polyline_per_line_and_escape_text() {
        let xs = [0.0, 1.0, 2.0];
        let svg = chart(
            "a<b",
            "ms",
            &xs,
            &[
                Line {
                    label: "p50",
                    color: "#000",
                    values: vec![Some(1.0), Some(2.0), Some(3.0)],
                },
                Line {
                    label: "p99",
                    color: "#111",
                    values: vec![Some(2.0), None, Some(6.0)],
                },
            ],
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(
            svg.contains(r##"data-label="p99" fill="none" stroke="#111" stroke-width="2" points="56.0,156.8 708.0,86.4""##),
            "gaps are skipped: {svg}"
        );
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"));
        assert!(svg.contains(r#"points="56.0,"#), "{svg}");
    }

    /// Rows add up per scenario and per URL, URLs come most-requested first, and a test with
    /// more distinct URLs than [`MAX_URL_ROWS`] shows that many and counts the rest.
    #[test]
    fn breakdown_rows_and_the_url_bound() {
        use crate::metrics::{Registry, Sample, Tags};
        let agg = Aggregate::new(Tags::new(), Registry::new());
        let mut samples = Vec::new();
        let urls = MAX_URL_ROWS + 7;
        for i in 0..urls {
            // URL i gets i + 1 requests, all in scenario "a" but the last URL's, in "b".
            let scenario = if i + 1 == urls { "b" } else { "a" };
            let tags = agg.tags().intern(vec![
                ("name".into(), format!("/u/{i}")),
                ("scenario".into(), scenario.into()),
            ]);
            for _ in 0..=i {
                for (metric, value) in [
                    (builtin::HTTP_REQS, 1.0),
                    (builtin::HTTP_REQ_FAILED, f64::from(u8::from(i == 0))),
                    (builtin::HTTP_REQ_DURATION, 10.0),
                ] {
                    samples.push(Sample {
                        metric,
                        tags,
                        value,
                        at: 0,
                    });
                }
            }
        }
        agg.record(&samples);
        let b = Breakdown::collect(&["a".into(), "b".into(), "idle".into()], &agg);
        let total = (urls * (urls + 1) / 2) as u64;
        let names: Vec<&str> = b.scenarios.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "idle"], "the test's order, idle ones too");
        assert_eq!(b.scenarios[1].requests, urls as u64);
        assert_eq!(b.scenarios[0].requests + b.scenarios[1].requests, total);
        assert_eq!(b.scenarios[0].failed, 1);
        assert_eq!(
            b.scenarios[2],
            Row {
                name: "idle".into(),
                ..Row::default()
            }
        );
        assert_eq!(b.urls.len(), MAX_URL_ROWS);
        assert_eq!(b.urls_left_out, 7);
        assert_eq!(
            b.urls[0].name,
            format!("/u/{}", urls - 1),
            "most requests first"
        );
        assert!((b.urls[0].p95_ms.unwrap() - 10.0).abs() < 0.1);
        let html = table("urls", "URL", &b.urls, b.urls_left_out);
        assert_eq!(html.matches("<tr data-name=").count(), MAX_URL_ROWS);
        assert!(html.contains("and 7 more with fewer requests"));
    }
}
