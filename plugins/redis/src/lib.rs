//! An example of a protocol client compiled into a scenario: each VU keeps one Redis connection
//! (opened through the sandboxed `tcp` capability, reused across iterations) and per iteration
//! runs `SET`/`GET` on its own key (checking the value came back), `INCR` on a shared counter,
//! and `LPUSH`/`LTRIM`/`LRANGE` on its own capped list.
//!
//! Every command records `redis_cmds` (counter), `redis_cmd_duration` (time trend, ms) and
//! `redis_errors` (rate: an error reply or a failed connection), all tagged `command`.
//!
//! Test variables: `REDIS_ADDR` (`host:port`, required), `REDIS_TLS=1` for TLS, `REDIS_PREFIX`
//! for the keys (default `volley:`). The test must allow `tcp://host:port` in
//! `[sandbox] allowed-hosts`.

mod client;
mod resp;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use volley_sdk::metrics::{Counter, Rate, Trend};
use volley_sdk::{check, env, tcp, vu, Error, Scenario};

use client::Client;
use resp::Value;

/// Items each VU's list keeps.
const LIST_LEN: usize = 10;

struct Redis;

thread_local! {
    /// This VU's connection, opened on first use and dropped after a transport failure.
    static CONN: RefCell<Option<Client<tcp::Connection>>> = const { RefCell::new(None) };
}

/// The custom metrics.
struct Metrics {
    cmds: Counter,
    duration: Trend,
    errors: Rate,
}

impl Metrics {
    fn new() -> Self {
        Metrics {
            cmds: Counter::new("redis_cmds"),
            duration: Trend::time("redis_cmd_duration"),
            errors: Rate::new("redis_errors"),
        }
    }
}

impl Scenario for Redis {
    const OPTIONS: &'static str = r#"
vus = 2
duration = "10s"

[metrics]
redis_cmds = "counter"
redis_cmd_duration = "trend-time"
redis_errors = "rate"

[thresholds]
redis_cmd_duration = ["p(95)<50"]
redis_errors = ["rate<0.01"]
checks = ["rate>0.99"]
"#;

    fn iteration(_data: &str) -> Result<(), Error> {
        let addr =
            env("REDIS_ADDR").ok_or("REDIS_ADDR is not set (pass -e REDIS_ADDR=127.0.0.1:6379)")?;
        let m = Metrics::new();
        CONN.with(|slot| {
            let mut slot = slot.borrow_mut();
            if slot.is_none() {
                match open(&addr) {
                    Ok(c) => *slot = Some(c),
                    Err(e) => {
                        m.errors.add_tagged(true, &[("command", "CONNECT")])?;
                        return Err(e);
                    }
                }
            }
            let client = slot.as_mut().expect("just opened");
            let result = commands(client, &m);
            if let Err(Failure::Transport(_)) = &result {
                // The connection is in an unknown state: the next iteration opens a new one.
                *slot = None;
            }
            result.map_err(|e| Error::from(e.to_string()))
        })
    }
}

/// Opens a connection to `host:port`.
fn open(addr: &str) -> Result<Client<tcp::Connection>, Error> {
    let (host, port) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("REDIS_ADDR {addr:?} is not host:port"))?;
    let tls = matches!(env("REDIS_TLS").as_deref(), Some("1" | "true"));
    let mut conn = tcp::connect(host, port)
        .tls(tls)
        .timeout(Duration::from_secs(5))
        .open()
        .map_err(|e| format!("connect {addr}: {e} (error code {})", e.code()))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)));
    Ok(Client::new(conn))
}

/// Why an iteration stopped.
enum Failure {
    /// The connection failed.
    Transport(String),
    /// Redis answered something unexpected.
    Reply(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transport(m) | Failure::Reply(m) => f.write_str(m),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Reply(e.into_message())
    }
}

/// One iteration's commands.
fn commands(c: &mut Client<tcp::Connection>, m: &Metrics) -> Result<(), Failure> {
    let prefix = env("REDIS_PREFIX").unwrap_or_else(|| "volley:".to_string());
    let (id, iteration) = (vu::id(), vu::iteration());
    let key = format!("{prefix}vu:{id}");
    let list = format!("{prefix}list:{id}");
    let value = format!("vu{id}-it{iteration}");

    expect_ok(run(c, m, &[b"SET", key.as_bytes(), value.as_bytes()])?)?;
    let got = run(c, m, &[b"GET", key.as_bytes()])?;
    check(&got, "GET returns what SET stored", |v| {
        *v == Value::Bulk(Some(value.clone().into_bytes()))
    });
    match run(c, m, &[b"INCR", format!("{prefix}counter").as_bytes()])? {
        Value::Integer(_) => {}
        other => return Err(Failure::Reply(format!("INCR answered {other:?}"))),
    }
    let item = format!("it{iteration}");
    run(c, m, &[b"LPUSH", list.as_bytes(), item.as_bytes()])?;
    let last = (LIST_LEN - 1).to_string();
    expect_ok(run(
        c,
        m,
        &[b"LTRIM", list.as_bytes(), b"0", last.as_bytes()],
    )?)?;
    let items = run(c, m, &[b"LRANGE", list.as_bytes(), b"0", b"-1"])?;
    check(&items, "LRANGE returns the newest item first", |v| {
        matches!(v, Value::Array(Some(items))
            if (1..=LIST_LEN).contains(&items.len())
                && items[0] == Value::Bulk(Some(item.clone().into_bytes())))
    });
    Ok(())
}

/// Runs one command, recording its metrics. An error reply fails the iteration.
fn run(c: &mut Client<tcp::Connection>, m: &Metrics, args: &[&[u8]]) -> Result<Value, Failure> {
    let name = std::str::from_utf8(args[0]).unwrap_or("?");
    let tags = [("command", name)];
    let t0 = Instant::now();
    let reply = c.command(args);
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    m.cmds.add_tagged(1.0, &tags)?;
    m.duration.add_tagged(ms, &tags)?;
    let failed = !matches!(reply, Ok(ref v) if !matches!(v, Value::Error(_)));
    m.errors.add_tagged(failed, &tags)?;
    match reply {
        Ok(Value::Error(e)) => Err(Failure::Reply(format!("{name}: {e}"))),
        Ok(v) => Ok(v),
        Err(e) => Err(Failure::Transport(format!("{name}: {e}"))),
    }
}

fn expect_ok(v: Value) -> Result<(), Failure> {
    match v {
        Value::Simple(s) if s == "OK" => Ok(()),
        other => Err(Failure::Reply(format!("expected +OK, got {other:?}"))),
    }
}

volley_sdk::scenario!(Redis);
