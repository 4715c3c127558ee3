//! The output's settings: k6's InfluxDB URL, its query parameters and the `K6_INFLUXDB_*`
//! (and `VOLLEY_INFLUXDB_*`) variables below it, validated.

use std::time::Duration;

use super::line::FieldKind;
use crate::duration::parse_duration;

/// Most writes in flight a user may ask for.
const MAX_CONCURRENT_WRITES: usize = 64;

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// The URL does not parse or is not http(s).
    #[error("invalid output influxdb={url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting has a value it cannot take.
    #[error("influxdb: {name}={value:?}: {expected}")]
    Value {
        /// The setting (environment variable or URL parameter).
        name: String,
        /// Its value.
        value: String,
        /// What it accepts.
        expected: &'static str,
    },
}

/// Timestamp precision of the points (k6's `precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Nanoseconds (the default).
    Nanos,
    /// Microseconds.
    Micros,
    /// Milliseconds.
    Millis,
    /// Seconds.
    Seconds,
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
}

impl Precision {
    fn parse(text: &str) -> Option<Precision> {
        Some(match text {
            "" | "n" | "ns" => Precision::Nanos,
            "u" | "us" | "µ" => Precision::Micros,
            "ms" => Precision::Millis,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            _ => return None,
        })
    }

    /// The `precision` parameter of `/write`, and nanoseconds per unit.
    pub(super) fn param(self) -> (&'static str, i64) {
        match self {
            Precision::Nanos => ("ns", 1),
            Precision::Micros => ("u", 1_000),
            Precision::Millis => ("ms", 1_000_000),
            Precision::Seconds => ("s", 1_000_000_000),
            Precision::Minutes => ("m", 60_000_000_000),
            Precision::Hours => ("h", 3_600_000_000_000),
        }
    }
}

/// Where and how to write.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// `scheme://host:port` and any path prefix, without the database.
    pub addr: String,
    /// The database.
    pub db: String,
    /// Basic-auth user, when set.
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<String>,
    /// Accept any TLS certificate.
    pub insecure: bool,
    /// Time between writes.
    pub push_interval: Duration,
    /// Writes in flight at most.
    pub concurrent_writes: usize,
    /// Timestamp precision.
    pub precision: Precision,
    /// Retention policy (`rp`), when set.
    pub retention: Option<String>,
    /// Write consistency, when set.
    pub consistency: Option<String>,
    /// Tags written as fields, with their types.
    pub tags_as_fields: Vec<(String, FieldKind)>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password stays out of logs.
        f.debug_struct("Settings")
            .field("addr", &self.addr)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("push_interval", &self.push_interval)
            .field("concurrent_writes", &self.concurrent_writes)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.db)
    }
}

impl Settings {
    /// Settings for `url` (empty: `K6_INFLUXDB_ADDR` or `http://localhost:8086`), over the
    /// environment's `K6_INFLUXDB_*`/`VOLLEY_INFLUXDB_*`.
    pub fn new(url: &str) -> Result<Settings, SettingsError> {
        Settings::resolve(url, |name| {
            std::env::var(format!("VOLLEY_INFLUXDB_{name}"))
                .or_else(|_| std::env::var(format!("K6_INFLUXDB_{name}")))
                .ok()
        })
    }

    /// k6's layering: defaults < environment (`env` looks up a name without its prefix) < URL.
    pub(super) fn resolve(
        url: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let mut s = Settings {
            addr: "http://localhost:8086".into(),
            db: "k6".into(),
            username: None,
            password: None,
            insecure: false,
            push_interval: Duration::from_secs(1),
            concurrent_writes: 4,
            precision: Precision::Nanos,
            retention: None,
            consistency: None,
            tags_as_fields: ["vu", "iter", "url"]
                .map(|t| (t.to_string(), FieldKind::String))
                .to_vec(),
        };
        let var = |name: &str| format!("K6_INFLUXDB_{name}");
        if env("PROXY").is_some() {
            return Err(value(
                &var("PROXY"),
                "",
                "not supported by Volley: unset it",
            ));
        }
        if let Some(addr) = env("ADDR") {
            s.addr = addr.trim_end_matches('/').to_string();
        }
        if let Some(db) = env("DB") {
            s.db = db;
        }
        s.username = env("USERNAME").or(s.username);
        s.password = env("PASSWORD").or(s.password);
        if let Some(v) = env("INSECURE") {
            s.set("INSECURE", &v)?;
        }
        for name in [
            "PUSH_INTERVAL",
            "CONCURRENT_WRITES",
            "PRECISION",
            "RETENTION",
            "CONSISTENCY",
            "TAGS_AS_FIELDS",
        ] {
            if let Some(v) = env(name) {
                s.set(name, &v)?;
            }
        }
        if !url.is_empty() {
            s.apply_url(url)?;
        }
        if !(s.addr.starts_with("http://") || s.addr.starts_with("https://")) {
            return Err(SettingsError::Url {
                url: s.addr.clone(),
                reason: "expected an http(s) address such as http://127.0.0.1:8086/k6 \
                         (udp:// is not supported)"
                    .into(),
            });
        }
        if s.db.is_empty() {
            s.db = "k6".into();
        }
        Ok(s)
    }

