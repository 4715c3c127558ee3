//! Test scenario for gRPC against `test-servers`' greeter (`hello.proto`, embedded). Variables:
//! `GRPC_TARGET` (`host:port`, required), `TLS` (connect over TLS instead of h2c), `MODE`:
//! - `unary` (default): `CALLS` (default 1) `SayHello` calls with `NAME` (default `volley`),
//!   metadata `x-volley-test: META` when set, checking the reply's JSON and the echoed header;
//! - `notfound`: one `SayHello` for `nobody`, checking status 5 and the trailer;
//! - `stream`: one `LotsOfReplies` of `COUNT` (default 3) messages, `DELAY_MS` apart, deadline
//!   `TIMEOUT_MS` when set; checks the count unless a deadline is set;
//! - `wrong-kind`: `invoke` on the streaming method (an error).
//!
//! `BAD_PROTO` loads an invalid `bad.proto` beside the real one instead. A connect or load
//! failure fails the iteration with `connect failed (CODE): ...` / `load failed: ...`.
//! `CLOSE` closes the connection at the end of each iteration. `TAG` adds tag `kind:TAG`.

use std::cell::RefCell;
use std::time::Duration;

use volley_sdk::grpc::{self, Client, Status};
use volley_sdk::{check, env, Error, Scenario};

const HELLO: &str = include_str!("../../../servers/proto/hello.proto");

const BAD: &str = "syntax = \"proto3\";\npackage bad;\nmessage M {\n  strin name = 1;\n}\n";

thread_local! {
    static CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
}

fn number(name: &str) -> Option<u64> {
    env(name).and_then(|v| v.parse().ok())
}

/// The VU's client, loaded and connected on first use (k6: `load` in init, `connect` once).
fn with_client<T>(f: impl FnOnce(&Client) -> Result<T, Error>) -> Result<T, Error> {
    CLIENT.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let protos: Vec<(&str, &str)> = if env("BAD_PROTO").is_some() {
                vec![("hello.proto", HELLO), ("bad.proto", BAD)]
            } else {
                vec![("hello.proto", HELLO)]
            };
            let client = Client::load(&protos).map_err(|e| format!("load failed: {e}"))?;
            let target = env("GRPC_TARGET").ok_or("GRPC_TARGET is not set")?;
            let params = if env("TLS").is_some() {
                grpc::tls()
            } else {
                grpc::plaintext()
            };
            client
                .connect(&target, params.timeout(Duration::from_secs(5)))
                .map_err(|e| format!("connect failed ({}): {e}", e.code()))?;
            *slot = Some(client);
        }
        let client = slot.as_ref().expect("set above");
        let out = f(client);
        if env("CLOSE").is_some() {
            client.close();
            *slot = None;
        }
        out
    })
}

struct GrpcProbe;

impl Scenario for GrpcProbe {
    fn iteration(_data: &str) -> Result<(), Error> {
        let mode = env("MODE").unwrap_or_else(|| "unary".into());
        with_client(|client| match mode.as_str() {
            "unary" => unary(client),
            "notfound" => not_found(client),
            "stream" => stream(client),
            "wrong-kind" => {
                let r = client.invoke("hello.Greeter/LotsOfReplies", "{}").send();
                Err(format!(
                    "wrong kind: {}",
                    r.err().map(|e| e.to_string()).unwrap_or_default()
                )
                .into())
            }
            other => Err(format!("unknown MODE {other}").into()),
        })
    }
}

fn tagged(call: grpc::Call<'_>) -> grpc::Call<'_> {
    match env("TAG") {
        Some(t) => call.tag("kind", &t),
        None => call,
    }
}

fn unary(client: &Client) -> Result<(), Error> {
    let name = env("NAME").unwrap_or_else(|| "volley".into());
    let meta = env("META");
    for _ in 0..number("CALLS").unwrap_or(1) {
        let mut call = client.invoke("hello.Greeter/SayHello", format!(r#"{{"name":"{name}"}}"#));
        if let Some(m) = &meta {
            call = call.metadata("x-volley-test", m);
        }
        let res = tagged(call).send()?;
        check(&res, "status is OK", |r| r.status() == Status::OK);
        let json = res.message().unwrap_or_default();
        check(json, "reply greets by name", |j| {
            j.contains(&format!(r#""message":"Hello {name}""#))
        });
        // Canonical proto3 JSON as k6 gives it: defaults included, Timestamp as RFC 3339.
        check(json, "reply is canonical JSON", |j| {
            j.contains(r#""index":0"#)
                && j.contains(r#""at":"20"#)
                && j.contains(r#""tags":["greeting"]"#)
        });
        if let Some(m) = &meta {
            check(&res, "metadata echoed", |r| {
                r.header("x-volley-test") == Some(m.as_str())
            });
        }
    }
    Ok(())
}

fn not_found(client: &Client) -> Result<(), Error> {
    let res = tagged(client.invoke("hello.Greeter/SayHello", r#"{"name":"nobody"}"#)).send()?;
    check(&res, "status is NOT_FOUND", |r| {
        r.status() == Status::NOT_FOUND
    });
    check(&res, "status message", |r| {
        r.status_message() == "no such person: nobody"
    });
    check(&res, "trailer reason", |r| {
        r.trailer("x-volley-reason") == Some("unknown-name")
    });
    check(&res, "no message", |r| r.message().is_none());
    Ok(())
}

fn stream(client: &Client) -> Result<(), Error> {
    let count = number("COUNT").unwrap_or(3);
    let delay = number("DELAY_MS").unwrap_or(0);
    let request = format!(r#"{{"name":"s","count":{count},"delayMs":{delay}}}"#);
    let mut call = tagged(client.server_stream("hello.Greeter/LotsOfReplies", request));
    let deadline = number("TIMEOUT_MS");
    if let Some(ms) = deadline {
        call = call.timeout(Duration::from_millis(ms));
    }
    let res = call.send()?;
    if deadline.is_some() {
        check(&res, "deadline exceeded", |r| {
            r.status() == Status::DEADLINE_EXCEEDED
        });
        check(&res, "some messages before the deadline", |r| {
            (1..count as usize).contains(&r.messages().len())
        });
        return Ok(());
    }
    check(&res, "stream status is OK", |r| r.status() == Status::OK);
    check(&res, "every message arrived", |r| {
        r.messages().len() as u64 == count
    });
    check(&res, "messages in order", |r| {
        r.messages()
            .iter()
            .enumerate()
            .all(|(i, m)| m.contains(&format!(r#""index":{}"#, i + 1)))
    });
    Ok(())
}

volley_sdk::scenario!(GrpcProbe);
