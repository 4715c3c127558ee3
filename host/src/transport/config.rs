//! How every VU's HTTP client behaves: the settings the options give and the configuration built
//! from them once per test.

use std::sync::Arc;

use super::rate_limit::RateLimit;
use super::resolve::{ResolveSettings, Resolver};
use super::tls::{self, TlsConfigError, TlsSettings};

/// k6's default `batch`: requests of one `http.batch` in flight at once.
pub const DEFAULT_BATCH: usize = 20;
/// k6's default `batchPerHost`.
pub const DEFAULT_BATCH_PER_HOST: usize = 6;

/// What `--http-debug` prints of each request and response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpDebug {
    /// Nothing.
    #[default]
    Off,
    /// Request and status lines with headers.
    Headers,
    /// Headers and bodies.
    Full,
}

/// How every VU's client behaves; built once per test.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// rustls client configurations (roots, versions, ALPN, client certificates by domain).
    pub tls: tls::TlsConfigs,
    /// Speak HTTP/2 without TLS to `http://` origins (prior knowledge).
    pub h2c: bool,
    /// `User-Agent` sent when a request has none.
    pub user_agent: String,
    /// Name resolution, shared by every VU.
    pub resolver: Arc<Resolver>,
    /// Redirects followed per request (k6's `maxRedirects`).
    pub max_redirects: u32,
    /// Statuses that count as expected (inclusive ranges; k6's default 200–399).
    pub expected_statuses: Vec<(u16, u16)>,
    /// Close every connection after its request (k6's `noConnectionReuse`).
    pub no_connection_reuse: bool,
    /// Close a VU's connections between iterations (k6's `noVUConnectionReuse`).
    pub no_vu_connection_reuse: bool,
    /// Keep a VU's cookies across iterations (k6's `noCookiesReset`).
    pub no_cookies_reset: bool,
    /// Largest response body handed to the guest, in bytes.
    pub max_body_bytes: u64,
    /// What to print of each exchange.
    pub debug: HttpDebug,
    /// Source addresses, one per VU in turn (k6's `localIPs`); empty: the system's choice.
    pub local_ips: Vec<std::net::IpAddr>,
    /// VUs of the processes before this one in a sharded test: this process's VU `n` is the
    /// test's `vus_before + n` when picking its source address.
    pub vus_before: u32,
    /// Requests of one `http.batch` in flight at once (k6's `batch`).
    pub batch: usize,
    /// Requests of one `http.batch` in flight at once to one host; 0: no limit (k6's
    /// `batchPerHost`).
    pub batch_per_host: usize,
    /// The test-wide requests-per-second cap every VU of the process shares (k6's `rps`).
    pub rps: Option<Arc<RateLimit>>,
}

impl HttpConfig {
    /// This process's share of the test's `rps` when the test runs as `processes` shards of
    /// equal size (each with a limiter of its own).
    pub fn share_rps(&mut self, processes: u32) {
        if let Some(limit) = self.rps.take() {
            let share = (limit.per_second() / f64::from(processes.max(1))).round() as u32;
            self.rps = Some(Arc::new(RateLimit::new(share.max(1))));
        }
    }

    /// Whether `status` is expected.
    pub fn expects(&self, status: u16) -> bool {
        self.expected_statuses
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

/// What [`HttpConfig`] is built from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpSettings {
    /// TLS settings.
    pub tls: TlsSettings,
    /// HTTP/2 with prior knowledge for `http://`.
    pub h2c: bool,
    /// `User-Agent` (default `volley/<version>`).
    pub user_agent: Option<String>,
    /// Name resolution.
    pub resolve: ResolveSettings,
    /// Redirects followed per request (default 10).
    pub max_redirects: Option<u32>,
    /// Expected statuses (default 200–399).
    pub expected_statuses: Option<Vec<(u16, u16)>>,
    /// k6's `noConnectionReuse`.
    pub no_connection_reuse: bool,
    /// k6's `noVUConnectionReuse`.
    pub no_vu_connection_reuse: bool,
    /// k6's `noCookiesReset`.
    pub no_cookies_reset: bool,
    /// Largest response body kept for the guest (default 16 MiB).
    pub max_body_bytes: Option<u64>,
    /// `--http-debug`.
    pub debug: HttpDebug,
    /// k6's `localIPs`.
    pub local_ips: Vec<std::net::IpAddr>,
    /// k6's `batch` (default 20).
    pub batch: Option<u32>,
    /// k6's `batchPerHost` (default 6, 0: no limit).
    pub batch_per_host: Option<u32>,
    /// k6's `rps`: requests per second over the whole test (`None`: no cap).
    pub rps: Option<u32>,
    /// k6's `throw`: a request that fails without a response throws in the script.
    pub throw: bool,
}

impl HttpConfig {
    /// Builds the configuration (reads the system's root certificates and any CA file).
    pub fn new(settings: &HttpSettings) -> Result<HttpConfig, TlsConfigError> {
        Ok(HttpConfig {
            tls: tls::TlsConfigs::new(&settings.tls)?,
            h2c: settings.h2c,
            user_agent: settings
                .user_agent
                .clone()
                .unwrap_or_else(|| format!("volley/{}", env!("CARGO_PKG_VERSION"))),
            resolver: Arc::new(Resolver::new(settings.resolve.clone())),
            max_redirects: settings.max_redirects.unwrap_or(10),
            expected_statuses: settings
                .expected_statuses
                .clone()
                .unwrap_or_else(|| vec![(200, 399)]),
            no_connection_reuse: settings.no_connection_reuse,
            no_vu_connection_reuse: settings.no_vu_connection_reuse,
            no_cookies_reset: settings.no_cookies_reset,
            max_body_bytes: settings.max_body_bytes.unwrap_or(16 << 20),
            debug: settings.debug,
            local_ips: settings.local_ips.clone(),
            vus_before: 0,
            batch: settings.batch.map_or(DEFAULT_BATCH, |b| b as usize),
            batch_per_host: settings
                .batch_per_host
                .map_or(DEFAULT_BATCH_PER_HOST, |b| b as usize),
            rps: settings.rps.map(|r| Arc::new(RateLimit::new(r))),
        })
    }
}
