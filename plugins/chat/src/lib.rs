//! A WebSocket chat scenario (the counterpart of k6's `k6/ws` chat examples): every iteration
//! joins a room, says `MESSAGES` lines, reads the room until its own lines came back, pings,
//! and leaves. Against an echo endpoint (`MODE=echo`) it also sends a binary message.
//!
//! Variables (`-e NAME=VALUE`): `WS_URL` (required, e.g. `ws://127.0.0.1:8080`), `MODE`
//! (`chat` or `echo`, default `chat`), `ROOM` (default `lobby`), `MESSAGES` (default 5),
//! `HEADER` (sent as `x-volley-test`), `BYE=1` (ask the server to close the session),
//! `PLAIN=1` (text lines only: no binary message, no ping; for benchmarks), `PAUSE_MS` (sleep
//! after each iteration, default 0).

use std::time::Duration;

use volley_sdk::websocket::{self, Message, Session};
use volley_sdk::{check, env, sleep, vu, Error, Scenario};

/// How long to wait for one message before giving up on the rest.
const WAIT: Duration = Duration::from_secs(5);

struct Chat;

impl Scenario for Chat {
    const OPTIONS: &'static str = r#"
        vus = 10
        duration = "30s"
        [thresholds]
        ws_connecting = ["p(95)<1000"]
        checks = ["rate>0.99"]
    "#;

    fn iteration(_data: &str) -> Result<(), Error> {
        let base = env("WS_URL").ok_or("WS_URL is not set (e.g. -e WS_URL=ws://127.0.0.1:8080)")?;
        let echo = env("MODE").as_deref() == Some("echo");
        let room = env("ROOM").unwrap_or_else(|| "lobby".into());
        let messages: usize = number("MESSAGES", 5)?;
        let (path, subprotocol) = if echo {
            ("/echo".to_string(), "echo.v1")
        } else {
            (format!("/chat/{room}"), "chat.v1")
        };
        let mut open = websocket::connect(format!("{base}{path}"))
            .subprotocol("v0.unknown")
            .subprotocol(subprotocol)
            .tag("room", &room);
        if let Some(h) = env("HEADER") {
            open = open.header("x-volley-test", &h);
        }
        let session = open.open()?;
        check(&session.protocol(), "subprotocol agreed", |p| {
            p == subprotocol
        });

        let me = vu::id();
        for i in 0..messages {
            session.send(&format!("line {i} from VU {me}"))?;
        }
        let mine = read_own_lines(&session, me, messages, echo)?;
        check(&mine, "every line came back", |n| *n == messages);

        let plain = env("PLAIN").as_deref() == Some("1");
        if echo && !plain {
            session.send_binary(&[0, 1, 2, 254, 255])?;
            let back = session.receive(WAIT)?;
            check(&back, "binary echoed", |m| {
                *m == Some(Message::Binary(vec![0, 1, 2, 254, 255]))
            });
        }
        if !plain {
            let rtt = session.ping(WAIT)?;
            check(&rtt, "pong within a second", |d| {
                *d < Duration::from_secs(1)
            });
        }

        if env("BYE").as_deref() == Some("1") {
            session.send("bye")?;
            // Others' lines may still arrive before the close frame.
            let last = loop {
                match session.receive(WAIT)? {
                    Some(Message::Text(_) | Message::Binary(_)) => continue,
                    other => break other,
                }
            };
            check(&last, "server said goodbye with 4000", |m| {
                matches!(m, Some(Message::Close { code: 4000, .. }))
            });
        } else {
            session.close()?;
        }
        let pause = number("PAUSE_MS", 0)?;
        if pause > 0 {
            sleep(Duration::from_millis(pause as u64));
        }
        Ok(())
    }
}

/// Reads until `expected` of this VU's own lines came back (the room relays everyone's as
/// `N: text`; an echo returns them as sent). Returns how many did.
fn read_own_lines(session: &Session, me: u32, expected: usize, echo: bool) -> Result<usize, Error> {
    let suffix = format!("from VU {me}");
    let mut mine = 0;
    while mine < expected {
        match session.receive(WAIT)? {
            Some(Message::Text(t)) if t.ends_with(&suffix) && (echo || t.contains(": line ")) => {
                mine += 1
            }
            Some(Message::Text(_)) | Some(Message::Binary(_)) => {}
            Some(Message::Close { code, reason }) => {
                return Err(format!("server closed the session: {code} {reason}").into())
            }
            None => break,
        }
    }
    Ok(mine)
}

fn number(name: &str, default: usize) -> Result<usize, Error> {
    match env(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| Error::from(format!("{name}={v} is not a number"))),
    }
}

volley_sdk::scenario!(Chat);
