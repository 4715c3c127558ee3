//! Monte Carlo target tests: the model, the query, the pool, and the HTTP front end on 127.0.0.1.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, ALLOW, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::model::{erfc, Normals, MATURITY, RATE, SPOT, STRIKE, VOLATILITY};
use super::params::parse_query;
use super::pool::Job;
use super::*;

const REFERENCE_PRICE: f64 = 8.021_352_235_143_176;

fn small_config(workers: usize) -> TargetConfig {
    TargetConfig {
        paths: 2_000,
        steps: 10,
        workers,
    }
}

async fn start_small(workers: usize) -> RunningTarget {
    start(
        "127.0.0.1:0".parse().expect("address"),
        small_config(workers),
    )
    .await
    .expect("target starts")
}

async fn connect(addr: SocketAddr) -> (SendRequest<Empty<Bytes>>, JoinHandle<()>) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (sender, driver)
}

async fn send(
    sender: &mut SendRequest<Empty<Bytes>>,
    method: Method,
    path: &str,
) -> (StatusCode, HeaderMap, Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, "localhost")
        .body(Empty::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, body)
}

async fn get_once(addr: SocketAddr, path: &str) -> (StatusCode, HeaderMap, Bytes) {
    let (mut sender, _driver) = connect(addr).await;
    send(&mut sender, Method::GET, path).await
}

fn json(body: &Bytes) -> serde_json::Value {
    serde_json::from_slice(body).expect("JSON body")
}

#[test]
fn black_scholes_matches_known_value() {
    let price = black_scholes_call(100.0, 105.0, 0.05, 0.2, 1.0);
    assert!((price - REFERENCE_PRICE).abs() < 1e-9, "{price}");
    assert!((price - 8.0214).abs() < 1e-4);
}

#[test]
fn black_scholes_degenerate_inputs() {
    assert_eq!(black_scholes_call(110.0, 105.0, 0.05, 0.2, 0.0), 5.0);
    let no_vol = black_scholes_call(110.0, 105.0, 0.05, 0.0, 1.0);
    assert!((no_vol - (110.0 - 105.0 * (-0.05_f64).exp())).abs() < 1e-12);
}

#[test]
fn erfc_matches_known_values() {
    let cases = [
        (0.0, 1.0),
        (0.5, 0.479_500_122_186_953_5),
        (1.0, 0.157_299_207_050_285_1),
        (1.9, 7.209_570_764_742_532_5e-3),
        (2.0, 4.677_734_981_047_265e-3),
        (2.9, 4.109_787_809_945_886e-5),
        (4.0, 1.541_725_790_028_002e-8),
        (6.0, 2.151_973_671_249_891_6e-17),
        (-1.0, 1.842_700_792_949_715),
    ];
    for (x, expected) in cases {
        let got = erfc(x);
        assert!(
            ((got - expected) / expected).abs() < 1e-13,
            "erfc({x}) = {got}, expected {expected}"
        );
    }
}

#[test]
fn simulation_agrees_with_black_scholes() {
    let estimate = simulate(50_000, 20, 42);
    let reference = black_scholes_call(SPOT, STRIKE, RATE, VOLATILITY, MATURITY);
    assert!(estimate.std_error > 0.0 && estimate.std_error < 0.1);
    let z = (estimate.price - reference) / estimate.std_error;
    assert!(z.abs() < 4.0, "{estimate:?} vs {reference}");
}

#[test]
fn simulation_is_deterministic_per_seed() {
    assert_eq!(simulate(500, 5, 7), simulate(500, 5, 7));
    assert_ne!(simulate(500, 5, 7), simulate(500, 5, 8));
    assert!(simulate(0, 5, 7).price.is_nan());
    assert!(simulate(1, 5, 7).std_error.is_nan());
}

#[test]
fn normals_have_unit_variance() {
    let mut normals = Normals::new(3);
    let n = 200_000;
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for _ in 0..n {
        let z = normals.next();
        sum += z;
        sum_sq += z * z;
    }
    let mean = sum / f64::from(n);
    let variance = sum_sq / f64::from(n) - mean * mean;
    assert!(mean.abs() < 0.01, "{mean}");
    assert!((variance - 1.0).abs() < 0.02, "{variance}");
}

#[test]
fn query_parsing() {
    let defaults = Params {
        paths: 100,
        steps: 10,
    };
    assert_eq!(parse_query(None, defaults), Ok(defaults));
    assert_eq!(parse_query(Some(""), defaults), Ok(defaults));
    assert_eq!(
        parse_query(Some("paths=1000&x=y&steps=3"), defaults),
        Ok(Params {
            paths: 1_000,
            steps: 3
        })
    );
    for bad in [
        "paths=abc",
        "paths",
        "paths=-1",
        "paths=1",
        "steps=0",
        "steps=1001",
        "paths=1000001",
        "paths=1000000&steps=1000",
    ] {
        assert!(parse_query(Some(bad), defaults).is_err(), "{bad}");
    }
}

