//! The sandbox every plugin runs under: which hosts `http.send` may reach, which WASI imports a
//! component may have, and its memory, time and CPU limits. Policy only: the VU enforces hosts,
//! the plugin loader enforces imports, the Store enforces memory and CPU.

use std::time::Duration;

use hyper::Uri;

/// Imports every plugin may have: stdio, environment (always empty), exit, streams, clocks, random.
const ALWAYS_ALLOWED: [&str; 4] = ["wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:random/"];

/// Why a sandbox setting is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "allowed host '{pattern}': {reason} (expected scheme://host[:port], with *. and :* wildcards)"
)]
pub struct HostPatternError {
    /// The pattern.
    pub pattern: String,
    /// What was wrong.
    pub reason: &'static str,
}

/// One `allowed-hosts` entry: `http://127.0.0.1:8080`, `https://*.example.com`, `http://localhost:*`,
/// `tcp://127.0.0.1:6379`, or `*` for any HTTP(S) host (raw TCP always needs a `tcp://` pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    scheme: Option<String>,
    host: HostMatch,
    port: Option<u16>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    Exact(String),
    Subdomains(String),
}

impl HostPattern {
    /// Parses a pattern.
    pub fn parse(text: &str) -> Result<HostPattern, HostPatternError> {
        let err = |reason| HostPatternError {
            pattern: text.to_string(),
            reason,
        };
        if text == "*" {
            return Ok(HostPattern::any());
        }
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| err("missing scheme://"))?;
        if !matches!(scheme, "http" | "https" | "tcp") {
            return Err(err("scheme must be http, https or tcp"));
        }
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(err("a host pattern has no path"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, "*")) => (h, None),
            Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| err("bad port"))?)),
            None if scheme == "tcp" => return Err(err("a tcp:// pattern needs a port (or :*)")),
            None => (rest, Some(default_port(scheme))),
        };
        if host.is_empty() {
            return Err(err("empty host"));
        }
        let host = match host.strip_prefix("*.") {
            Some(domain) if !domain.is_empty() && !domain.contains('*') => {
                HostMatch::Subdomains(domain.to_ascii_lowercase())
            }
            Some(_) => return Err(err("bad wildcard")),
            None if host.contains('*') => return Err(err("'*' only as a leading '*.'")),
            None => HostMatch::Exact(host.to_ascii_lowercase()),
        };
        Ok(HostPattern {
            scheme: Some(scheme.to_string()),
            host,
            port,
            text: text.to_string(),
        })
    }

    /// `*`: every HTTP(S) host, never raw TCP.
    pub fn any() -> HostPattern {
        HostPattern {
            scheme: None,
            host: HostMatch::Any,
            port: None,
            text: "*".into(),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether every connection `other` allows, this pattern allows too (a registry entry's
    /// declared `https://*.example.com` contains a user's `https://api.example.com:443`).
    pub fn contains(&self, other: &HostPattern) -> bool {
        let scheme = match (&self.scheme, &other.scheme) {
            (None, None) => true,
            // `*` contains every HTTP(S) pattern, never a tcp:// one.
            (None, Some(s)) => s != "tcp",
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        let port = match (self.port, other.port) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        let host = match (&self.host, &other.host) {
            (HostMatch::Any, _) => true,
            (_, HostMatch::Any) => false,
            (HostMatch::Exact(a), HostMatch::Exact(b)) => a == b,
            (HostMatch::Exact(_), HostMatch::Subdomains(_)) => false,
            (HostMatch::Subdomains(d), HostMatch::Exact(h)) => is_subdomain(h, d),
            (HostMatch::Subdomains(d), HostMatch::Subdomains(e)) => e == d || is_subdomain(e, d),
        };
        scheme && port && host
    }

    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        match self.scheme.as_deref() {
            Some(s) if s != scheme => return false,
            // `*` grants every HTTP(S) origin (and so WebSockets and gRPC), never raw TCP.
            None if scheme == "tcp" => return false,
            _ => {}
        }
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match &self.host {
            HostMatch::Any => true,
            HostMatch::Exact(h) => h.eq_ignore_ascii_case(host),
            HostMatch::Subdomains(d) => is_subdomain(&host.to_ascii_lowercase(), d),
        }
    }
}

/// Whether lower-case `host` is a proper subdomain of `domain` (`a.example.com` of `example.com`).
fn is_subdomain(host: &str, domain: &str) -> bool {
    host.len() > domain.len() + 1
        && host.ends_with(domain)
        && host[..host.len() - domain.len()].ends_with('.')
}

/// A plugin's sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Sandbox {
    /// Hosts `http.send` may reach.
    pub allowed_hosts: Vec<HostPattern>,
    /// Linear memory cap per instance, bytes.
    pub max_memory: u64,
    /// Longest an iteration may run before it is ended.
    pub max_iteration_duration: Option<Duration>,
    /// Most guest CPU time per iteration (counted in 1 ms epoch ticks).
    pub cpu_budget: Option<Duration>,
    /// Extra import patterns the user allowed (e.g. `wasi:filesystem/*`, linked with nothing
    /// preopened).
    pub allow_imports: Vec<String>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            allowed_hosts: Vec::new(),
            max_memory: 64 << 20,
            max_iteration_duration: None,
            cpu_budget: None,
            allow_imports: Vec::new(),
        }
    }
}

