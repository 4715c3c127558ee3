//! The HTTP client options of a test (TLS, DNS, connections, redirects, statuses, debug),
//! validated into the transport's settings.

use super::options::{self, Options};
use super::{invalid, ConfigError};

/// Validates the HTTP options of the merged layers.
pub(super) fn resolve(opts: &Options) -> Result<crate::transport::HttpSettings, ConfigError> {
    use crate::transport::tls::{TlsSettings, TlsVersion};
    use options::TlsVersionOpt;
    let version = |v: &str| {
        TlsVersion::parse(v).ok_or_else(|| {
            invalid(
                "tls-version",
                format!("unknown version '{v}' (expected tls1.0, tls1.1, tls1.2 or tls1.3)"),
            )
        })
    };
    let (min_version, max_version) = match &opts.tls_version {
        None => (None, None),
        Some(TlsVersionOpt::One(v)) => (Some(version(v)?), Some(version(v)?)),
        Some(TlsVersionOpt::Range { min, max }) => (
            min.as_deref().map(version).transpose()?,
            max.as_deref().map(version).transpose()?,
        ),
    };
    use crate::transport::resolve::{Policy, ResolveSettings, Select};
    use crate::transport::HttpDebug;
    let dns = opts.dns.clone().unwrap_or_default();
    let mut resolve = ResolveSettings {
        hosts: opts.hosts.clone().unwrap_or_default().into_iter().collect(),
        block_hostnames: opts.block_hostnames.clone().unwrap_or_default(),
        ..ResolveSettings::default()
    };
    if let Some(ttl) = dns.ttl {
        resolve.ttl = ttl.0;
    }
    resolve.select = match dns.select.as_deref() {
        None | Some("random") => Select::Random,
        Some("first") => Select::First,
        Some("roundRobin" | "round-robin") => Select::RoundRobin,
        Some(other) => {
            return Err(invalid(
                "dns.select",
                format!("unknown selection '{other}' (expected first, random or roundRobin)"),
            ))
        }
    };
    resolve.policy = match dns.policy.as_deref() {
        None | Some("preferIPv4") => Policy::PreferIpv4,
        Some("preferIPv6") => Policy::PreferIpv6,
        Some("onlyIPv4") => Policy::OnlyIpv4,
        Some("onlyIPv6") => Policy::OnlyIpv6,
        Some("any") => Policy::Any,
        Some(other) => {
            return Err(invalid(
                "dns.policy",
                format!(
                    "unknown policy '{other}' (expected preferIPv4, preferIPv6, onlyIPv4, onlyIPv6 or any)"
                ),
            ))
        }
    };
    for range in opts.blacklist_ips.iter().flatten() {
        let net = range
            .parse::<ipnet::IpNet>()
            .or_else(|_| range.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                invalid(
                    "blacklist-ips",
                    format!("'{range}' is not an IP range such as 10.0.0.0/8"),
                )
            })?;
        resolve.blacklist_ips.push(net);
    }
    for (host, target) in &resolve.hosts {
        let ok = target.parse::<std::net::SocketAddr>().is_ok()
            || target.parse::<std::net::IpAddr>().is_ok();
        if !ok {
            return Err(invalid(
                format!("hosts.\"{host}\""),
                format!("'{target}' is not an IP address or IP:port"),
            ));
        }
    }
    let mut local_ips = Vec::new();
    for entry in opts.local_ips.iter().flatten() {
        match (
            entry.parse::<std::net::IpAddr>(),
            entry.parse::<ipnet::IpNet>(),
        ) {
            (Ok(ip), _) => local_ips.push(ip),
            (_, Ok(net)) => local_ips.extend(net.hosts().take(65_536)),
            _ => {
                return Err(invalid(
                    "local-ips",
                    format!("'{entry}' is not an IP address or range such as 10.0.0.0/24"),
                ))
            }
        }
    }
    let mut expected_statuses = None;
    if let Some(list) = &opts.expected_statuses {
        let mut ranges = Vec::new();
        for s in list {
            let (lo, hi) = match s {
                options::StatusOpt::One(code) => (*code, *code),
                options::StatusOpt::Range { min, max } => (*min, *max),
            };
            if !(100..=599).contains(&lo) || !(100..=599).contains(&hi) || lo > hi {
                return Err(invalid(
                    "expected-statuses",
                    format!("{lo}–{hi} is not a status range within 100–599"),
                ));
            }
            ranges.push((lo, hi));
        }
        expected_statuses = Some(ranges);
    }
    let debug = match opts.http_debug.as_deref() {
        None => HttpDebug::Off,
        Some("" | "headers") => HttpDebug::Headers,
        Some("full") => HttpDebug::Full,
        Some(other) => {
            return Err(invalid(
                "http-debug",
                format!("unknown mode '{other}' (expected headers or full)"),
            ))
        }
    };
    if opts.batch == Some(0) {
        return Err(invalid(
            "batch",
            "must be at least 1 (the most requests of one http.batch sent at once)",
        ));
    }
    let most = crate::limits::MAX_BATCH_PARALLEL;
    Ok(crate::transport::HttpSettings {
        batch: opts.batch.map(|b| b.min(most)),
        batch_per_host: opts.batch_per_host.map(|b| b.min(most)),
        rps: opts
            .rps
            .filter(|r| *r > 0)
            .map(|r| r.min(i64::from(u32::MAX)) as u32),
        throw: opts.throw == Some(true),
        resolve,
        max_redirects: opts.max_redirects,
        expected_statuses,
        no_connection_reuse: opts.no_connection_reuse == Some(true),
        no_vu_connection_reuse: opts.no_vu_connection_reuse == Some(true),
        no_cookies_reset: opts.no_cookies_reset == Some(true),
        max_body_bytes: opts
            .max_response_body_mib
            .map(|m| m.saturating_mul(1 << 20)),
        debug,
        local_ips,
        tls: TlsSettings {
            cipher_suites: match &opts.tls_cipher_suites {
                None => None,
                Some(names) => {
                    if let Some(unknown) = names
                        .iter()
                        .find(|n| crate::transport::tls::k6_suite(n).is_none())
                    {
                        return Err(invalid(
                            "tls-cipher-suites",
                            format!("unknown cipher suite '{unknown}' (k6's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)"),
                        ));
                    }
                    Some(names.clone())
                }
            },
            ca_file: opts.tls_ca_file.clone(),
            insecure_skip_verify: opts.insecure_skip_tls_verify == Some(true),
            min_version,
            max_version,
            client_auth: opts
                .tls_auth
                .iter()
                .flatten()
                .map(|a| crate::transport::tls::ClientAuth {
                    domains: a.domains.clone(),
                    cert: a.cert.clone(),
                    key: a.key.clone(),
                })
                .collect(),
        },
        h2c: opts.h2c == Some(true),
        user_agent: opts.user_agent.clone(),
    })
}
