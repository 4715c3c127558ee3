//! HTTP in depth against real servers: TLS (a CA and certificates made here with rcgen) with
//! HTTP/2 by ALPN or HTTP/1.1, h2c with prior knowledge, TLS versions, and k6's TLS error codes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::support::{component, read_json, run, scratch};

/// A leaf certificate for `names`, signed by a CA written to `DIR/ca.pem`.
struct Pki {
    leaf: rustls::pki_types::CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn pki(dir: &Path, names: &[&str]) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    Pki {
        leaf: leaf.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// What a test server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicU64,
    versions: Mutex<Vec<String>>,
}

/// A server on 127.0.0.1: TLS with `alpn` (HTTP/2 when `h2` is negotiated), or plain HTTP/2
/// with prior knowledge when `tls` is `None`. Answers 200 "ok".
struct TestServer {
    addr: SocketAddr,
    seen: Arc<Seen>,
    _runtime: tokio::runtime::Runtime,
}

impl TestServer {
    fn start(tls: Option<(&Pki, &[&[u8]])>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tls.map(|(pki, alpn)| {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let mut config = rustls::ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![pki.leaf.clone()], pki.key.clone_key())
                .unwrap();
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                s.connections.fetch_add(1, Ordering::SeqCst);
                let (s, acceptor) = (s.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let s = s.clone();
                        async move {
                            s.versions
                                .lock()
                                .unwrap()
                                .push(format!("{:?}", req.version()));
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
                        }
                    });
                    match acceptor {
                        None => {
                            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        Some(acceptor) => {
                            let Ok(tls) = acceptor.accept(stream).await else {
                                return;
                            };
                            if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                                let _ =
                                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                                        .serve_connection(TokioIo::new(tls), service)
                                        .await;
                            } else {
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(tls), service)
                                    .await;
                            }
                        }
                    }
                });
            }
        });
        TestServer {
            addr,
            seen,
            _runtime: runtime,
        }
    }

    fn versions(&self) -> Vec<String> {
        self.seen.versions.lock().unwrap().clone()
    }
}

const BOTH: &[&[u8]] = &[b"h2", b"http/1.1"];

/// Runs the probe once per iteration (`REQUESTS` GETs each) with `options` against `base`;
/// returns the exit code, the summary and the tags of every `http_reqs` sample.
fn probe(
    dir: &Path,
    base: &str,
    options: &str,
    iterations: u32,
    requests: u32,
) -> (i32, serde_json::Value, Vec<serde_json::Value>) {
    let test = dir.join("test.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"{}\"\nvus = 1\niterations = {iterations}\n{options}\n[env]\nBASE_URL = \"{base}\"\nREQUESTS = \"{requests}\"\n",
            component("probe").display()
        ),
    )
    .unwrap();
    let (export, out) = (dir.join("summary.json"), dir.join("out.json"));
    let result = run(&[
        "run",
        test.to_str().unwrap(),
        "-q",
        "--summary-export",
        export.to_str().unwrap(),
        "--out",
        &format!("json={}", out.display()),
    ]);
    let tags = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "Point" && v["metric"] == "http_reqs")
        .map(|v| v["data"]["tags"].clone())
        .collect();
    (result.code, read_json(&export), tags)
}

fn trend(summary: &serde_json::Value, name: &str, stat: &str) -> f64 {
    summary["metrics"][name]["values"][stat].as_f64().unwrap()
}

#[test]
fn https_negotiates_http2_over_one_connection_and_times_the_handshake() {
    let dir = scratch("https-h2");
    let pki = pki(&dir, &["localhost"]);
    let server = TestServer::start(Some((&pki, BOTH)));
    let base = format!("https://localhost:{}", server.addr.port());
    let (code, summary, tags) = probe(&dir, &base, "tls-ca-file = \"ca.pem\"", 3, 2);
    assert_eq!(code, 0);
    assert_eq!(tags.len(), 6);
    for t in &tags {
        assert_eq!(t["proto"], "HTTP/2.0", "{t}");
        assert_eq!(t["tls_version"], "tls1.3", "{t}");
        assert_eq!(t["status"], "200", "{t}");
    }
    assert_eq!(server.versions(), vec!["HTTP/2.0"; 6]);
    assert_eq!(
        server.seen.connections.load(Ordering::SeqCst),
        1,
        "one HTTP/2 connection per VU and origin, kept across iterations"
    );
    assert!(trend(&summary, "http_req_tls_handshaking", "max") > 0.0);
    assert_eq!(
        trend(&summary, "http_req_tls_handshaking", "med"),
        0.0,
        "only the first request paid for the handshake"
    );
    assert_eq!(summary["metrics"]["http_req_failed"]["values"]["passes"], 0);
}

