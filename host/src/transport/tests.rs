//! Transport tests against raw servers on 127.0.0.1.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::encoding::decode_body;
use super::*;

/// Reads from `sock` until what was read holds a request's head (and maybe more of the
/// stream); `None` if the client closed or failed first.
async fn read_head(sock: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    Some(got)
}

/// A server that answers only the first request of each connection and closes the
/// connection when a second one arrives (a keep-alive timeout racing the client).
async fn one_shot_server() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut answered = false;
                while read_head(&mut sock).await.is_some() {
                    seen.fetch_add(1, Ordering::SeqCst);
                    if answered {
                        return; // close without a response
                    }
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await;
                    answered = true;
                }
            });
        }
    });
    (addr, requests)
}

fn test_config() -> Arc<HttpConfig> {
    Arc::new(HttpConfig::new(&HttpSettings::default()).unwrap())
}

fn request(method: &str, addr: std::net::SocketAddr) -> Outgoing {
    Outgoing {
        method: method.into(),
        url: format!("http://{addr}/"),
        headers: Vec::new(),
        body: None,
        timeout: Duration::from_secs(10),
        keep_body: true,
        cookies: Vec::new(),
    }
}

#[test]
fn bodies_are_decoded_by_content_encoding() {
    use std::io::Write;
    let text = b"hello hello hello".to_vec();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text).unwrap();
    let gz = gz.finish().unwrap();
    let enc = |v: &str| -> Headers { [("Content-Encoding", v)].into_iter().collect() };
    assert_eq!(
        decode_body(&enc("gzip"), gz.clone(), 1 << 20).unwrap(),
        text
    );
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&gz).unwrap();
    let z = z.finish().unwrap();
    assert_eq!(
        decode_body(&enc("gzip, deflate"), z, 1 << 20).unwrap(),
        text,
        "applied in order, undone in reverse"
    );
    assert_eq!(
        decode_body(&Headers::default(), text.clone(), 1 << 20).unwrap(),
        text
    );
    assert_eq!(decode_body(&enc("gzip"), gz, 4).unwrap_err().code(), 1000);
    assert!(decode_body(&enc("gzip"), b"not gzip".to_vec(), 1 << 20).is_err());
}

#[test]
fn request_bodies_compress_and_decode_back() {
    let mut req = request("POST", ([127, 0, 0, 1], 80).into());
    req.body = Some(Bytes::from_static(b"volley volley volley volley"));
    compress(&mut req, "deflate, gzip").unwrap();
    let sent = ("content-encoding".to_string(), "deflate, gzip".to_string());
    assert!(req.headers.contains(&sent));
    let headers: Headers = [("content-encoding", "deflate, gzip")]
        .into_iter()
        .collect();
    let back = decode_body(&headers, req.body.clone().unwrap().to_vec(), 1 << 20).unwrap();
    assert_eq!(back, b"volley volley volley volley");
    assert!(compress(&mut req, "br")
        .unwrap_err()
        .to_string()
        .contains("'br'"));
}

#[test]
fn redirects_resolve_locations_and_methods_as_go_does() {
    let ex = |status: u16, location: &str| Exchange {
        status,
        headers: [("Location", location)].into_iter().collect(),
        body: Bytes::new(),
        timings: Timings::default(),
        proto: "HTTP/1.1",
        tls_version: None,
    };
    let mut post = request("POST", ([127, 0, 0, 1], 80).into());
    post.url = "http://a.test/x/y?q=1".into();
    post.body = Some(Bytes::from_static(b"data"));
    let next = redirect(&post, &ex(302, "z")).unwrap();
    assert_eq!(
        (next.url.as_str(), next.method.as_str()),
        ("http://a.test/x/z", "GET")
    );
    assert!(next.body.is_none());
    let next = redirect(&post, &ex(307, "/abs")).unwrap();
    assert_eq!(
        (next.url.as_str(), next.method.as_str()),
        ("http://a.test/abs", "POST")
    );
    assert!(next.body.is_some());
    let next = redirect(&post, &ex(301, "https://b.test/")).unwrap();
    assert_eq!(next.url, "https://b.test/");
    assert!(redirect(&post, &ex(200, "/x")).is_none());
}

