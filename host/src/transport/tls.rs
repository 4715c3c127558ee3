//! TLS for `https://` with rustls: the system's root certificates plus an optional CA file,
//! `insecureSkipTLSVerify`, a TLS version range, and ALPN offering HTTP/2 then HTTP/1.1.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// A TLS protocol version as k6 names them (`tls1.2`, `tls1.3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.0 (not offered by rustls: a minimum of 1.0 or 1.1 means 1.2).
    Tls10,
    /// TLS 1.1 (as above).
    Tls11,
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    /// Parses `tls1.0` … `tls1.3`.
    pub fn parse(s: &str) -> Option<TlsVersion> {
        Some(match s {
            "tls1.0" => TlsVersion::Tls10,
            "tls1.1" => TlsVersion::Tls11,
            "tls1.2" => TlsVersion::Tls12,
            "tls1.3" => TlsVersion::Tls13,
            _ => return None,
        })
    }
}

/// How the client does TLS.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsSettings {
    /// PEM file of extra CA certificates, trusted beside the system's.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (k6's `insecureSkipTLSVerify`).
    pub insecure_skip_verify: bool,
    /// Lowest version offered.
    pub min_version: Option<TlsVersion>,
    /// Highest version offered.
    pub max_version: Option<TlsVersion>,
    /// Client certificates, each for some domains (k6's `tlsAuth`).
    pub client_auth: Vec<ClientAuth>,
    /// The TLS 1.2 cipher suites offered, by k6's names (k6's `tlsCipherSuites`; `None`: all).
    pub cipher_suites: Option<Vec<String>>,
}

/// k6's (Go's) cipher suite names: TLS 1.0–1.2, then TLS 1.3.
const K6_SUITES: [&str; 25] = [
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Whether rustls' suite `suite` is the one k6 calls `name` (Go drops `_SHA256` from the
/// ChaCha20 names of TLS 1.2, and TLS 1.3's have no `13`).
fn is_named(suite: &rustls::SupportedCipherSuite, name: &str) -> bool {
    let ours = suite.suite().as_str().unwrap_or("");
    ours == name
        || ours.strip_suffix("_SHA256") == Some(name)
        || ours.replacen("TLS13_", "TLS_", 1) == name
}

/// k6's cipher suite `name`: `None` if k6 has no such name, else whether it is offered here
/// (rustls implements no RC4, 3DES, CBC or RSA key exchange suite).
pub fn k6_suite(name: &str) -> Option<bool> {
    K6_SUITES
        .contains(&name)
        .then(|| provider().cipher_suites.iter().any(|s| is_named(s, name)))
}

/// A client certificate and key (PEM files) presented to `domains` (exact names, or
/// `*.example.com` for its subdomains).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientAuth {
    /// Where to present it.
    pub domains: Vec<String>,
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// The TLS configurations of a test: one per `tlsAuth` entry, and the default.
#[derive(Debug, Clone)]
pub struct TlsConfigs {
    by_domain: Vec<(Vec<String>, Arc<ClientConfig>)>,
    default: Arc<ClientConfig>,
}

impl TlsConfigs {
    /// Builds every configuration (reads the roots, CA file and client certificates once).
    pub fn new(settings: &TlsSettings) -> Result<TlsConfigs, TlsConfigError> {
        let roots = if settings.insecure_skip_verify {
            None
        } else {
            Some(roots(settings.ca_file.as_ref())?)
        };
        let default = build(settings, roots.clone(), None)?;
        let mut by_domain = Vec::new();
        for auth in &settings.client_auth {
            let bad = |path: &PathBuf, message: String| TlsConfigError::ClientCert {
                path: path.clone(),
                message,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&auth.cert)
                .map_err(|e| bad(&auth.cert, e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| bad(&auth.cert, e.to_string()))?;
            if certs.is_empty() {
                return Err(bad(&auth.cert, "no PEM certificate in it".into()));
            }
            let key = PrivateKeyDer::from_pem_file(&auth.key)
                .map_err(|e| bad(&auth.key, e.to_string()))?;
            let config = build(settings, roots.clone(), Some((certs, key)))?;
            by_domain.push((auth.domains.clone(), config));
        }
        Ok(TlsConfigs { by_domain, default })
    }

    /// The configuration for connections to `host`.
    pub fn for_host(&self, host: &str) -> Arc<ClientConfig> {
        let host = host.to_ascii_lowercase();
        self.by_domain
            .iter()
            .find(|(domains, _)| {
                domains.iter().any(|d| {
                    let d = d.to_ascii_lowercase();
                    match d.strip_prefix("*.") {
                        Some(parent) => host.ends_with(&format!(".{parent}")),
                        None => host == d,
                    }
                })
            })
            .map_or_else(|| self.default.clone(), |(_, c)| c.clone())
    }
}

/// Why the TLS configuration cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// The CA file cannot be read or holds no certificate.
    #[error("tls-ca-file {path}: {message}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A client certificate or key cannot be read.
    #[error("tls-auth {path}: {message}")]
    ClientCert {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The version range leaves nothing rustls speaks.
    #[error("tls-version: {0}")]
    Versions(String),
    /// rustls refused the configuration.
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The provider offering `names`' TLS 1.2 suites and every TLS 1.3 one (Go, so k6, cannot
/// narrow TLS 1.3's).
fn provider_for(names: Option<&[String]>) -> Arc<CryptoProvider> {
    let Some(names) = names else {
        return provider();
    };
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    p.cipher_suites
        .retain(|s| s.version() == &rustls::version::TLS13 || names.iter().any(|n| is_named(s, n)));
    Arc::new(p)
}

/// The client configuration for `settings`, ALPN `h2` then `http/1.1`.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, TlsConfigError> {
    Ok(TlsConfigs::new(settings)?.default)
}

/// One client configuration: trusting `roots` (`None`: anything), presenting `client`.
fn build(
    settings: &TlsSettings,
    roots: Option<RootCertStore>,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let min = settings.min_version.unwrap_or(TlsVersion::Tls12);
    let max = settings.max_version.unwrap_or(TlsVersion::Tls13);
    let mut versions = Vec::new();
    if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::Tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if versions.is_empty() || min > max {
        return Err(TlsConfigError::Versions(
            "no version left: Volley speaks TLS 1.2 and 1.3 (min must be at most max)".into(),
        ));
    }
    let builder =
        ClientConfig::builder_with_provider(provider_for(settings.cipher_suites.as_deref()))
            .with_protocol_versions(&versions)?;
    let builder = match roots {
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider()))),
        Some(roots) => builder.with_root_certificates(roots),
    };
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some((certs, key)) => builder.with_client_auth_cert(certs, key)?,
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn roots(ca_file: Option<&PathBuf>) -> Result<RootCertStore, TlsConfigError> {
    let mut store = RootCertStore::empty();
    // Unreadable system certificates are skipped, as Go's crypto/x509 does.
    let native = rustls_native_certs::load_native_certs();
    store.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let bad = |message: String| TlsConfigError::CaFile {
            path: path.clone(),
            message,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no PEM certificate in it".into()));
        }
        for cert in certs {
            store.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    Ok(store)
}

/// `insecureSkipTLSVerify`: any certificate, but signatures still checked.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// k6's error code and message for a failed handshake.
pub fn handshake_error(e: &std::io::Error, host: &str) -> (u32, String) {
    use rustls::CertificateError as C;
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(C::UnknownIssuer)) => (
            1310,
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
                .into(),
        ),
        Some(rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        )) => (
            1311,
            format!("tls: failed to verify certificate: x509: certificate is not valid for {host}"),
        ),
        Some(other) => (1300, format!("tls: {other}")),
        None => (1300, format!("tls: {e}")),
    }
}