#[test]
fn pool_is_fifo_and_close_drops_queued_jobs() {
    let pool = Pool::default();
    let mut receivers = Vec::new();
    for seed in 0..3 {
        let (reply, outcome) = oneshot::channel();
        receivers.push(outcome);
        let job = Job {
            params: Params { paths: 2, steps: 1 },
            seed,
            queued_at: Instant::now(),
            reply,
        };
        assert!(pool.submit(job));
    }
    assert_eq!(pool.next_job().map(|job| job.seed), Some(0));
    assert_eq!(pool.next_job().map(|job| job.seed), Some(1));
    pool.close();
    assert!(pool.next_job().is_none());
    let (reply, _outcome) = oneshot::channel();
    let late = Job {
        params: Params { paths: 2, steps: 1 },
        seed: 9,
        queued_at: Instant::now(),
        reply,
    };
    assert!(!pool.submit(late));
    let mut last = receivers.pop().expect("third receiver");
    assert!(last.try_recv().is_err());
}

#[test]
fn default_config_is_valid() {
    let config = TargetConfig::default();
    assert!(Params::validated(config.paths, config.steps).is_ok());
    assert_eq!(config.workers, 2);
}

#[tokio::test]
async fn prices_over_http_on_a_keep_alive_connection() {
    let target = start_small(2).await;
    assert_eq!(
        target.base_url(),
        format!("http://127.0.0.1:{}", target.local_addr().port())
    );
    let (mut sender, _driver) = connect(target.local_addr()).await;
    for path in ["/", "/?paths=4000&steps=5"] {
        let (status, headers, body) = send(&mut sender, Method::GET, path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        let value = json(&body);
        for field in [
            "price",
            "std_error",
            "black_scholes",
            "elapsed_ms",
            "queued_ms",
        ] {
            assert!(value[field].is_f64(), "{field} in {value}");
        }
        let price = value["price"].as_f64().expect("price");
        let std_error = value["std_error"].as_f64().expect("std_error");
        let reference = value["black_scholes"].as_f64().expect("black_scholes");
        assert!((reference - REFERENCE_PRICE).abs() < 1e-9);
        assert!((price - reference).abs() < 5.0 * std_error, "{value}");
    }
    let (_, _, body) = send(&mut sender, Method::GET, "/?paths=4000&steps=5").await;
    let value = json(&body);
    assert_eq!(value["paths"], 4_000);
    assert_eq!(value["steps"], 5);
    target.shutdown().await;
}

#[tokio::test]
async fn queues_more_requests_than_workers() {
    let target = start_small(1).await;
    let addr = target.local_addr();
    let requests = (0..4).map(|_| tokio::spawn(async move { get_once(addr, "/").await.0 }));
    for request in requests.collect::<Vec<_>>() {
        assert_eq!(request.await.expect("request task"), StatusCode::OK);
    }
    target.shutdown().await;
}

#[tokio::test]
async fn health_answers_ok() {
    let target = start_small(1).await;
    let (status, _, body) = get_once(target.local_addr(), "/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"ok");
    target.shutdown().await;
}

#[tokio::test]
async fn unknown_path_is_404() {
    let target = start_small(1).await;
    let (status, _, body) = get_once(target.local_addr(), "/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(json(&body)["error"].is_string());
    target.shutdown().await;
}

#[tokio::test]
async fn other_methods_are_405() {
    let target = start_small(1).await;
    let (mut sender, _driver) = connect(target.local_addr()).await;
    let (status, headers, _) = send(&mut sender, Method::POST, "/").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[ALLOW], "GET");
    target.shutdown().await;
}

#[tokio::test]
async fn bad_query_is_400_with_json_error() {
    let target = start_small(1).await;
    let (mut sender, _driver) = connect(target.local_addr()).await;
    for path in ["/?paths=abc", "/?steps=0", "/?paths=1000000&steps=1000"] {
        let (status, headers, body) = send(&mut sender, Method::GET, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert!(json(&body)["error"].is_string(), "{path}");
    }
    target.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections() {
    let target = start_small(2).await;
    let (mut sender, driver) = connect(target.local_addr()).await;
    let (status, _, _) = send(&mut sender, Method::GET, "/").await;
    assert_eq!(status, StatusCode::OK);
    target.shutdown().await;
    tokio::time::timeout(Duration::from_secs(10), driver)
        .await
        .expect("the server closes the connection")
        .expect("client connection task");
}

#[tokio::test]
async fn start_reports_bad_config_and_bind_failure() {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
    for config in [
        small_config(0),
        TargetConfig {
            paths: 1,
            ..small_config(1)
        },
    ] {
        let error = start(addr, config).await.expect_err("bad config");
        assert!(matches!(error, TargetError::Config(_)), "{error}");
    }
    let first = start_small(1).await;
    let taken = first.local_addr();
    let error = start(taken, small_config(1)).await.expect_err("port taken");
    assert!(
        matches!(error, TargetError::Bind { addr, .. } if addr == taken),
        "{error}"
    );
    first.shutdown().await;
}