impl Sandbox {
    /// The host (as `host:port`) if `url` is outside `allowed-hosts`; `None` when allowed or
    /// when the URL does not parse (the transport reports that).
    pub fn denied(&self, url: &str) -> Option<String> {
        let uri: Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?;
        let host = uri.host()?;
        let port = uri.port_u16().unwrap_or(default_port(scheme));
        if self
            .allowed_hosts
            .iter()
            .any(|p| p.matches(scheme, host, port))
        {
            None
        } else {
            Some(format!("{host}:{port}"))
        }
    }

    /// `host:port` if a raw TCP connection there is outside `allowed-hosts` (which must list it
    /// as `tcp://host:port`); `None` when allowed.
    pub fn denied_tcp(&self, host: &str, port: u16) -> Option<String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if self
            .allowed_hosts
            .iter()
            .any(|p| p.matches("tcp", host, port))
        {
            None
        } else {
            Some(format!("{host}:{port}"))
        }
    }

    /// Whether a component may import `name` (e.g. `wasi:filesystem/preopens@0.2.0`).
    pub fn allows_import(&self, name: &str) -> bool {
        ALWAYS_ALLOWED.iter().any(|p| name.starts_with(p))
            || self
                .allow_imports
                .iter()
                .any(|p| match p.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => name == p || name.split('@').next() == Some(p.as_str()),
                })
    }
}

/// 443 for https, 80 otherwise.
fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

/// What a plugin may reach when the user grants no host (no `allowed-hosts`, no `--allow-host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkDefault {
    /// Only the origin of the user's `BASE_URL`: a component file or a registry entry, which is
    /// someone else's code.
    OriginOfBaseUrl,
    /// Every HTTP(S) host (`*`, never raw TCP): a k6 script the user runs from their own disk or
    /// standard input is their own code, and reaches the hosts it names as under k6.
    Unrestricted,
}

impl Sandbox {
    /// The sandbox a run enforces, from the user's grants (test file and CLI, already narrowed
    /// by a registry entry's capabilities) and the `BASE_URL` the user gave: without
    /// `allowed-hosts`, what `default` says. A plugin's own options never reach here. Empty
    /// `allowed_hosts` afterwards means the user granted nothing.
    pub fn effective(
        mut user: Sandbox,
        user_base_url: Option<&str>,
        default: NetworkDefault,
    ) -> Sandbox {
        if user.allowed_hosts.is_empty() {
            match default {
                NetworkDefault::OriginOfBaseUrl => {
                    user.allowed_hosts.extend(user_base_url.and_then(origin_of))
                }
                NetworkDefault::Unrestricted => user.allowed_hosts.push(HostPattern::any()),
            }
        }
        user
    }

    /// Whether every HTTP(S) host is allowed (`*`).
    pub fn is_unrestricted(&self) -> bool {
        self.allowed_hosts
            .iter()
            .any(|p| p.host == HostMatch::Any && p.scheme.is_none())
    }

    /// Whether the user granted no host at all (the run then serves the built-in target).
    pub fn grants_nothing(&self) -> bool {
        self.allowed_hosts.is_empty()
    }

    /// Allows the built-in target the run started at `base_url`, and nothing else.
    pub fn grant_builtin_target(&mut self, base_url: &str) {
        self.allowed_hosts.extend(origin_of(base_url));
    }
}