    /// Applies `url`'s address, database, credentials and query parameters.
    fn apply_url(&mut self, text: &str) -> Result<(), SettingsError> {
        let bad = |reason: &str| SettingsError::Url {
            url: text.to_string(),
            reason: reason.to_string(),
        };
        let url = reqwest::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(
                "expected an http(s) URL such as http://127.0.0.1:8086/k6 (udp:// is not supported)",
            ));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        let path = url.path();
        let (prefix, db) = match path.strip_suffix('/') {
            Some(rest) => (rest, ""),
            None => path.rsplit_once('/').unwrap_or(("", path)),
        };
        self.addr = match url.port() {
            Some(port) => format!("{}://{host}:{port}{prefix}", url.scheme()),
            None => format!("{}://{host}{prefix}", url.scheme()),
        };
        if !db.is_empty() {
            self.db = percent_decode(db);
        }
        if !url.username().is_empty() {
            self.username = Some(percent_decode(url.username()));
            self.password = Some(url.password().map(percent_decode).unwrap_or_default());
        }
        let mut tags_as_fields = Vec::new();
        for (k, v) in url.query_pairs() {
            let name = match k.as_ref() {
                "insecure" if v.is_empty() => continue,
                "insecure" if !matches!(v.as_ref(), "true" | "false") => {
                    return Err(value("insecure", &v, "true or false"))
                }
                "insecure" => "INSECURE",
                "precision" => "PRECISION",
                "retention" => "RETENTION",
                "consistency" => "CONSISTENCY",
                "pushInterval" => "PUSH_INTERVAL",
                "concurrentWrites" => "CONCURRENT_WRITES",
                "payload_size" => continue, // UDP only, as in k6
                "tagsAsFields" => {
                    tags_as_fields.push(v.into_owned());
                    continue;
                }
                other => return Err(bad(&format!("unknown query parameter: {other}"))),
            };
            self.set(name, &v)?;
        }
        if !tags_as_fields.is_empty() {
            self.set("TAGS_AS_FIELDS", &tags_as_fields.join(","))?;
        }
        Ok(())
    }

    /// Sets one of the typed settings from its text.
    fn set(&mut self, name: &str, v: &str) -> Result<(), SettingsError> {
        let var = format!("K6_INFLUXDB_{name}");
        match name {
            "INSECURE" => {
                self.insecure = match v {
                    "true" | "1" | "t" | "T" | "TRUE" | "True" => true,
                    "false" | "0" | "f" | "F" | "FALSE" | "False" => false,
                    _ => return Err(value(&var, v, "true or false")),
                }
            }
            "PUSH_INTERVAL" => {
                self.push_interval = parse_duration(v)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| value(&var, v, "a duration above 0 such as 1s"))?;
            }
            "CONCURRENT_WRITES" => {
                self.concurrent_writes = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_CONCURRENT_WRITES).contains(n))
                    .ok_or_else(|| value(&var, v, "a number from 1 to 64"))?;
            }
            "PRECISION" => {
                self.precision = Precision::parse(v)
                    .ok_or_else(|| value(&var, v, "one of ns, u, ms, s, m, h"))?;
            }
            "RETENTION" => self.retention = Some(v.to_string()).filter(|v| !v.is_empty()),
            "CONSISTENCY" => self.consistency = Some(v.to_string()).filter(|v| !v.is_empty()),
            "TAGS_AS_FIELDS" => {
                let mut fields: Vec<(String, FieldKind)> = Vec::new();
                for spec in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (tag, kind) = FieldKind::parse(spec).ok_or_else(|| {
                        value(
                            &var,
                            v,
                            "tags as name or name:type (string, int, float, bool)",
                        )
                    })?;
                    if fields.iter().any(|(t, _)| *t == tag) {
                        return Err(value(&var, v, "each tag at most once"));
                    }
                    fields.push((tag, kind));
                }
                if !fields.is_empty() {
                    self.tags_as_fields = fields;
                }
            }
            _ => unreachable!("not a typed setting: {name}"),
        }
        Ok(())
    }

    pub(super) fn endpoint(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Url {
        let mut url = reqwest::Url::parse(&format!("{}/{path}", self.addr))
            .expect("the address was checked when parsed");
        url.query_pairs_mut().extend_pairs(params);
        url
    }

    /// The URL of `/write`.
    pub(super) fn write_url(&self) -> reqwest::Url {
        let mut params = vec![
            ("db", self.db.as_str()),
            ("precision", self.precision.param().0),
        ];
        if let Some(rp) = &self.retention {
            params.push(("rp", rp));
        }
        if let Some(c) = &self.consistency {
            params.push(("consistency", c));
        }
        self.endpoint("write", &params)
    }
}

