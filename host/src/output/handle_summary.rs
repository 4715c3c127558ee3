//! k6's `handleSummary(data)`: the data a script's `handleSummary` receives, in k6's shape
//! (`metrics`, `root_group`, `options`, `state`), and what it returns: `stdout` and `stderr`
//! printed, any other key written as a file, within [`MAX_OUTPUT_BYTES`] and [`MAX_OUTPUTS`].

use std::io::Write;
use std::path::PathBuf;

use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use super::Results;
use crate::metrics::{builtin, Aggregate, MetricValue};

/// Most bytes of outputs a `handleSummary` may return in total (its JSON text included): the
/// host holds them all before printing or writing any.
pub const MAX_OUTPUT_BYTES: usize = 16 << 20;
/// Most outputs (printed streams and files) a `handleSummary` may return.
pub const MAX_OUTPUTS: usize = 64;

/// Why the outputs of `handleSummary` were not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// More than [`MAX_OUTPUT_BYTES`].
    #[error("handleSummary returned {bytes} bytes of outputs, more than the {limit} bytes Volley takes: nothing was printed or written")]
    TooLarge {
        /// What it returned.
        bytes: usize,
        /// [`MAX_OUTPUT_BYTES`].
        limit: usize,
    },
    /// More than [`MAX_OUTPUTS`] keys.
    #[error("handleSummary returned {count} outputs, more than the {limit} Volley takes: nothing was printed or written")]
    TooMany {
        /// How many.
        count: usize,
        /// [`MAX_OUTPUTS`].
        limit: usize,
    },
    /// Not what the guest side of the world sends (a JSON object of strings).
    #[error("handleSummary's outputs are not a JSON object of strings: {0}")]
    Malformed(String),
    /// A file could not be written.
    #[error("handleSummary's output {path} could not be written: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What the data's `options` and `state` say besides the results.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminal {
    /// Whether stdout is a terminal (`state.isStdOutTTY`).
    pub stdout_tty: bool,
    /// Whether stderr is a terminal (`state.isStdErrTTY`).
    pub stderr_tty: bool,
    /// `--no-color` (`options.noColor`).
    pub no_color: bool,
}

impl Terminal {
    /// This process's terminals, with `--no-color` as given.
    pub fn of_this_process(no_color: bool) -> Terminal {
        use std::io::IsTerminal;
        Terminal {
            stdout_tty: std::io::stdout().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
            no_color,
        }
    }
}

/// The `data` k6 hands to `handleSummary`, from the run's results and aggregate.
pub fn data(r: &Results, agg: &Aggregate, terminal: Terminal) -> Value {
    json!({
        "metrics": metrics(r),
        "root_group": root_group(agg),
        "options": {
            "summaryTrendStats": r.trend_stats,
            "summaryTimeUnit": r.time_unit.clone().unwrap_or_default(),
            "noColor": terminal.no_color,
        },
        "state": {
            "isStdOutTTY": terminal.stdout_tty,
            "isStdErrTTY": terminal.stderr_tty,
            "testRunDurationMs": r.duration.as_secs_f64() * 1000.0,
        },
    })
}

/// Each metric and sub-metric with data, as k6 shows it.
fn metrics(r: &Results) -> Value {
    r.metrics
        .iter()
        .map(|m| {
            (
                m.selector.to_string(),
                Value::Object(super::export::entry(r, m)),
            )
        })
        .collect::<Map<_, _>>()
        .into()
}

