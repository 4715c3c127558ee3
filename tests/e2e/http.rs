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

/// A leaf certificate for `names`, signed by a CA written to `DIR/ca.pem`; also a client
/// certificate from the same CA in `DIR/client.pem` and `DIR/client-key.pem`.
pub(crate) struct Pki {
    ca: rustls::pki_types::CertificateDer<'static>,
    pub(crate) leaf: rustls::pki_types::CertificateDer<'static>,
    pub(crate) key: PrivateKeyDer<'static>,
}

pub(crate) fn pki(dir: &Path, names: &[&str]) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = CertificateParams::new(vec!["volley-client".to_string()])
        .unwrap()
        .signed_by(&client_key, &ca)
        .unwrap();
    std::fs::write(dir.join("client.pem"), client.pem()).unwrap();
    std::fs::write(dir.join("client-key.pem"), client_key.serialize_pem()).unwrap();
    Pki {
        ca: ca.der().clone(),
        leaf: leaf.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// What a test server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicU64,
    versions: Mutex<Vec<String>>,
    /// Each request's path and `Cookie` header.
    requests: Mutex<Vec<(String, Option<String>)>>,
    /// Each connection's peer address.
    peers: Mutex<Vec<std::net::IpAddr>>,
    /// Requests being served now, and the most at once.
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// How a test server speaks.
enum Mode<'a> {
    /// Plain HTTP/1.1.
    Http1,
    /// Plain HTTP/2 with prior knowledge.
    H2c,
    /// TLS offering `alpn`; HTTP/2 when `h2` is negotiated.
    Tls(&'a Pki, &'a [&'a [u8]]),
    /// TLS over HTTP/1.1 that requires a client certificate from the PKI's CA.
    MutualTls(&'a Pki),
}

/// The test server's routes: `/slow/MS` → 200 after MS milliseconds, `/redirect/N` → 302 to `/redirect/N-1` (`/redirect/0` is 200),
/// `/status/N` → status N, `/set-cookie` → 200 setting `visit=N`, anything else → 200 "ok".
fn route(path: &str, seen: &Seen) -> Response<Full<Bytes>> {
    let reply = |status: u16| Response::builder().status(status);
    if let Some(n) = path
        .strip_prefix("/redirect/")
        .and_then(|n| n.parse::<u32>().ok())
    {
        if n > 0 {
            return reply(302)
                .header("location", format!("/redirect/{}", n - 1))
                .body(Full::new(Bytes::new()))
                .unwrap();
        }
    }
    if let Some(n) = path
        .strip_prefix("/status/")
        .and_then(|n| n.parse::<u16>().ok())
    {
        return reply(n).body(Full::new(Bytes::new())).unwrap();
    }
    if path == "/set-cookie" {
        let n = seen.requests.lock().unwrap().len();
        return reply(200)
            .header("set-cookie", format!("visit={n}; Path=/"))
            .body(Full::new(Bytes::from("ok")))
            .unwrap();
    }
    Response::new(Full::new(Bytes::from("ok")))
}

/// A server on 127.0.0.1 speaking `mode`, answering [`route`].
struct TestServer {
    addr: SocketAddr,
    seen: Arc<Seen>,
    _runtime: tokio::runtime::Runtime,
}

impl TestServer {
    fn start(mode: Mode<'_>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let h2c = matches!(mode, Mode::H2c);
        let tls = match mode {
            Mode::Tls(pki, alpn) => Some((pki, alpn, false)),
            Mode::MutualTls(pki) => Some((pki, &[b"http/1.1".as_slice()][..], true)),
            Mode::Http1 | Mode::H2c => None,
        };
        let acceptor = tls.map(|(pki, alpn, mutual)| {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .unwrap();
            let builder = if mutual {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(pki.ca.clone()).unwrap();
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            } else {
                builder.with_no_client_auth()
            };
            let mut config = builder
                .with_single_cert(vec![pki.leaf.clone()], pki.key.clone_key())
                .unwrap();
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        runtime.spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                s.connections.fetch_add(1, Ordering::SeqCst);
                s.peers.lock().unwrap().push(peer.ip());
                let (s, acceptor) = (s.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let s = s.clone();
                        async move {
                            s.versions
                                .lock()
                                .unwrap()
                                .push(format!("{:?}", req.version()));
                            let cookie = req
                                .headers()
                                .get("cookie")
                                .map(|v| v.to_str().unwrap_or_default().to_string());
                            let path = req.uri().path().to_string();
                            let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            s.max_in_flight.fetch_max(now, Ordering::SeqCst);
                            if let Some(ms) =
                                path.strip_prefix("/slow/").and_then(|m| m.parse().ok())
                            {
                                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                            }
                            s.in_flight.fetch_sub(1, Ordering::SeqCst);
                            let response = route(&path, &s);
                            s.requests.lock().unwrap().push((path, cookie));
                            Ok::<_, Infallible>(response)
                        }
                    });
                    match acceptor {
                        None if !h2c => {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
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

    /// The `Cookie` header of every request to `path`, in order.
    fn cookies(&self, path: &str) -> Vec<Option<String>> {
        let requests = self.seen.requests.lock().unwrap();
        requests
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, c)| c.clone())
            .collect()
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
    probe_path(dir, base, "/", options, iterations, requests)
}

/// [`probe`] requesting `path`.
fn probe_path(
    dir: &Path,
    base: &str,
    path: &str,
    options: &str,
    iterations: u32,
    requests: u32,
) -> (i32, serde_json::Value, Vec<serde_json::Value>) {
    probe_env(dir, base, path, options, "", iterations, requests)
}

/// [`probe_path`] with extra `[env]` lines for the probe.
fn probe_env(
    dir: &Path,
    base: &str,
    path: &str,
    options: &str,
    env: &str,
    iterations: u32,
    requests: u32,
) -> (i32, serde_json::Value, Vec<serde_json::Value>) {
    let test = dir.join("test.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"{}\"\nvus = 1\niterations = {iterations}\n{options}\n[env]\nBASE_URL = \"{base}\"\nREQUESTS = \"{requests}\"\nREQ_PATH = \"{path}\"\n{env}\n",
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
    let server = TestServer::start(Mode::Tls(&pki, BOTH));
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
    let sum = |m: &str| summary["metrics"][m]["exact"]["sum"].as_f64().unwrap();
    let phases = sum("http_req_sending") + sum("http_req_waiting") + sum("http_req_receiving");
    assert!(
        (sum("http_req_duration") - phases).abs() < 1e-6,
        "duration = sending + waiting + receiving: {} vs {phases}",
        sum("http_req_duration")
    );
    assert!(sum("http_req_waiting") > 0.0);
}

#[test]
fn https_falls_back_to_http1_and_honours_tls_version() {
    let dir = scratch("https-h1");
    let pki = pki(&dir, &["localhost"]);
    let server = TestServer::start(Mode::Tls(&pki, &[b"http/1.1"]));
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

/// k6's `tlsCipherSuites` narrows TLS 1.2's suites: against a server with an ECDSA certificate,
/// an ECDSA suite connects and an RSA-only list leaves no common suite (a handshake failure);
/// a name k6 does not know is refused.
#[test]
fn tls_cipher_suites_narrow_what_tls12_offers() {
    let dir = scratch("https-ciphers");
    let pki = pki(&dir, &["localhost"]);
    let server = TestServer::start(Mode::Tls(&pki, &[b"http/1.1"]));
    let base = format!("https://localhost:{}", server.addr.port());
    let tls12 = "tls-ca-file = \"ca.pem\"\ntls-version = \"tls1.2\"\n";
    let (_, _, tags) = probe(
        &dir,
        &base,
        &format!("{tls12}tlsCipherSuites = [\"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305\"]"),
        1,
        1,
    );
    assert_eq!(tags[0]["status"], "200", "{}", tags[0]);
    assert_eq!(tags[0]["tls_version"], "tls1.2", "{}", tags[0]);
    let (_, _, tags) = probe(
        &dir,
        &base,
        &format!("{tls12}tlsCipherSuites = [\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"]"),
        1,
        1,
    );
    assert_eq!(tags[0]["status"], "0", "no suite in common: {}", tags[0]);
    let test = dir.join("bad.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"{}\"\ntlsCipherSuites = [\"TLS_NOT_A_SUITE\"]\n",
            component("probe").display()
        ),
    )
    .unwrap();
    let out = run(&["run", test.to_str().unwrap()]).expect_code(104);
    assert!(
        out.stderr
            .contains("unknown cipher suite 'TLS_NOT_A_SUITE'"),
        "{}",
        out.stderr
    );
}

#[test]
fn tls_failures_map_to_k6_error_codes() {
    let dir = scratch("https-errors");
    let pki = pki(&dir, &["other.test"]);
    let server = TestServer::start(Mode::Tls(&pki, BOTH));
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
    let server = TestServer::start(Mode::H2c);
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
        out.stderr.contains(
            "tls-version: unknown version 'ssl3' (expected tls1.0, tls1.1, tls1.2 or tls1.3)"
        ),
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
    assert!(
        out.stderr
            .contains("missing.pem: I/O error: No such file or directory"),
        "{}",
        out.stderr
    );
}

#[test]
fn redirects_are_followed_hop_by_hop_up_to_max_redirects() {
    let dir = scratch("redirects");
    let server = TestServer::start(Mode::Http1);
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    let (_, summary, tags) = probe_path(&dir, &base, "/redirect/3", "", 1, 1);
    let urls: Vec<&str> = tags.iter().map(|t| t["url"].as_str().unwrap()).collect();
    assert_eq!(
        urls,
        ["/redirect/3", "/redirect/2", "/redirect/1", "/redirect/0"].map(|p| format!("{base}{p}")),
        "each hop is a request of its own"
    );
    assert_eq!(tags[0]["status"], "302");
    assert_eq!(tags[3]["status"], "200");
    assert_eq!(
        crate::support::check(&summary, "status is 200")["passes"],
        1,
        "the script saw the final 200"
    );
    let (_, summary, tags) = probe_path(&dir, &base, "/redirect/3", "max-redirects = 1", 1, 1);
    assert_eq!(tags.len(), 2, "the first request and one redirect");
    assert_eq!(
        crate::support::check(&summary, "status is 200")["fails"],
        1,
        "the script got the 302"
    );
}

#[test]
fn the_cookie_jar_returns_cookies_and_is_emptied_each_iteration() {
    let dir = scratch("cookies");
    let server = TestServer::start(Mode::Http1);
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    let (code, _, _) = probe_path(&dir, &base, "/set-cookie", "", 2, 2);
    assert_eq!(code, 0);
    let cookies = server.cookies("/set-cookie");
    assert_eq!(
        cookies,
        [None, Some("visit=0".into()), None, Some("visit=2".into())],
        "the second request of each iteration carries the first one's cookie"
    );
}

#[test]
fn expected_statuses_decide_failures() {
    let dir = scratch("expected");
    let server = TestServer::start(Mode::Http1);
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    let (_, summary, tags) = probe_path(&dir, &base, "/status/404", "", 1, 1);
    assert_eq!(summary["metrics"]["http_req_failed"]["values"]["passes"], 1);
    assert_eq!(tags[0]["expected_response"], "false");
    let (_, summary, tags) = probe_path(
        &dir,
        &base,
        "/status/404",
        "expectedStatuses = [{ min = 200, max = 299 }, 404]",
        1,
        1,
    );
    assert_eq!(summary["metrics"]["http_req_failed"]["values"]["passes"], 0);
    assert_eq!(tags[0]["expected_response"], "true");
}

#[test]
fn connection_reuse_options_close_connections() {
    let dir = scratch("reuse");
    let server = TestServer::start(Mode::Http1);
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    let connections = || server.seen.connections.load(Ordering::SeqCst);
    probe(&dir, &base, "", 2, 2);
    assert_eq!(
        connections(),
        1,
        "kept alive across requests and iterations"
    );
    probe(&dir, &base, "noVUConnectionReuse = true", 2, 2);
    assert_eq!(connections(), 1 + 2, "one per iteration");
    probe(&dir, &base, "noConnectionReuse = true", 2, 2);
    assert_eq!(connections(), 3 + 4, "one per request");
}

#[test]
fn hosts_overrides_and_blocked_hostnames() {
    let dir = scratch("hosts");
    let server = TestServer::start(Mode::Http1);
    let base = format!("http://volley.test:{}", server.addr.port());
    let (_, _, tags) = probe(
        &dir,
        &base,
        "[hosts]\n\"volley.test\" = \"127.0.0.1\"",
        1,
        1,
    );
    assert_eq!(tags[0]["status"], "200", "{}", tags[0]);
    let (_, _, tags) = probe(
        &dir,
        &base,
        "blockHostnames = [\"*.test\"]\n[hosts]\n\"volley.test\" = \"127.0.0.1\"",
        1,
        1,
    );
    assert_eq!(tags[0]["error_code"], "1111", "{}", tags[0]);
}

#[test]
fn http_debug_prints_requests_and_responses() {
    let dir = scratch("http-debug");
    let server = TestServer::start(Mode::Http1);
    let test = dir.join("t.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"{}\"\niterations = 1\n[env]\nBASE_URL = \"http://127.0.0.1:{}\"\nREQ_PATH = \"/set-cookie\"\n",
            component("probe").display(),
            server.addr.port()
        ),
    )
    .unwrap();
    let out = run(&["run", test.to_str().unwrap(), "-q", "--http-debug"]).expect_code(0);
    assert!(
        out.stderr.contains(&format!(
            "Request:\nGET http://127.0.0.1:{}/set-cookie",
            server.addr.port()
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Response:\nHTTP/1.1 200\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("set-cookie: visit=0; Path=/"),
        "{}",
        out.stderr
    );
}

#[test]
fn batch_runs_in_parallel_within_k6_limits() {
    let dir = scratch("batch");
    let server = TestServer::start(Mode::Http1);
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    let (code, summary, tags) = probe_env(&dir, &base, "/slow/150", "", "BATCH = \"14\"", 2, 0);
    assert_eq!(code, 0);
    assert_eq!(tags.len(), 28);
    assert_eq!(
        crate::support::check(&summary, "status is 200")["passes"],
        28
    );
    assert_eq!(
        server.seen.max_in_flight.load(Ordering::SeqCst),
        6,
        "k6's batchPerHost: 6 at once to one host"
    );
    assert_eq!(
        server.seen.connections.load(Ordering::SeqCst),
        6,
        "the batch lanes' connections are kept for the next iteration"
    );
}

#[test]
fn per_request_params_override_the_test() {
    let dir = scratch("params");
    let server = TestServer::start(Mode::Http1);
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    let (_, _, tags) = probe_env(&dir, &base, "/redirect/3", "", "REDIRECTS = \"0\"", 1, 1);
    assert_eq!(tags.len(), 1, "redirects(0): the 302 comes back");
    let (_, summary, tags) = probe_env(&dir, &base, "/status/404", "", "EXPECT = \"404\"", 1, 1);
    assert_eq!(tags[0]["expected_response"], "true");
    assert_eq!(summary["metrics"]["http_req_failed"]["values"]["passes"], 0);
    probe_env(
        &dir,
        &base,
        "/set-cookie",
        "",
        "COOKIE = \"visit=mine\"",
        1,
        2,
    );
    let cookies = server.cookies("/set-cookie");
    assert_eq!(
        cookies,
        [
            Some("visit=mine".to_string()),
            Some("visit=mine".to_string())
        ],
        "the request's own cookie wins over the jar's of the same name"
    );
}

#[test]
fn client_certificates_are_presented_to_their_domains() {
    let dir = scratch("mtls");
    let pki = pki(&dir, &["localhost"]);
    let server = TestServer::start(Mode::MutualTls(&pki));
    let base = format!("https://localhost:{}", server.addr.port());
    let (_, _, tags) = probe(&dir, &base, "tls-ca-file = \"ca.pem\"", 1, 1);
    assert_eq!(
        tags[0]["status"], "0",
        "refused without a certificate: {}",
        tags[0]
    );
    let auth = "tls-ca-file = \"ca.pem\"\ntlsAuth = [{ domains = [\"localhost\"], cert = \"client.pem\", key = \"client-key.pem\" }]";
    let (_, _, tags) = probe(&dir, &base, auth, 1, 1);
    assert_eq!(tags[0]["status"], "200", "{}", tags[0]);
    let other = "tls-ca-file = \"ca.pem\"\ntlsAuth = [{ domains = [\"*.example.test\"], cert = \"client.pem\", key = \"client-key.pem\" }]";
    let (_, _, tags) = probe(&dir, &base, other, 1, 1);
    assert_eq!(
        tags[0]["status"], "0",
        "only presented to its domains: {}",
        tags[0]
    );
}

#[test]
fn local_ips_choose_the_source_address() {
    let dir = scratch("local-ips");
    let server = TestServer::start(Mode::Http1);
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    let (_, _, tags) = probe(&dir, &base, "localIPs = [\"127.0.0.3\"]", 1, 1);
    assert_eq!(tags[0]["status"], "200", "{}", tags[0]);
    assert_eq!(
        *server.seen.peers.lock().unwrap(),
        ["127.0.0.3".parse::<std::net::IpAddr>().unwrap()]
    );
}