#[tokio::test]
async fn idempotent_requests_retry_once_on_a_stale_keep_alive_connection() {
    let (addr, requests) = one_shot_server().await;
    let mut client = Client::new(test_config());
    let first = client.send(&request("GET", addr)).await.result.unwrap();
    assert_eq!(&first.body[..], b"ok");
    let second = client.send(&request("GET", addr)).await;
    let ex = second.result.expect("retried on a fresh connection");
    assert_eq!(ex.status, 200);
    assert!(ex.timings.connecting > 0.0, "the retry opened a connection");
    assert_eq!(
        requests.load(Ordering::SeqCst),
        3,
        "one failed try, one retry"
    );
}

#[tokio::test]
async fn http2_stream_resets_map_to_k6_codes() {
    // A raw HTTP/2 server that refuses every stream (RST_STREAM REFUSED_STREAM = 7).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let mut conn = h2::server::handshake(sock).await.unwrap();
        while let Some(Ok((_, mut respond))) = conn.accept().await {
            respond.send_reset(h2::Reason::REFUSED_STREAM);
        }
    });
    let settings = HttpSettings {
        h2c: true,
        ..HttpSettings::default()
    };
    let mut client = Client::new(Arc::new(HttpConfig::new(&settings).unwrap()));
    let err = client.send(&request("GET", addr)).await.result.unwrap_err();
    assert_eq!(err.code(), 1637, "{err}");
    assert!(err.to_string().contains("stream error"), "{err}");
}

#[tokio::test]
async fn non_idempotent_requests_are_not_retried() {
    let (addr, requests) = one_shot_server().await;
    let mut client = Client::new(test_config());
    client.send(&request("POST", addr)).await.result.unwrap();
    let second = client.send(&request("POST", addr)).await;
    let err = second.result.unwrap_err();
    assert_eq!(err.code(), 1220, "{err}");
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn refused_and_timeout_map_to_k6_codes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut client = Client::new(test_config());
    let refused = client
        .send(&request("GET", ([127, 0, 0, 1], port).into()))
        .await;
    assert_eq!(refused.result.unwrap_err().code(), 1212);
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut slow = request("GET", silent.local_addr().unwrap());
    slow.timeout = Duration::from_millis(200);
    assert_eq!(
        client.send(&slow).await.result.unwrap_err(),
        TransportError::Timeout
    );
    let bad = Outgoing {
        url: "ftp://x/".into(),
        ..request("GET", ([127, 0, 0, 1], port).into())
    };
    assert_eq!(client.send(&bad).await.result.unwrap_err().code(), 1020);
}

/// A request's future is moved whole on every request (wasmtime boxes a host call's future):
/// opening a connection, its largest state, is boxed so the per-request future stays small.
/// Inlining the connect path again makes this future several KB larger.
#[test]
fn a_request_future_stays_small() {
    let mut client = Client::new(test_config());
    let req = request("GET", "127.0.0.1:9".parse().unwrap());
    let fut = client.send(&req);
    let size = std::mem::size_of_val(&fut);
    println!("Client::send future: {size} bytes");
    assert!(size <= REQUEST_FUTURE_MAX, "{size} bytes");
}

/// Bound for [`a_request_future_stays_small`].
const REQUEST_FUTURE_MAX: usize = 2048;

/// A server that answers the n-th request it reads (on any connection) with `responses[n]`,
/// closing the connection after the responses marked so; counts the connections it accepts.
async fn scripted_server(
    responses: Vec<(&'static [u8], bool)>,
) -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicU64::new(0));
    let accepted = connections.clone();
    let next = Arc::new(AtomicU64::new(0));
    let responses = Arc::new(responses);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            let (next, responses) = (next.clone(), responses.clone());
            tokio::spawn(async move {
                while read_head(&mut sock).await.is_some() {
                    let n = next.fetch_add(1, Ordering::SeqCst) as usize;
                    let Some(&(response, close)) = responses.get(n) else {
                        return;
                    };
                    let _ = sock.write_all(response).await;
                    if close {
                        return;
                    }
                }
            });
        }
    });
    (addr, connections)
}