/// k6's id of a group or check: the md5 of its path, in hex.
fn id(path: &str) -> String {
    Md5::digest(path.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A check's passes and fails among the samples matching `filter`.
fn counts(agg: &Aggregate, filter: &[(String, String)]) -> (u64, u64) {
    match agg.value(builtin::CHECKS, filter) {
        Some(MetricValue::Rate { nonzero, total }) => (nonzero, total - nonzero),
        _ => (0, 0),
    }
}

/// The root group as k6 gives it: its checks, and its groups (each entered group, nested by
/// its `::outer::inner` path) with theirs. Groups and checks are in name order.
fn root_group(agg: &Aggregate) -> Value {
    let mut paths: Vec<String> = agg
        .by_tag(builtin::GROUP_DURATION, "group")
        .into_iter()
        .chain(agg.by_tag(builtin::CHECKS, "group"))
        .map(|(path, _)| path)
        .filter(|p| !p.is_empty())
        .collect();
    // Every ancestor of an entered group is a group too.
    for p in paths.clone() {
        let mut at = p.as_str();
        while let Some((parent, _)) = at.rsplit_once("::") {
            if !parent.is_empty() {
                paths.push(parent.to_string());
            }
            at = parent;
        }
    }
    paths.sort();
    paths.dedup();
    let names: Vec<String> = agg
        .by_tag(builtin::CHECKS, "check")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    // A check's samples outside every group are its total less those inside one.
    let mut in_groups = std::collections::BTreeMap::<&str, (u64, u64)>::new();
    let mut checks_of = |path: &str| -> Vec<Value> {
        names
            .iter()
            .filter_map(|name| {
                let check = [("check".to_string(), name.clone())];
                let (passes, fails) = if path.is_empty() {
                    let (p, f) = counts(agg, &check);
                    let (gp, gf) = in_groups.get(name.as_str()).copied().unwrap_or_default();
                    (p.saturating_sub(gp), f.saturating_sub(gf))
                } else {
                    let filter = [check[0].clone(), ("group".to_string(), path.to_string())];
                    let c = counts(agg, &filter);
                    let sum = in_groups.entry(name.as_str()).or_default();
                    *sum = (sum.0 + c.0, sum.1 + c.1);
                    c
                };
                (passes + fails > 0).then(|| {
                    let check_path = format!("{path}::{name}");
                    json!({
                        "name": name,
                        "path": check_path,
                        "id": id(&check_path),
                        "passes": passes,
                        "fails": fails,
                    })
                })
            })
            .collect()
    };
    // Children first (deepest paths last in sort order), so the root's own checks come last.
    let mut nodes: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
    for path in paths.iter().rev() {
        let children: Vec<Value> = paths
            .iter()
            .filter(|c| {
                c.rsplit_once("::")
                    .is_some_and(|(parent, _)| parent == path)
            })
            .filter_map(|c| nodes.remove(c))
            .collect();
        let name = path.rsplit_once("::").map_or(path.as_str(), |(_, n)| n);
        let node = json!({
            "name": name,
            "path": path,
            "id": id(path),
            "groups": children,
            "checks": checks_of(path),
        });
        nodes.insert(path.clone(), node);
    }
    let top: Vec<Value> = paths
        .iter()
        .filter(|p| {
            p.rsplit_once("::")
                .is_some_and(|(parent, _)| parent.is_empty())
        })
        .filter_map(|p| nodes.remove(p))
        .collect();
    json!({
        "name": "",
        "path": "",
        "id": id(""),
        "groups": top,
        "checks": checks_of(""),
    })
}

/// One output of `handleSummary`: a key (`stdout`, `stderr` or a file path) and its bytes.
pub type Output = (String, Vec<u8>);

/// Reads the outputs the guest returned (a JSON object whose values are strings or
/// `{ "base64": ... }` for binary values), bounded by [`MAX_OUTPUT_BYTES`] and [`MAX_OUTPUTS`].
pub fn parse(text: &str) -> Result<Vec<Output>, SummaryError> {
    if text.len() > MAX_OUTPUT_BYTES {
        return Err(SummaryError::TooLarge {
            bytes: text.len(),
            limit: MAX_OUTPUT_BYTES,
        });
    }
    let map: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| SummaryError::Malformed(e.to_string()))?;
    if map.len() > MAX_OUTPUTS {
        return Err(SummaryError::TooMany {
            count: map.len(),
            limit: MAX_OUTPUTS,
        });
    }
    map.into_iter()
        .map(|(key, value)| {
            let bytes = match value {
                Value::String(s) => s.into_bytes(),
                Value::Object(o) => match o.get("base64").and_then(Value::as_str) {
                    Some(b) => base64_decode(b).ok_or_else(|| {
                        SummaryError::Malformed(format!("'{key}' is not valid base64"))
                    })?,
                    None => return Err(SummaryError::Malformed(format!("'{key}'"))),
                },
                _ => return Err(SummaryError::Malformed(format!("'{key}'"))),
            };
            Ok((key, bytes))
        })
        .collect()
}

/// Standard base64 with padding, as the guest's `b64encode` writes it.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// What became of the outputs besides those delivered.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Files refused because the plugin may not write files.
    pub refused: Vec<String>,
    /// Outputs that could not be written, each with why (k6 goes on with the others).
    pub failed: Vec<SummaryError>,
}

