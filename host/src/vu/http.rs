//! The host side of the WIT `http` import: `send` and `batch` on the VU's own client, each
//! request checked against the sandbox before the transport sees it, redirects followed hop by
//! hop (each recorded), and a batch's length and the bodies it holds bounded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::bindings::http;
use super::failure::{failure, GENERIC};
use super::recorder::{Recorder, RequestInfo};
use super::state::VuState;
use crate::sandbox::Sandbox;
use crate::transport::{self, Client, Outcome, Outgoing, TransportError};

impl VuState {
    /// One request (and its redirects) on the VU's own client.
    async fn send_one(&mut self, req: http::Request, params: http::Params) -> Outcome {
        let VuState {
            client,
            recorder,
            sandbox,
            ..
        } = self;
        let recorder = Mutex::new(recorder);
        let (params, cookies) = Params::from_wit(params);
        let (outgoing, tags) = outgoing(req, cookies);
        // Boxed: the exchange's future (~2 KB) would otherwise be built in the frames of this
        // call's callers as well (the WIT import's, `send_packed`'s), a page more of fiber stack
        // that a VU gives back at each `sleep` and faults in again at its next request.
        Box::pin(perform(
            client, sandbox, &recorder, outgoing, &tags, &params,
        ))
        .await
    }
}

impl http::Host for VuState {
    async fn send(&mut self, req: http::Request) -> Result<http::Response, http::HttpError> {
        let params = http::Params {
            redirects: None,
            expected_statuses: Vec::new(),
            cookies: Vec::new(),
            compression: None,
        };
        let outcome = self.send_one(req, params).await;
        outcome.result.map(response).map_err(|e| match e {
            TransportError::Timeout => http::HttpError::Timeout,
            TransportError::InvalidUrl(m) => http::HttpError::InvalidUrl(m),
            TransportError::Dns(m) => http::HttpError::Dns(m),
            TransportError::Denied(h) => http::HttpError::Denied(h),
            e @ TransportError::Connect { .. } => http::HttpError::Connect(e.to_string()),
            e @ TransportError::Other { .. } => http::HttpError::Other(e.to_string()),
        })
    }

    async fn send_with_params(
        &mut self,
        req: http::Request,
        params: http::Params,
    ) -> Result<http::Response, http::Failure> {
        let outcome = self.send_one(req, params).await;
        outcome.result.map(response).map_err(http::Failure::from)
    }

    async fn send_packed(
        &mut self,
        req: http::Request,
        params: http::Params,
    ) -> Result<http::PackedResponse, http::Failure> {
        let outcome = self.send_one(req, params).await;
        outcome
            .result
            .map(packed_response)
            .map_err(http::Failure::from)
    }

    async fn batch(
        &mut self,
        reqs: Vec<(http::Request, http::Params)>,
    ) -> Vec<Result<http::Response, http::Failure>> {
        if reqs.len() > MAX_BATCH_REQUESTS {
            return batch_too_long(reqs.len());
        }
        let VuState {
            client,
            recorder,
            sandbox,
            ..
        } = self;
        let budget = MAX_BATCH_BYTES.max(client.config().max_body_bytes);
        let held = AtomicU64::new(0);
        let recorder = Mutex::new(recorder);
        // The VU's client and extra lanes (same cookie jar, connections of their own) serve
        // the requests, at most `batch` at once and `batchPerHost` to one host (k6's options).
        let spare = client.lane();
        let mut pool = client.take_lanes();
        pool.push(std::mem::replace(client, spare));
        let lanes = Mutex::new(pool);
        let template = lock(&lanes)[0].lane();
        let (at_once, per_host_limit) = batch_limits(template.config());
        let all = tokio::sync::Semaphore::new(at_once);
        let mut per_host: HashMap<String, Arc<tokio::sync::Semaphore>> = HashMap::new();
        let jobs: Vec<_> = reqs
            .into_iter()
            .map(|(req, params)| {
                let host = host_of(&req.url);
                let host_limit = per_host
                    .entry(host)
                    .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(per_host_limit)))
                    .clone();
                let (params, cookies) = Params::from_wit(params);
                let (outgoing, tags) = outgoing(req, cookies);
                (host_limit, outgoing, tags, params)
            })
            .collect();
        let runs = jobs
            .into_iter()
            .map(|(host_limit, outgoing, tags, params)| {
                let (all, lanes, template, recorder, sandbox, held) =
                    (&all, &lanes, &template, &recorder, &*sandbox, &held);
                async move {
                    let _slot = all.acquire().await;
                    let _host_slot = host_limit.acquire().await;
                    let taken = lock(lanes).pop();
                    let mut lane = taken.unwrap_or_else(|| template.lane());
                    let outcome =
                        perform(&mut lane, sandbox, recorder, outgoing, &tags, &params).await;
                    lock(lanes).push(lane);
                    let ex = outcome.result.map_err(http::Failure::from)?;
                    hold(held, budget, ex.body.len() as u64)?;
                    Ok::<_, http::Failure>(response(ex))
                }
            });
        let results = futures_util::future::join_all(runs).await;
        let mut lanes = lanes.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(mut main) = lanes.pop() {
            main.keep_lanes(lanes);
            *client = main;
        }
        results
    }
}

