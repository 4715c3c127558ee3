//! The HTTP front end: hyper serving HTTP/1.1 with keep-alive on tokio, `GET /` queued on the
//! worker pool, `GET /health` answered at once, and a graceful drain on stop.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use super::model::{black_scholes_call, MATURITY, RATE, SPOT, STRIKE, VOLATILITY};
use super::params::{parse_query, Params};
use super::pool::{Job, Pool};
use super::rng::SeedSource;

/// How long shutdown waits for open connections to finish before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// State shared by every connection.
pub(super) struct App {
    pub(super) pool: Arc<Pool>,
    pub(super) defaults: Params,
    pub(super) seeds: SeedSource,
}

/// Resolves when `stop` turns true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender was dropped, which also means stop.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Accepts connections until told to stop, then drains them for up to [`DRAIN_TIMEOUT`].
pub(super) async fn serve(listener: TcpListener, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&app), stop.clone()));
                }
                Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    // Connections still open after the timeout are aborted when `connections` drops.
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
}

/// Serves HTTP/1.1 on one connection; on stop, finishes the current request and closes.
async fn serve_connection(stream: TcpStream, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    // Best effort: without it small responses may wait for delayed ACKs.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(respond(&app, request).await) }
    });
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    // Connection errors (resets, malformed requests) concern only that client.
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// What a request asks for.
enum Action {
    Price(Params),
    Health,
    BadRequest(String),
    MethodNotAllowed,
    NotFound,
}

fn classify(method: &Method, uri: &Uri, defaults: Params) -> Action {
    let is_get = method == Method::GET;
    match uri.path() {
        "/" if is_get => match parse_query(uri.query(), defaults) {
            Ok(params) => Action::Price(params),
            Err(message) => Action::BadRequest(message),
        },
        "/health" if is_get => Action::Health,
        "/" | "/health" => Action::MethodNotAllowed,
        _ => Action::NotFound,
    }
}

async fn respond(app: &App, request: Request<Incoming>) -> Response<Full<Bytes>> {
    match classify(request.method(), request.uri(), app.defaults) {
        Action::Price(params) => price(app, params).await,
        Action::Health => response(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"ok"),
        ),
        Action::BadRequest(message) => error_response(StatusCode::BAD_REQUEST, &message),
        Action::MethodNotAllowed => {
            let mut response = error_response(StatusCode::METHOD_NOT_ALLOWED, "use GET");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            response
        }
        Action::NotFound => error_response(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Body of a successful `GET /`.
#[derive(Serialize)]
struct PriceBody {
    price: f64,
    std_error: f64,
    black_scholes: f64,
    paths: u32,
    steps: u32,
    /// Simulation time on the worker.
    elapsed_ms: f64,
    /// Time spent waiting in the queue for a free worker.
    queued_ms: f64,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

/// Queues the simulation and waits for a worker to answer.
async fn price(app: &App, params: Params) -> Response<Full<Bytes>> {
    let (reply, outcome) = oneshot::channel();
    let job = Job {
        params,
        seed: app.seeds.next(),
        queued_at: Instant::now(),
        reply,
    };
    if !app.pool.submit(job) {
        return shutting_down();
    }
    let Ok(outcome) = outcome.await else {
        return shutting_down();
    };
    let body = PriceBody {
        price: outcome.estimate.price,
        std_error: outcome.estimate.std_error,
        black_scholes: black_scholes_call(SPOT, STRIKE, RATE, VOLATILITY, MATURITY),
        paths: params.paths,
        steps: params.steps,
        elapsed_ms: outcome.elapsed.as_secs_f64() * 1e3,
        queued_ms: outcome.queued.as_secs_f64() * 1e3,
    };
    json_response(StatusCode::OK, &body)
}

fn shutting_down() -> Response<Full<Bytes>> {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "the target is shutting down",
    )
}

fn error_response(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_response(status, &ErrorBody { error: message })
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(body) {
        Ok(json) => response(status, "application/json", Bytes::from(json)),
        Err(_) => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            Bytes::from_static(br#"{"error":"cannot encode the response"}"#),
        ),
    }
}

fn response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