/// Prints `stdout` and `stderr` outputs to `out` and `err`, and writes every other output as a
/// file (relative to the working directory, as k6) when `files` is true; otherwise lists it as
/// refused. Outputs are handled in key order; a failed one does not stop the others.
pub fn deliver(
    outputs: &[Output],
    files: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Delivered {
    let mut delivered = Delivered::default();
    for (key, bytes) in outputs {
        let path = PathBuf::from(key);
        let written = match key.as_str() {
            "stdout" => out.write_all(bytes).and_then(|()| out.flush()),
            "stderr" => err.write_all(bytes).and_then(|()| err.flush()),
            _ if !files => {
                delivered.refused.push(key.clone());
                continue;
            }
            _ => std::fs::write(&path, bytes),
        };
        if let Err(source) = written {
            delivered.failed.push(SummaryError::Write { path, source });
        }
    }
    delivered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_bounded_before_they_are_parsed() {
        let big = format!("{{\"stdout\":\"{}\"}}", "x".repeat(MAX_OUTPUT_BYTES));
        assert!(matches!(parse(&big), Err(SummaryError::TooLarge { .. })));
        let many: Map<String, Value> = (0..=MAX_OUTPUTS)
            .map(|i| (format!("f{i}"), json!("")))
            .collect();
        let many = serde_json::to_string(&many).unwrap();
        assert!(matches!(parse(&many), Err(SummaryError::TooMany { .. })));
        assert!(parse("[1]").is_err());
        assert!(parse(r#"{"a": 1}"#).is_err());
    }

    #[test]
    fn binary_outputs_come_as_base64() {
        let o = parse(r#"{"b.bin": {"base64": "AAH/gA=="}, "stdout": "hi"}"#).unwrap();
        assert_eq!(o[0], ("b.bin".to_string(), vec![0, 1, 255, 128]));
        assert_eq!(o[1], ("stdout".to_string(), b"hi".to_vec()));
        assert!(parse(r#"{"b.bin": {"base64": "A"}}"#).is_err());
    }

    #[test]
    fn streams_are_printed_and_files_refused_unless_allowed() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let outputs = vec![
            ("stdout".to_string(), b"to out".to_vec()),
            ("stderr".to_string(), b"to err".to_vec()),
            ("/nonexistent/x.json".to_string(), b"{}".to_vec()),
        ];
        let d = deliver(&outputs, false, &mut out, &mut err);
        assert_eq!((&out[..], &err[..]), (&b"to out"[..], &b"to err"[..]));
        assert_eq!(d.refused, vec!["/nonexistent/x.json".to_string()]);
        assert!(d.failed.is_empty());
        let d = deliver(&outputs, true, &mut Vec::new(), &mut Vec::new());
        assert!(d.refused.is_empty());
        let e = d.failed[0].to_string();
        assert!(e.contains("/nonexistent/x.json"), "{e}");
    }

    #[test]
    fn ids_are_k6s() {
        assert_eq!(id(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(id("::outer"), "c34b428ee7255085dfe7fef53d3394d5");
    }
}