/// One `http.batch`'s limits from the test's `batch` and `batchPerHost`: requests in flight at
/// once, and to one host (`batchPerHost` 0 means only the first limit), each at least 1 and at
/// most [`crate::limits::MAX_BATCH_PARALLEL`].
fn batch_limits(config: &transport::HttpConfig) -> (usize, usize) {
    let most = crate::limits::MAX_BATCH_PARALLEL as usize;
    let at_once = config.batch.clamp(1, most);
    let per_host = match config.batch_per_host {
        0 => at_once,
        n => n.min(at_once),
    };
    (at_once, per_host)
}

/// Most requests one `http.batch` takes; a longer batch sends none and fails every request
/// with code 1000.
pub const MAX_BATCH_REQUESTS: usize = 1000;

/// Most response-body bytes one `http.batch` holds (raised to `max-response-body-mib` if that is
/// larger); a response past it fails with code 1000 and its body is dropped. Up to `batch`
/// (at most [`crate::limits::MAX_BATCH_PARALLEL`]) responses in flight may each add `max-response-body-mib` on top while being read.
pub const MAX_BATCH_BYTES: u64 = 64 << 20;

/// The refusal of a batch longer than [`MAX_BATCH_REQUESTS`], for each of its `n` requests.
fn batch_too_long(n: usize) -> Vec<Result<http::Response, http::Failure>> {
    let f = failure(
        GENERIC,
        format!("http.batch: {n} requests, at most {MAX_BATCH_REQUESTS} are sent in one batch"),
    );
    vec![Err(f); n]
}

/// Counts `bytes` against a batch's `budget` of bodies held, or refuses (counting nothing).
fn hold(held: &AtomicU64, budget: u64, bytes: u64) -> Result<(), http::Failure> {
    if held.fetch_add(bytes, Ordering::Relaxed) + bytes <= budget {
        return Ok(());
    }
    held.fetch_sub(bytes, Ordering::Relaxed);
    Err(failure(
        GENERIC,
        format!(
            "http.batch: the responses would hold more than {budget} bytes; \
             use body-mode discard or smaller batches"
        ),
    ))
}

/// Per-request settings (k6's params); `None` or empty means the test's setting.
#[derive(Debug)]
struct Params {
    redirects: Option<u32>,
    expected: Vec<(u16, u16)>,
    compression: Option<String>,
}

impl Params {
    /// The params and the request's own cookies.
    fn from_wit(p: http::Params) -> (Params, Vec<(String, String)>) {
        (
            Params {
                redirects: p.redirects,
                expected: p.expected_statuses.iter().map(|r| (r.min, r.max)).collect(),
                compression: p.compression.filter(|c| !c.is_empty()),
            },
            p.cookies.into_iter().map(|c| (c.name, c.value)).collect(),
        )
    }

    fn expects(&self, config: &transport::HttpConfig, status: u16) -> bool {
        if self.expected.is_empty() {
            config.expects(status)
        } else {
            self.expected
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&status))
        }
    }
}

/// The transport's request for a WIT request, and its tags.
fn outgoing(
    req: http::Request,
    cookies: Vec<(String, String)>,
) -> (Outgoing, Vec<(String, String)>) {
    let tags = req.tags.into_iter().map(|t| (t.key, t.value)).collect();
    let outgoing = Outgoing {
        method: req.method,
        url: req.url,
        headers: req.headers.into_iter().map(|h| (h.name, h.value)).collect(),
        body: req.body.map(bytes::Bytes::from),
        timeout: req
            .timeout_ms
            .map_or(transport::DEFAULT_TIMEOUT, Duration::from_millis),
        keep_body: matches!(req.body_mode, http::BodyMode::Keep),
        cookies,
    };
    (outgoing, tags)
}

