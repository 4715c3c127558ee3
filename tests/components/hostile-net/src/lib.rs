//! A plugin that attacks the host's memory and CPU through the network imports, one entry point
//! (`exec`) per attack; each records whether the host refused it as documented:
//! `ws-flood` has `WS_URL/echo` answer `FLOOD` 64 KiB messages while it pings; `ws-hoard` and
//! `grpc-hoard` leak sessions and clients; `grpc-flood` asks `GRPC_TARGET` for `COUNT` streamed
//! replies; `proto-churn` compiles ever new `.proto` sets; `batch-long` and `batch-hoard` send
//! batches to `BASE_URL`; `compress` piles up compression stages and compresses for a denied host;
//! `debug` sends and fetches bodies full of terminal escapes.

use std::time::Duration;

use volley_sdk::metrics::Counter;
use volley_sdk::{check, env, grpc, http, websocket, Error, NetError, Scenario};

struct HostileNet;

/// The greeter of `tests/servers` (fields the host does not need left out).
const HELLO: &str = r#"syntax = "proto3";
package hello;
service Greeter {
  rpc SayHello (HelloRequest) returns (HelloReply);
  rpc LotsOfReplies (HelloRequest) returns (stream HelloReply);
}
message HelloRequest { string name = 1; int32 count = 2; int32 delay_ms = 3; }
message HelloReply { string message = 1; int32 index = 2; }
"#;

fn var(name: &str) -> Result<String, Error> {
    Ok(env(name).ok_or(format!("{name} is not set"))?)
}

fn number(name: &str) -> Result<usize, Error> {
    Ok(var(name)?.parse()?)
}

/// Whether `e` is a refusal whose message contains `text`.
fn refused(e: &Option<NetError>, text: &str) -> bool {
    matches!(e, Some(e) if e.code() == 1000 && e.message().contains(text))
}

/// Sends `FLOOD` 64 KiB messages to the echo server, pinging after every 16: the echoes arrive
/// before each pong and queue in the host. Stops at the first failed ping.
fn ws_flood() -> Result<(), Error> {
    let session = websocket::connect(format!("{}/echo", var("WS_URL")?)).open()?;
    let chunk = vec![7u8; 64 << 10];
    let mut failed = None;
    for i in 1..=number("FLOOD")? {
        session.send_binary(&chunk)?;
        if i % 16 == 0 {
            if let Err(e) = session.ping(Duration::from_secs(30)) {
                failed = Some(e);
                break;
            }
        }
    }
    check(&failed, "ping refused past the queue cap", |e| {
        refused(e, "receive them before pinging again")
    });
    Ok(())
}

/// Opens echo sessions and never closes them, until refused (or 1,000).
fn ws_hoard() -> Result<(), Error> {
    let url = format!("{}/echo", var("WS_URL")?);
    let mut opened = 0u32;
    let refusal = loop {
        match websocket::connect(url.clone()).open() {
            Ok(s) => std::mem::forget(s),
            Err(e) => break Some(e),
        }
        opened += 1;
        if opened == 1_000 {
            break None;
        }
    };
    Counter::new("ws_hoard_opened").add(f64::from(opened))?;
    check(&refusal, "sessions refused past the per-VU cap", |e| {
        refused(e, "too many open WebSocket sessions")
    });
    Ok(())
}

/// Loads clients and never drops them, until refused (or 1,000).
fn grpc_hoard() -> Result<(), Error> {
    let mut loaded = 0u32;
    let refusal = loop {
        match grpc::Client::load(&[("hello.proto", HELLO)]) {
            Ok(c) => std::mem::forget(c),
            Err(e) => break Some(e),
        }
        loaded += 1;
        if loaded == 1_000 {
            break None;
        }
    };
    Counter::new("grpc_hoard_loaded").add(f64::from(loaded))?;
    check(&refusal, "clients refused past the per-VU cap", |e| {
        refused(e, "too many open gRPC clients")
    });
    Ok(())
}