/// k6's `tls_version` tag value.
pub fn version_label(v: Option<rustls::ProtocolVersion>) -> Option<&'static str> {
    match v? {
        rustls::ProtocolVersion::TLSv1_3 => Some("tls1.3"),
        rustls::ProtocolVersion::TLSv1_2 => Some("tls1.2"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k6s_cipher_suite_names() {
        assert!(K6_SUITES.iter().all(|n| k6_suite(n).is_some()));
        assert_eq!(k6_suite("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"), Some(true));
        assert_eq!(
            k6_suite("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
            Some(true)
        );
        assert_eq!(k6_suite("TLS_AES_128_GCM_SHA256"), Some(true));
        assert_eq!(k6_suite("TLS_RSA_WITH_RC4_128_SHA"), Some(false));
        assert_eq!(k6_suite("TLS_NOT_A_SUITE"), None);
        let only = provider_for(Some(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string()]));
        let tls12: Vec<_> = only
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .collect();
        assert_eq!(tls12.len(), 1);
    }

    #[test]
    fn version_ranges() {
        let cfg = |min, max| TlsSettings {
            min_version: TlsVersion::parse(min),
            max_version: TlsVersion::parse(max),
            ..TlsSettings::default()
        };
        assert!(client_config(&cfg("tls1.0", "tls1.3")).is_ok());
        assert!(client_config(&cfg("tls1.3", "tls1.3")).is_ok());
        let err = client_config(&cfg("tls1.0", "tls1.1")).unwrap_err();
        assert!(err.to_string().contains("TLS 1.2 and 1.3"), "{err}");
        assert!(client_config(&cfg("tls1.3", "tls1.2")).is_err());
        assert_eq!(TlsVersion::parse("ssl3"), None);
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let s = TlsSettings {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsSettings::default()
        };
        let err = client_config(&s).unwrap_err().to_string();
        assert!(
            err.starts_with("tls-ca-file /nonexistent/ca.pem: "),
            "{err}"
        );
    }
}