/// The scheme and authority of a URL, which batch limits per host go by.
fn host_of(url: &str) -> String {
    url.parse::<hyper::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

/// Sends `outgoing` unless the sandbox denies its host, following redirects; every hop is
/// recorded as a request of its own, as in k6. Returns the last hop's outcome.
async fn perform(
    client: &mut Client,
    sandbox: &Sandbox,
    recorder: &Mutex<&mut Recorder>,
    mut outgoing: Outgoing,
    tags: &[(String, String)],
    params: &Params,
) -> Outcome {
    // k6's `rps`: every request (not each redirect hop) waits for its turn, before it is timed.
    if let Some(limit) = client.config().rps.as_deref() {
        limit.wait().await;
    }
    // A request the sandbox denies costs nothing: the loop below refuses it uncompressed.
    let allowed = || sandbox.denied(&outgoing.url).is_none();
    if let Some(algorithms) = params.compression.as_deref().filter(|_| allowed()) {
        // Boxed: rare, and kept out of the request future every request moves.
        if let Err(e) = Box::pin(transport::compress_off_worker(&mut outgoing, algorithms)).await {
            let outcome = Outcome {
                result: Err(e),
                bytes_sent: 0,
                bytes_received: 0,
            };
            lock(recorder).http(
                &RequestInfo {
                    method: &outgoing.method,
                    url: &outgoing.url,
                    tags,
                    expected: false,
                },
                &outcome,
            );
            return outcome;
        }
    }
    let mut hops = 0;
    loop {
        let outcome = match sandbox.denied(&outgoing.url) {
            // Outside allowed-hosts: refused before any connection is opened.
            Some(host) => Outcome {
                result: Err(TransportError::Denied(host)),
                bytes_sent: 0,
                bytes_received: 0,
            },
            None => client.send(&outgoing).await,
        };
        let config = client.config();
        transport::debug::print(config.debug, &outgoing, &outcome);
        let expected = outcome
            .result
            .as_ref()
            .is_ok_and(|ex| params.expects(config, ex.status));
        lock(recorder).http(
            &RequestInfo {
                method: &outgoing.method,
                url: &outgoing.url,
                tags,
                expected,
            },
            &outcome,
        );
        let max = params.redirects.unwrap_or(config.max_redirects);
        let next = match &outcome.result {
            Ok(ex) if hops < max => transport::redirect(&outgoing, ex),
            _ => None,
        };
        match next {
            Some(next) => {
                hops += 1;
                outgoing = next;
            }
            None => return outcome,
        }
    }
}

/// A VU-local lock: only this VU's futures take it, and never across an await.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The response with its headers as the transport packed them (`send-packed`; see
/// [`transport::Headers`]).
fn packed_response(ex: transport::Exchange) -> http::PackedResponse {
    http::PackedResponse {
        status: ex.status,
        headers: ex.headers.into_packed(),
        body: Vec::from(ex.body),
        timings: timings(&ex.timings),
        proto: ex.proto.to_string(),
    }
}

fn timings(t: &transport::Timings) -> http::Timings {
    http::Timings {
        blocked: t.blocked,
        connecting: t.connecting,
        tls_handshaking: t.tls_handshaking,
        sending: t.sending,
        waiting: t.waiting,
        receiving: t.receiving,
        duration: t.duration(),
    }
}

fn response(ex: transport::Exchange) -> http::Response {
    http::Response {
        status: ex.status,
        headers: ex
            .headers
            .iter()
            .map(|(name, value)| http::Header {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
        body: Vec::from(ex.body),
        timings: timings(&ex.timings),
        proto: ex.proto.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_holds_bodies_up_to_its_budget() {
        let held = AtomicU64::new(0);
        assert!(hold(&held, 10, 6).is_ok());
        let e = hold(&held, 10, 5).unwrap_err();
        assert_eq!(e.code, GENERIC);
        assert!(e.message.contains("more than 10 bytes"), "{}", e.message);
        // A refused body is not counted: a smaller one still fits.
        assert!(hold(&held, 10, 4).is_ok());
        assert_eq!(held.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn a_batch_past_the_cap_fails_every_request() {
        let all = batch_too_long(MAX_BATCH_REQUESTS + 1);
        assert_eq!(all.len(), MAX_BATCH_REQUESTS + 1);
        assert!(all.iter().all(
            |r| matches!(r, Err(f) if f.code == GENERIC && f.message.contains("at most 1000"))
        ));
    }
}