/// One server stream of `COUNT` replies.
fn grpc_flood() -> Result<(), Error> {
    let client = grpc::Client::load(&[("hello.proto", HELLO)])?;
    client.connect(&var("GRPC_TARGET")?, grpc::plaintext())?;
    let count = number("COUNT")?;
    let request = format!(r#"{{"name":"flood","count":{count}}}"#);
    let res = client
        .server_stream("hello.Greeter/LotsOfReplies", request)
        .timeout(Duration::from_secs(60))
        .send()?;
    Counter::new("grpc_flood_kept").add(res.messages().len() as f64)?;
    check(&res, "stream cut at the message cap", |r| {
        r.status().0 == 8 && r.status_message().contains("response messages in one call")
    });
    Ok(())
}

/// Loads ever new `.proto` sets (each dropped at once), until refused (or 200); then one set
/// larger than a load compiles.
fn proto_churn() -> Result<(), Error> {
    let mut compiled = 0u32;
    let refusal = loop {
        let source = HELLO.replace("package hello;", &format!("package churn{compiled};"));
        match grpc::Client::load(&[("churn.proto", source.as_str())]) {
            Ok(c) => drop(c),
            Err(e) => break Some(e),
        }
        compiled += 1;
        if compiled == 200 {
            break None;
        }
    };
    Counter::new("proto_sets_compiled").add(f64::from(compiled))?;
    check(
        &refusal,
        "distinct sets refused past the per-run cap",
        |e| refused(e, "distinct .proto sets compiled"),
    );
    let huge = format!("{HELLO}//{}\n", "x".repeat(2 << 20));
    let big = grpc::Client::load(&[("huge.proto", huge.as_str())]).err();
    check(&big, "oversized sources refused", |e| {
        refused(e, "bytes of .proto sources")
    });
    Ok(())
}

/// `n` GETs of `BASE_URL` + `path`, keeping their bodies.
fn gets(n: usize, path: &str) -> Result<Vec<http::Request>, Error> {
    let url = format!("{}{path}", var("BASE_URL")?);
    Ok((0..n).map(|_| http::get(url.clone()).keep_body()).collect())
}

/// A batch one request longer than the cap.
fn batch_long() -> Result<(), Error> {
    let results = http::batch(gets(1_001, "/")?);
    let all_refused = results.len() == 1_001
        && results.iter().all(
            |r| matches!(r, Err(e) if e.code() == 1000 && e.message().contains("at most 1000")),
        );
    check(&all_refused, "long batch refused", |v| *v);
    Ok(())
}

/// `COUNT` GETs of the 1 MiB `/files/big` in one batch.
fn batch_hoard() -> Result<(), Error> {
    let results = http::batch(gets(number("COUNT")?, "/files/big")?);
    let kept = results.iter().filter(|r| r.is_ok()).count();
    let over = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e.message().contains("would hold more than")))
        .count();
    Counter::new("batch_bodies_kept").add(kept as f64)?;
    check(&over, "responses past the batch's bytes refused", |n| {
        *n > 0
    });
    Ok(())
}

/// Three compression stages; then 32 MiB of noise compressed twice for a host outside
/// `allowed-hosts` (`OTHER_URL`), timed.
fn compress() -> Result<(), Error> {
    let base = var("BASE_URL")?;
    let piled = http::post(format!("{base}/"))
        .body("volley")
        .compression("gzip, deflate, gzip")
        .send()
        .err();
    check(&piled, "three stages refused", |e| {
        refused(e, "3 stages, at most 2")
    });
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..32 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let start = volley_sdk::elapsed();
    let denied = http::post(format!("{}/", var("OTHER_URL")?))
        .body(noise)
        .compression("gzip, deflate")
        .send()
        .err();
    let ms = (volley_sdk::elapsed() - start).as_secs_f64() * 1000.0;
    Counter::new("denied_compress_ms").add(ms)?;
    check(
        &denied,
        "denied request refused",
        |e| matches!(e, Some(e) if e.is_denied()),
    );
    Ok(())
}

/// A request body and a kept response body (`/files/evil`) full of terminal escapes, for
/// `--http-debug=full`.
fn debug() -> Result<(), Error> {
    let base = var("BASE_URL")?;
    let mut body = b"\x1b]0;sent\x07".to_vec();
    body.extend(std::iter::repeat_n(b'v', 1 << 20));
    let sent = http::post(format!("{base}/")).body(body).send();
    let got = http::get(format!("{base}/files/evil")).keep_body().send();
    check(
        &(sent.is_ok() && got.is_ok()),
        "debugged requests succeed",
        |v| *v,
    );
    Ok(())
}

impl Scenario for HostileNet {
    fn iteration(_data: &str) -> Result<(), Error> {
        Ok(())
    }

    fn exec(name: &str, _data: &str) -> Result<(), Error> {
        match name {
            "ws-flood" => ws_flood(),
            "ws-hoard" => ws_hoard(),
            "grpc-hoard" => grpc_hoard(),
            "grpc-flood" => grpc_flood(),
            "proto-churn" => proto_churn(),
            "batch-long" => batch_long(),
            "batch-hoard" => batch_hoard(),
            "compress" => compress(),
            "debug" => debug(),
            other => Err(format!("no entry point '{other}'").into()),
        }
    }
}

volley_sdk::scenario!(HostileNet);
