//! The control API for externally-controlled scenarios and paused starts: a small HTTP server on
//! a local address (default 127.0.0.1:6565, as k6's REST API) that reports and changes their VU
//! counts, and resumes a test started with `--paused`.
//!
//! - `GET /v1/status` → `{"paused": false, "scenarios": {"name": {"vus": 5, "max_vus": 20}}}`
//! - `PATCH /v1/status` with `{"vus": 10}` (every externally-controlled scenario) or
//!   `{"vus": 10, "scenario": "name"}` → the new status; 400 when `vus` exceeds `max_vus`.
//! - `PATCH /v1/status` with `{"paused": false}` starts a paused test (as k6's `k6 resume`); a
//!   started test cannot be paused again (400).
//!
//! `volley scale --vus N [--scenario NAME] [--address ADDR]`, `volley status` and
//! `volley resume` are the clients.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Default control address, as k6's.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:6565";

/// The VU targets of the externally-controlled scenarios.
#[derive(Debug, Default)]
pub struct Control {
    scenarios: BTreeMap<String, (watch::Sender<u32>, u32)>,
    /// True while a test started with `--paused` waits for `volley resume`.
    paused: Option<watch::Sender<bool>>,
}

/// Why the control API could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the control API on {addr}: {source}")]
pub struct ControlError {
    /// The address.
    pub addr: SocketAddr,
    /// The bind error.
    pub source: std::io::Error,
}

impl Control {
    /// Registers a scenario starting at `vus` with at most `max_vus`; returns its target channel.
    pub fn register(&mut self, name: &str, vus: u32, max_vus: u32) -> watch::Receiver<u32> {
        let (tx, rx) = watch::channel(vus);
        self.scenarios.insert(name.to_string(), (tx, max_vus));
        rx
    }

    /// Holds the start until a `{"paused": false}` request; the receiver turns false then.
    pub fn pause(&mut self) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(true);
        self.paused = Some(tx);
        rx
    }

    /// Whether there is nothing to control (no scenario registered, no paused start).
    pub fn is_empty(&self) -> bool {
        self.scenarios.is_empty() && self.paused.is_none()
    }

    fn status(&self) -> serde_json::Value {
        let scenarios: serde_json::Map<String, serde_json::Value> = self
            .scenarios
            .iter()
            .map(|(n, (tx, max))| {
                (
                    n.clone(),
                    serde_json::json!({ "vus": *tx.borrow(), "max_vus": max }),
                )
            })
            .collect();
        let paused = self.paused.as_ref().is_some_and(|p| *p.borrow());
        serde_json::json!({ "paused": paused, "scenarios": scenarios })
    }

    fn change(&self, body: &[u8]) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Change {
            vus: Option<u32>,
            scenario: Option<String>,
            paused: Option<bool>,
        }
        let req: Change =
            serde_json::from_slice(body).map_err(|e| format!("bad request body: {e}"))?;
        match (req.paused, req.vus) {
            (Some(true), _) if !self.paused.as_ref().is_some_and(|p| *p.borrow()) => Err(
                "a running test cannot be paused: Volley pauses only before the start (--paused)"
                    .into(),
            ),
            (Some(_), Some(_)) => Err("change either paused or vus in one request".into()),
            (Some(paused), None) => {
                if let Some(p) = &self.paused {
                    p.send_replace(paused);
                }
                Ok(())
            }
            (None, Some(vus)) => self.scale(vus, req.scenario.as_deref()),
            (None, None) => {
                Err("nothing to change: send {\"vus\": N} or {\"paused\": false}".into())
            }
        }
    }

    fn scale(&self, vus: u32, scenario: Option<&str>) -> Result<(), String> {
        let targets: Vec<_> = match scenario {
            Some(name) => vec![(
                name,
                self.scenarios
                    .get(name)
                    .ok_or_else(|| format!("no externally-controlled scenario '{name}'"))?,
            )],
            None => self
                .scenarios
                .iter()
                .map(|(n, v)| (n.as_str(), v))
                .collect(),
        };
        if targets.is_empty() {
            return Err("this test has no externally-controlled scenario".into());
        }
        if let Some((name, (_, max))) = targets.iter().find(|(_, (_, max))| vus > *max) {
            return Err(format!(
                "scenario '{name}': vus {vus} is above its max-vus {max}"
            ));
        }
        for (_, (tx, _)) in targets {
            tx.send_replace(vus);
        }
        Ok(())
    }

    /// Serves the API on `addr` until the returned task is aborted.
    pub async fn serve(
        self: Arc<Self>,
        addr: SocketAddr,
    ) -> Result<tokio::task::JoinHandle<()>, ControlError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ControlError { addr, source })?;
        Ok(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let control = self.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let control = control.clone();
                        async move { Ok::<_, std::convert::Infallible>(control.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }))
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        if req.uri().path() != "/v1/status" {
            return reply(
                StatusCode::NOT_FOUND,
                serde_json::json!({ "error": "not found" }),
            );
        }
        match *req.method() {
            Method::GET => reply(StatusCode::OK, self.status()),
            Method::PATCH => {
                let body = match req.into_body().collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(e) => {
                        return reply(
                            StatusCode::BAD_REQUEST,
                            serde_json::json!({ "error": e.to_string() }),
                        )
                    }
                };
                match self.change(&body) {
                    Ok(()) => reply(StatusCode::OK, self.status()),
                    Err(e) => reply(StatusCode::BAD_REQUEST, serde_json::json!({ "error": e })),
                }
            }
            _ => reply(
                StatusCode::METHOD_NOT_ALLOWED,
                serde_json::json!({ "error": "use GET or PATCH" }),
            ),
        }
    }
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// The `volley scale` / `volley status` client: sends one request and returns the reply body.
pub async fn request(
    addr: SocketAddr,
    method: Method,
    body: Option<serde_json::Value>,
) -> Result<String, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot reach the control API at {addr}: {e} (is a test with an externally-controlled scenario or --paused running?)"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let req = Request::builder()
        .method(method)
        .uri("/v1/status")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(payload)))
        .map_err(|e| e.to_string())?;
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = res.status();
    let text = res
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(text)
    }
}
