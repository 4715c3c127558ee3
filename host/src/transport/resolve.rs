//! Where a host name leads: k6's `hosts` overrides, `blockHostnames`, `blacklistIPs`, and a
//! DNS cache shared by every VU (looked up only when a connection is opened) with k6's `dns`
//! options: `ttl`, `select` (first, random, roundRobin) and `policy` (IPv4/IPv6 preference).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::TransportError;

/// Which resolved address a connection uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Select {
    /// The first.
    First,
    /// Any, at random (k6's default).
    #[default]
    Random,
    /// Each in turn.
    RoundRobin,
}

/// Which address families to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// IPv4 when there is one (k6's default).
    #[default]
    PreferIpv4,
    /// IPv6 when there is one.
    PreferIpv6,
    /// Only IPv4.
    OnlyIpv4,
    /// Only IPv6.
    OnlyIpv6,
    /// Whatever the resolver returned.
    Any,
}

/// Name resolution settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolveSettings {
    /// How long a lookup is reused (k6's default 5m; zero disables the cache).
    pub ttl: Duration,
    /// Address selection.
    pub select: Select,
    /// Address family policy.
    pub policy: Policy,
    /// `host` or `host:port` → `ip` or `ip:port`.
    pub hosts: HashMap<String, String>,
    /// Host name patterns never to connect to (`*.example.com` matches subdomains).
    pub block_hostnames: Vec<String>,
    /// IP ranges never to connect to, in CIDR notation.
    pub blacklist_ips: Vec<ipnet::IpNet>,
}

impl Default for ResolveSettings {
    fn default() -> Self {
        ResolveSettings {
            ttl: Duration::from_secs(300),
            select: Select::default(),
            policy: Policy::default(),
            hosts: HashMap::new(),
            block_hostnames: Vec::new(),
            blacklist_ips: Vec::new(),
        }
    }
}

/// A cached lookup: when it was made, and the addresses the policy kept.
type Lookup = (Instant, Arc<[IpAddr]>);

/// The shared resolver.
#[derive(Debug)]
pub struct Resolver {
    settings: ResolveSettings,
    cache: Mutex<HashMap<String, Lookup>>,
    turn: AtomicUsize,
    random: RandomState,
}

impl Resolver {
    /// A resolver with an empty cache.
    pub fn new(settings: ResolveSettings) -> Self {
        Resolver {
            settings,
            cache: Mutex::new(HashMap::new()),
            turn: AtomicUsize::new(0),
            random: RandomState::new(),
        }
    }

    /// The address to connect to for `host:port`.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, TransportError> {
        let lower = host.to_ascii_lowercase();
        if let Some(pattern) = self
            .settings
            .block_hostnames
            .iter()
            .find(|p| host_matches(&lower, p))
        {
            return Err(TransportError::Other {
                code: 1111,
                message: format!("hostname ({host}) is in a blocked pattern ({pattern})"),
            });
        }
        let hosts = &self.settings.hosts;
        let target = hosts
            .get(&format!("{lower}:{port}"))
            .or_else(|| hosts.get(&lower));
        let addr = match target {
            Some(t) => parse_target(t, port).ok_or_else(|| TransportError::Dns(host.into()))?,
            None => match lower.parse::<IpAddr>() {
                Ok(ip) => SocketAddr::new(ip, port),
                Err(_) => SocketAddr::new(self.lookup(&lower).await?, port),
            },
        };
        if let Some(net) = self
            .settings
            .blacklist_ips
            .iter()
            .find(|n| n.contains(&addr.ip()))
        {
            return Err(TransportError::Other {
                code: 1110,
                message: format!("IP ({}) is in a blacklisted range ({net})", addr.ip()),
            });
        }
        Ok(addr)
    }

    async fn lookup(&self, host: &str) -> Result<IpAddr, TransportError> {
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .get(host)
                .filter(|(at, _)| at.elapsed() < self.settings.ttl)
                .map(|(_, ips)| ips.clone())
        };
        let ips = match cached {
            Some(ips) => ips,
            None => {
                let found: Vec<IpAddr> = tokio::net::lookup_host((host, 0))
                    .await
                    .map_err(|_| TransportError::Dns(host.into()))?
                    .map(|a| a.ip())
                    .collect();
                let ips: Arc<[IpAddr]> = self.apply_policy(found).into();
                if !self.settings.ttl.is_zero() {
                    self.cache
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(host.to_string(), (Instant::now(), ips.clone()));
                }
                ips
            }
        };
        if ips.is_empty() {
            return Err(TransportError::Dns(host.into()));
        }
        let i = match self.settings.select {
            Select::First => 0,
            Select::RoundRobin => self.turn.fetch_add(1, Ordering::Relaxed),
            Select::Random => {
                self.random
                    .hash_one(self.turn.fetch_add(1, Ordering::Relaxed)) as usize
            }
        };
        Ok(ips[i % ips.len()])
    }

    fn apply_policy(&self, ips: Vec<IpAddr>) -> Vec<IpAddr> {
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = ips.iter().partition(|ip| ip.is_ipv4());
        match self.settings.policy {
            Policy::Any => ips,
            Policy::OnlyIpv4 => v4,
            Policy::OnlyIpv6 => v6,
            Policy::PreferIpv4 if !v4.is_empty() => v4,
            Policy::PreferIpv6 if !v6.is_empty() => v6,
            Policy::PreferIpv4 | Policy::PreferIpv6 => ips,
        }
    }
}

/// `*.example.com` matches subdomains of example.com; anything else matches exactly.
fn host_matches(host: &str, pattern: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(parent) => host.ends_with(&format!(".{parent}")),
        None => host == pattern,
    }
}

fn parse_target(target: &str, port: u16) -> Option<SocketAddr> {
    target.parse::<SocketAddr>().ok().or_else(|| {
        target
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, port))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(f: impl FnOnce(&mut ResolveSettings)) -> Resolver {
        let mut s = ResolveSettings::default();
        f(&mut s);
        Resolver::new(s)
    }

    #[tokio::test]
    async fn hosts_overrides_blocks_and_blacklists() {
        let r = resolver(|s| {
            s.hosts.insert("api.test".into(), "127.0.0.1".into());
            s.hosts
                .insert("api.test:443".into(), "127.0.0.1:8443".into());
            s.block_hostnames.push("*.blocked.test".into());
            s.blacklist_ips.push("10.0.0.0/8".parse().unwrap());
        });
        assert_eq!(
            r.resolve("API.test", 80).await.unwrap(),
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(
            r.resolve("api.test", 443).await.unwrap(),
            "127.0.0.1:8443".parse().unwrap()
        );
        assert_eq!(
            r.resolve("x.blocked.test", 80).await.unwrap_err().code(),
            1111
        );
        assert!(r.resolve("blocked.test", 80).await.is_err(), "no such host");
        assert_eq!(r.resolve("10.1.2.3", 80).await.unwrap_err().code(), 1110);
    }

    #[tokio::test]
    async fn lookups_are_cached_and_selected() {
        let r = resolver(|s| s.select = Select::RoundRobin);
        let a = r.resolve("localhost", 80).await.unwrap();
        assert!(a.ip().is_loopback());
        assert!(r.cache.lock().unwrap().contains_key("localhost"));
        assert_eq!(
            r.apply_policy(vec!["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()]),
            vec!["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
    }
}
