//! Streaming outputs (`--out json=FILE`, `--out csv=FILE`, `--out prometheus-rw=URL`): every
//! sample, on a writer thread fed by the aggregate's merge timer, so VUs never wait on output I/O.
//!
//! - `json`: k6's NDJSON. A `{"type":"Metric",...}` line the first time a metric appears, then one
//!   `{"type":"Point","metric":...,"data":{"time":RFC3339,"value":...,"tags":{...}}}` line per sample.
//! - `csv`: k6's columns; `timestamp` is unix seconds; tags without a column go to `extra_tags` as
//!   `k=v&k=v`.
//! - `prometheus-rw`: Prometheus remote write ([`super::prometheus`]).
//! - `influxdb`: InfluxDB 1.x line protocol ([`super::influxdb`]).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{influxdb, prometheus};
use crate::metrics::{Aggregate, MetricDef, MetricId, Registry, Sample, TagSet, Tags};

/// k6's CSV columns, in order.
const CSV_COLUMNS: [&str; 19] = [
    "metric_name",
    "timestamp",
    "metric_value",
    "check",
    "error",
    "error_code",
    "expected_response",
    "group",
    "method",
    "name",
    "proto",
    "scenario",
    "service",
    "status",
    "subproto",
    "tls_version",
    "url",
    "extra_tags",
    "metadata",
];

/// A streaming output and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutSpec {
    /// k6's NDJSON.
    Json(PathBuf),
    /// k6's CSV.
    Csv(PathBuf),
    /// Prometheus remote write.
    PrometheusRw(prometheus::Settings),
    /// InfluxDB 1.x.
    InfluxDb(influxdb::Settings),
}

impl OutSpec {
    /// Parses `json=FILE`, `csv=FILE`, `prometheus-rw=URL` or `influxdb[=URL]`.
    pub fn parse(text: &str) -> Result<OutSpec, String> {
        if text == "influxdb" {
            return influxdb::Settings::new("")
                .map(OutSpec::InfluxDb)
                .map_err(|e| e.to_string());
        }
        let (kind, arg) = text.split_once('=').ok_or_else(|| {
            format!(
                "invalid output {text:?}: expected json=FILE, csv=FILE, prometheus-rw=URL or \
                 influxdb=URL"
            )
        })?;
        if arg.is_empty() {
            return Err(format!("invalid output {text:?}: missing file name or URL"));
        }
        match kind {
            "json" => Ok(OutSpec::Json(arg.into())),
            "csv" => Ok(OutSpec::Csv(arg.into())),
            "prometheus-rw" | "experimental-prometheus-rw" => {
                prometheus::Settings::new(arg).map(OutSpec::PrometheusRw)
            }
            "influxdb" => influxdb::Settings::new(arg)
                .map(OutSpec::InfluxDb)
                .map_err(|e| e.to_string()),
            other => Err(format!(
                "unknown output '{other}' (available: json, csv, prometheus-rw, influxdb)"
            )),
        }
    }
}

impl std::fmt::Display for OutSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutSpec::Json(p) => write!(f, "json ({})", p.display()),
            OutSpec::Csv(p) => write!(f, "csv ({})", p.display()),
            OutSpec::PrometheusRw(s) => write!(f, "prometheus-rw ({})", s.url),
            OutSpec::InfluxDb(s) => write!(f, "influxdb ({s})"),
        }
    }
}

/// A running output writer.
pub struct Stream {
    handle: JoinHandle<Result<u64, String>>,
    name: String,
}

impl Stream {
    /// Opens the file and starts the writer; it receives every batch `agg` merges from now on.
    pub fn start(spec: &OutSpec, agg: &Aggregate) -> std::io::Result<Stream> {
        let (tx, rx) = mpsc::channel::<Arc<Vec<Sample>>>();
        let tags = agg.tags().clone();
        let metrics = agg.metrics().clone();
        let wall_start = agg.origin().1;
        let spawn = std::thread::Builder::new().name("volley-output".into());
        let handle = match spec {
            OutSpec::Json(path) | OutSpec::Csv(path) => {
                let file = BufWriter::new(File::create(path)?);
                let json = matches!(spec, OutSpec::Json(_));
                spawn.spawn(move || {
                    write_all(rx, file, tags, metrics, wall_start, json).map_err(|e| e.to_string())
                })?
            }
            OutSpec::PrometheusRw(settings) => {
                let settings = settings.clone();
                spawn.spawn(move || prometheus::run(rx, settings, tags, metrics))?
            }
            OutSpec::InfluxDb(settings) => {
                let settings = settings.clone();
                spawn.spawn(move || influxdb::run(rx, settings, tags, metrics, wall_start))?
            }
        };
        agg.add_output(tx);
        Ok(Stream {
            handle,
            name: spec.to_string(),
        })
    }

    /// Waits for the writer to drain (after [`Aggregate::close_outputs`]); returns the samples
    /// written (files, InfluxDB) or the pushes made (Prometheus).
    pub fn finish(self) -> Result<u64, String> {
        let name = self.name;
        match self.handle.join() {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(format!("output {name}: {e}")),
            Err(_) => Err(format!("output {name}: the writer thread panicked")),
        }
    }
}