fn value(name: &str, value: &str, expected: &'static str) -> SettingsError {
    SettingsError::Value {
        name: name.to_string(),
        value: value.to_string(),
        expected,
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(url: &str, env: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::resolve(url, |name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn url_and_defaults_follow_k6() {
        let s = resolve("http://127.0.0.1:8086/k6", &[]).unwrap();
        assert_eq!(s.addr, "http://127.0.0.1:8086");
        assert_eq!(s.db, "k6");
        assert_eq!(s.push_interval, Duration::from_secs(1));
        assert_eq!(s.concurrent_writes, 4);
        let fields: Vec<&str> = s.tags_as_fields.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(fields, ["vu", "iter", "url"]);
        assert_eq!(
            s.write_url().as_str(),
            "http://127.0.0.1:8086/write?db=k6&precision=ns"
        );

        let s = resolve("https://u%40x:p%3Aw@influx.test/proxy/perf?insecure=true&pushInterval=5s&tagsAsFields=vu:int&tagsAsFields=url&retention=week", &[]).unwrap();
        assert_eq!(s.addr, "https://influx.test/proxy");
        assert_eq!(s.db, "perf");
        assert_eq!(s.username.as_deref(), Some("u@x"));
        assert_eq!(s.password.as_deref(), Some("p:w"));
        assert!(s.insecure);
        assert_eq!(s.push_interval, Duration::from_secs(5));
        assert_eq!(
            s.tags_as_fields,
            [
                ("vu".into(), FieldKind::Int),
                ("url".into(), FieldKind::String)
            ]
        );
        assert_eq!(
            s.write_url().as_str(),
            "https://influx.test/proxy/write?db=perf&precision=ns&rp=week"
        );
        assert!(!format!("{s:?}").contains("p:w"));
        assert!(!s.to_string().contains("p:w"));

        // A trailing slash: no database in the URL, k6's default.
        assert_eq!(resolve("http://h:8086/", &[]).unwrap().db, "k6");
    }

    #[test]
    fn environment_sits_below_the_url() {
        let env = [
            ("DB", "fromenv"),
            ("PUSH_INTERVAL", "250ms"),
            ("CONCURRENT_WRITES", "2"),
            ("TAGS_AS_FIELDS", "vu:int,iter:int"),
            ("USERNAME", "me"),
            ("PASSWORD", "secret"),
            ("ADDR", "http://10.0.0.1:8086"),
        ];
        let s = resolve("", &env).unwrap();
        assert_eq!(
            (s.addr.as_str(), s.db.as_str()),
            ("http://10.0.0.1:8086", "fromenv")
        );
        assert_eq!(s.push_interval, Duration::from_millis(250));
        assert_eq!(s.concurrent_writes, 2);
        assert_eq!(s.tags_as_fields.len(), 2);
        assert_eq!(s.username.as_deref(), Some("me"));
        let s = resolve("http://127.0.0.1:9999/other?concurrentWrites=8", &env).unwrap();
        assert_eq!(
            (s.addr.as_str(), s.db.as_str()),
            ("http://127.0.0.1:9999", "other")
        );
        assert_eq!(s.concurrent_writes, 8);
    }

    #[test]
    fn rejects_what_k6_rejects_and_what_volley_cannot_do() {
        let err = |url: &str, env: &[(&str, &str)]| resolve(url, env).unwrap_err().to_string();
        assert!(err("udp://127.0.0.1:8089", &[]).contains("udp:// is not supported"));
        assert!(err("http://h/k6?bogus=1", &[]).contains("unknown query parameter: bogus"));
        assert!(err("http://h/k6?insecure=yes", &[]).contains("true or false"));
        assert!(err("", &[("CONCURRENT_WRITES", "0")]).contains("K6_INFLUXDB_CONCURRENT_WRITES"));
        assert!(err("", &[("CONCURRENT_WRITES", "1000")]).contains("1 to 64"));
        assert!(err("", &[("PUSH_INTERVAL", "0s")]).contains("above 0"));
        assert!(err("", &[("TAGS_AS_FIELDS", "vu:date")]).contains("name:type"));
        assert!(err("", &[("TAGS_AS_FIELDS", "vu,vu:int")]).contains("at most once"));
        assert!(err("", &[("PRECISION", "fortnight")]).contains("ns, u, ms"));
        assert!(err("", &[("PROXY", "http://p")]).contains("not supported"));
    }
}