#[test]
fn https_falls_back_to_http1_and_honours_tls_version() {
    let dir = scratch("https-h1");
    let pki = pki(&dir, &["localhost"]);
    let server = TestServer::start(Some((&pki, &[b"http/1.1"])));
    let base = format!("https://localhost:{}", server.addr.port());
    let (code, _, tags) = probe(
        &dir,
        &base,
        "tls-ca-file = \"ca.pem\"\ntls-version = \"tls1.2\"",
        2,
        1,
    );
    assert_eq!(code, 0);
    assert_eq!(tags.len(), 2);
    for t in &tags {
        assert_eq!(t["proto"], "HTTP/1.1", "{t}");
        assert_eq!(t["tls_version"], "tls1.2", "{t}");
    }
    assert_eq!(server.versions(), vec!["HTTP/1.1"; 2]);
}

#[test]
fn tls_failures_map_to_k6_error_codes() {
    let dir = scratch("https-errors");
    let pki = pki(&dir, &["other.test"]);
    let server = TestServer::start(Some((&pki, BOTH)));
    let base = format!("https://localhost:{}", server.addr.port());
    // The CA is not trusted: x509 unknown authority.
    let (_, summary, tags) = probe(&dir, &base, "", 1, 1);
    assert_eq!(tags[0]["error_code"], "1310", "{}", tags[0]);
    assert_eq!(tags[0]["status"], "0");
    assert_eq!(summary["metrics"]["http_req_failed"]["values"]["passes"], 1);
    // Trusted, but issued for another name.
    let (_, _, tags) = probe(&dir, &base, "tls-ca-file = \"ca.pem\"", 1, 1);
    assert_eq!(tags[0]["error_code"], "1311", "{}", tags[0]);
    // insecureSkipTLSVerify accepts it.
    let (_, _, tags) = probe(&dir, &base, "insecureSkipTLSVerify = true", 1, 1);
    assert_eq!(tags[0]["status"], "200", "{}", tags[0]);
    assert_eq!(tags[0]["proto"], "HTTP/2.0");
}

#[test]
fn h2c_speaks_http2_with_prior_knowledge() {
    let dir = scratch("h2c");
    let server = TestServer::start(None);
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    let (code, _, tags) = probe(&dir, &base, "h2c = true", 2, 2);
    assert_eq!(code, 0);
    assert_eq!(tags.len(), 4);
    for t in &tags {
        assert_eq!(t["proto"], "HTTP/2.0", "{t}");
        assert_eq!(t["status"], "200", "{t}");
        assert!(t.get("tls_version").is_none(), "{t}");
    }
    assert_eq!(server.versions(), vec!["HTTP/2.0"; 4]);
    assert_eq!(server.seen.connections.load(Ordering::SeqCst), 1);
}

#[test]
fn bad_tls_settings_are_named() {
    let dir = scratch("tls-bad");
    let test = dir.join("t.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"{}\"\ntls-version = \"ssl3\"\n",
            component("probe").display()
        ),
    )
    .unwrap();
    let out = run(&["run", test.to_str().unwrap()]).expect_code(104);
    assert!(
        out.stderr.contains("tls-version") && out.stderr.contains("ssl3"),
        "{}",
        out.stderr
    );
    std::fs::write(
        &test,
        format!(
            "plugin = \"{}\"\ntls-ca-file = \"missing.pem\"\n",
            component("probe").display()
        ),
    )
    .unwrap();
    let out = run(&["run", test.to_str().unwrap()]).expect_code(104);
    assert!(out.stderr.contains("missing.pem"), "{}", out.stderr);
}