fn write_all(
    rx: mpsc::Receiver<Arc<Vec<Sample>>>,
    mut out: BufWriter<File>,
    tags: Tags,
    metrics: Registry,
    wall_start: SystemTime,
    json: bool,
) -> std::io::Result<u64> {
    let mut declared = HashSet::new();
    let mut sets: Vec<TagSet> = Vec::new();
    // Rendered once and reused: each tag set (a JSON object, or the CSV tag columns), each metric
    // name, and the time of the last millisecond seen.
    let mut rendered: Vec<Option<String>> = Vec::new();
    let mut names: HashMap<MetricId, String> = HashMap::new();
    let mut clock: (Option<u32>, String) = (None, String::new());
    let mut written = 0u64;
    if !json {
        writeln!(out, "{}", CSV_COLUMNS.join(","))?;
    }
    for batch in rx {
        for s in batch.iter() {
            let i = s.tags.0 as usize;
            if i >= sets.len() {
                sets = tags.all();
                rendered.resize(sets.len(), None);
            }
            let set = rendered[i].get_or_insert_with(|| {
                if json {
                    json_tags(&sets[i])
                } else {
                    csv_tags(&sets[i])
                }
            });
            if clock.0 != Some(s.at) {
                let time = wall_start + Duration::from_millis(u64::from(s.at));
                clock = (
                    Some(s.at),
                    if json {
                        rfc3339(time)
                    } else {
                        time.duration_since(UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs())
                            .to_string()
                    },
                );
            }
            let name = names.entry(s.metric).or_insert_with(|| {
                let name = metrics.def(s.metric).name;
                if json {
                    serde_json::Value::from(name).to_string()
                } else {
                    csv_field(name)
                }
            });
            if json {
                if declared.insert(s.metric) {
                    writeln!(out, "{}", metric_line(metrics.def(s.metric)))?;
                }
                writeln!(
                    out,
                    r#"{{"metric":{name},"type":"Point","data":{{"time":"{}","value":{},"tags":{set}}}}}"#,
                    clock.1,
                    json_number(s.value)
                )?;
            } else {
                writeln!(out, "{name},{},{},{set}", clock.1, format_value(s.value))?;
            }
            written += 1;
        }
    }
    out.flush()?;
    Ok(written)
}

fn metric_line(def: MetricDef) -> String {
    serde_json::json!({
        "type": "Metric",
        "data": {
            "name": def.name,
            "type": def.kind,
            "contains": def.contains,
            "thresholds": [],
            "submetrics": null,
        },
        "metric": def.name,
    })
    .to_string()
}

/// A tag set as a JSON object.
fn json_tags(set: &[(String, String)]) -> String {
    let tags: serde_json::Map<String, serde_json::Value> = set
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    serde_json::Value::Object(tags).to_string()
}

/// A number as JSON: shortest round-trip decimal; `null` for NaN and infinities.
fn json_number(v: f64) -> String {
    if v.is_finite() {
        v.to_string()
    } else {
        "null".into()
    }
}

/// A tag set as k6's CSV tag columns, then `extra_tags` and the empty `metadata`.
fn csv_tags(set: &[(String, String)]) -> String {
    let mut row: Vec<String> = CSV_COLUMNS[3..17]
        .iter()
        .map(|col| {
            set.iter()
                .find(|(k, _)| k == col)
                .map_or(String::new(), |(_, v)| csv_field(v))
        })
        .collect();
    let extra: Vec<String> = set
        .iter()
        .filter(|(k, _)| !CSV_COLUMNS[3..17].contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    row.push(csv_field(&extra.join("&")));
    row.push(String::new());
    row.join(",")
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.6}")
    }
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// UTC time as RFC 3339 with nanoseconds, e.g. `2026-11-27T13:41:40.123000000Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_786_900_250);
        assert_eq!(rfc3339(t), "2026-11-27T13:41:40.250000000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn parses_output_specs() {
        assert_eq!(
            OutSpec::parse("json=a.json").unwrap(),
            OutSpec::Json("a.json".into())
        );
        assert_eq!(
            OutSpec::parse("csv=b.csv").unwrap(),
            OutSpec::Csv("b.csv".into())
        );
        assert!(OutSpec::parse("statsd=127.0.0.1:8125")
            .unwrap_err()
            .contains("unknown output"));
        assert!(matches!(
            OutSpec::parse("influxdb=http://127.0.0.1:8086/k6").unwrap(),
            OutSpec::InfluxDb(_)
        ));
        assert!(OutSpec::parse("json").is_err());
        assert!(OutSpec::parse("json=").is_err());
        assert!(matches!(
            OutSpec::parse("prometheus-rw=http://127.0.0.1:9090/api/v1/write").unwrap(),
            OutSpec::PrometheusRw(_)
        ));
    }

    #[test]
    fn csv_quotes_fields_that_need_it() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