#[tokio::test]
async fn http1_responses_end_by_length_chunks_or_close() {
    let (addr, connections) = scripted_server(vec![
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none", false),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\ntwo\r\n6\r\n chunk\r\n0\r\nX-Trailer: t\r\n\r\n",
            false,
        ),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil close", true),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", false),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nlast", true),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh", false),
    ])
    .await;
    let mut client = Client::new(test_config());
    let mut bodies = Vec::new();
    for _ in 0..6 {
        let ex = client.send(&request("GET", addr)).await.result.unwrap();
        bodies.push((ex.status, String::from_utf8(ex.body.to_vec()).unwrap()));
    }
    let expected = [
        (200, "one"),
        (200, "two chunk"),
        (200, "until close"),
        (204, ""),
        (200, "last"),
        (200, "fresh"),
    ];
    let expected: Vec<_> = expected.iter().map(|&(s, b)| (s, b.to_string())).collect();
    assert_eq!(bodies, expected);
    // One connection for the first three (length, chunks, then read to its close), one for the
    // 204 (whose stated length is no body) and the `Connection: close`, one for the last.
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_truncated_http1_response_fails_with_1220() {
    let (addr, _) = scripted_server(vec![(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        true,
    )])
    .await;
    let mut client = Client::new(test_config());
    let err = client
        .send(&request("POST", addr))
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), 1220, "{err}");
}

/// A server that reads one request whole (head and `Content-Length` body), answers with a
/// `size`-byte body, and sends back what it read of the request in `got`.
async fn echo_length_server(
    size: usize,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Receiver<Vec<u8>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut got = read_head(&mut sock).await.unwrap();
        let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        let body_len = end + 4 + len;
        let mut buf = vec![0u8; 64 << 10];
        while got.len() < body_len {
            let n = sock.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(&vec![b'z'; size]).await.unwrap();
        let _ = tx.send(got);
    });
    (addr, rx)
}

#[tokio::test]
async fn large_http1_bodies_go_whole_both_ways() {
    let (addr, got) = echo_length_server(1 << 20).await;
    let mut client = Client::new(test_config());
    let mut req = request("PUT", addr);
    req.body = Some(Bytes::from(vec![b'a'; 100_000]));
    let outcome = client.send(&req).await;
    let ex = outcome.result.unwrap();
    assert_eq!(ex.body.len(), 1 << 20);
    assert!(ex.body.iter().all(|&b| b == b'z'));
    assert!(outcome.bytes_received > 1 << 20);
    let got = got.await.unwrap();
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&got[..head_end]);
    assert!(head.starts_with("PUT / HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("Content-Length: 100000\r\n"), "{head}");
    assert_eq!(&got[head_end..], &vec![b'a'; 100_000][..]);
    assert_eq!(outcome.bytes_sent as usize, got.len());
}

#[tokio::test]
async fn a_discarded_http1_body_is_read_but_not_kept() {
    let (addr, _) = echo_length_server(300_000).await;
    let mut client = Client::new(test_config());
    let mut req = request("GET", addr);
    req.keep_body = false;
    let outcome = client.send(&req).await;
    assert!(outcome.result.unwrap().body.is_empty());
    assert!(outcome.bytes_received > 300_000);
}

#[tokio::test]
async fn a_kept_http1_body_past_the_limit_fails() {
    let (addr, _) = echo_length_server(5_000).await;
    let config = HttpConfig {
        max_body_bytes: 4_096,
        ..HttpConfig::new(&HttpSettings::default()).unwrap()
    };
    let mut client = Client::new(Arc::new(config));
    let err = client.send(&request("GET", addr)).await.result.unwrap_err();
    assert!(err.to_string().contains("4096"), "{err}");
}