/// The default `allowed-hosts`: only the origin of `base_url`.
pub fn origin_of(base_url: &str) -> Option<HostPattern> {
    let uri: Uri = base_url.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let host = uri.host()?;
    let port = uri.port_u16().unwrap_or(default_port(scheme));
    HostPattern::parse(&format!("{scheme}://{host}:{port}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(patterns: &[&str]) -> Sandbox {
        Sandbox {
            allowed_hosts: patterns
                .iter()
                .map(|p| HostPattern::parse(p).unwrap())
                .collect(),
            ..Sandbox::default()
        }
    }

    #[test]
    fn exact_hosts_and_default_ports() {
        let s = sandbox(&["http://127.0.0.1:8080", "https://api.example.com"]);
        assert_eq!(s.denied("http://127.0.0.1:8080/x?y=1"), None);
        assert_eq!(
            s.denied("http://127.0.0.1:8081/").as_deref(),
            Some("127.0.0.1:8081")
        );
        assert_eq!(s.denied("https://API.example.com/"), None);
        assert!(
            s.denied("http://api.example.com/").is_some(),
            "scheme matters"
        );
        assert!(
            s.denied("https://api.example.com:8443/").is_some(),
            "default port 443 only"
        );
    }

    #[test]
    fn wildcards() {
        let s = sandbox(&["https://*.example.com", "http://localhost:*"]);
        assert_eq!(s.denied("https://a.example.com/"), None);
        assert_eq!(s.denied("https://a.b.example.com/"), None);
        assert!(
            s.denied("https://example.com/").is_some(),
            "*. needs a subdomain"
        );
        assert!(s.denied("https://badexample.com/").is_some());
        assert_eq!(s.denied("http://localhost:1234/"), None);
        assert_eq!(sandbox(&["*"]).denied("http://anything:1/"), None);
        assert!(
            sandbox(&[]).denied("http://127.0.0.1/").is_some(),
            "nothing allowed by default"
        );
    }

    #[test]
    fn tcp_patterns_allow_raw_connections_only() {
        let s = sandbox(&["tcp://127.0.0.1:6379", "http://127.0.0.1:8080"]);
        assert_eq!(s.denied_tcp("127.0.0.1", 6379), None);
        assert!(s.denied_tcp("127.0.0.1", 6380).is_some());
        assert!(
            s.denied_tcp("127.0.0.1", 8080).is_some(),
            "http:// grants no raw TCP"
        );
        assert!(
            s.denied("http://127.0.0.1:6379/").is_some(),
            "tcp:// grants no HTTP"
        );
        assert_eq!(
            sandbox(&["tcp://localhost:*"]).denied_tcp("LOCALHOST", 5432),
            None
        );
        assert!(
            sandbox(&["*"]).denied_tcp("127.0.0.1", 6379).is_some(),
            "* grants no raw TCP"
        );
        assert!(
            HostPattern::parse("tcp://127.0.0.1").is_err(),
            "tcp needs a port"
        );
    }

    #[test]
    fn containment_is_by_pattern_not_text() {
        let p = |t: &str| HostPattern::parse(t).unwrap();
        assert!(p("https://*.example.com").contains(&p("https://api.example.com")));
        assert!(p("https://*.example.com").contains(&p("https://*.eu.example.com")));
        assert!(!p("https://*.example.com").contains(&p("https://example.com")));
        assert!(!p("https://*.example.com").contains(&p("http://api.example.com")));
        assert!(p("http://localhost:*").contains(&p("http://localhost:8080")));
        assert!(!p("http://localhost:8080").contains(&p("http://localhost:*")));
        assert!(p("https://api.example.com").contains(&p("https://API.example.com:443")));
        assert!(p("*").contains(&p("https://anything.test:1")));
        assert!(!p("*").contains(&p("tcp://127.0.0.1:6379")));
        assert!(!p("https://a.test").contains(&p("*")));
        assert!(p("tcp://db:*").contains(&p("tcp://db:5432")));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in [
            "127.0.0.1",
            "ftp://x",
            "ws://x:1",
            "http://",
            "http://a*b.com",
            "http://x:port",
            "http://x/path",
        ] {
            assert!(HostPattern::parse(p).is_err(), "{p}");
        }
    }

    #[test]
    fn import_policy() {
        let mut s = Sandbox::default();
        assert!(s.allows_import("wasi:cli/stdout@0.2.6"));
        assert!(s.allows_import("wasi:io/streams@0.2.0"));
        assert!(!s.allows_import("wasi:filesystem/preopens@0.2.0"));
        assert!(!s.allows_import("wasi:sockets/tcp@0.2.0"));
        assert!(!s.allows_import("wasi:http/outgoing-handler@0.2.0"));
        s.allow_imports = vec!["wasi:filesystem/*".into()];
        assert!(s.allows_import("wasi:filesystem/preopens@0.2.0"));
        assert!(!s.allows_import("wasi:sockets/tcp@0.2.0"));
    }

    #[test]
    fn a_users_script_defaults_to_every_http_host_and_a_component_to_base_url() {
        let base = Some("http://127.0.0.1:8080/api");
        let script = Sandbox::effective(Sandbox::default(), base, NetworkDefault::Unrestricted);
        assert!(script.is_unrestricted());
        assert_eq!(script.denied("https://example.com/"), None);
        assert!(script.denied_tcp("127.0.0.1", 6379).is_some(), "no raw TCP");
        let component =
            Sandbox::effective(Sandbox::default(), base, NetworkDefault::OriginOfBaseUrl);
        assert!(!component.is_unrestricted());
        assert_eq!(component.denied("http://127.0.0.1:8080/x"), None);
        assert!(component.denied("http://127.0.0.1:8081/").is_some());
        // A user's grant narrows a script too.
        let narrowed = Sandbox::effective(
            sandbox(&["http://127.0.0.1:9000"]),
            base,
            NetworkDefault::Unrestricted,
        );
        assert!(!narrowed.is_unrestricted());
        assert!(narrowed.denied("http://127.0.0.1:8080/").is_some());
    }

    #[test]
    fn origin_of_base_url() {
        assert_eq!(
            origin_of("http://127.0.0.1:8080/api").unwrap().as_str(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            origin_of("https://example.com").unwrap().as_str(),
            "https://example.com:443"
        );
        assert!(origin_of("not a url").is_none());
    }
}
