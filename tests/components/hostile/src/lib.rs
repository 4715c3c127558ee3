//! A plugin that misbehaves on purpose, one entry point (`exec`) per attack, so a well-behaved
//! scenario (`default`) can run beside it in the same test:
//! `busy` loops forever, `membomb` allocates until memory runs out (recording the MiB it holds in Trend `membomb_mib`), `spam` floods the log,
//! `trap` panics, `denied` calls `OTHER_URL` (a host outside allowed-hosts), `env` looks for the
//! host's environment, `tcp-hoard` opens TCP connections to `TCP_ADDR` and never closes them.

use std::time::Duration;

use volley_sdk::metrics::{Counter, Trend};
use volley_sdk::{check, env, http, sleep, tcp, Error, Scenario};

struct Hostile;

impl Scenario for Hostile {
    /// Well-behaved: one GET of `BASE_URL`, then `SLEEP_MS`.
    fn iteration(_data: &str) -> Result<(), Error> {
        let base = env("BASE_URL").ok_or("BASE_URL is not set")?;
        let res = http::get(format!("{base}/")).send();
        check(
            &res,
            "good status is 200",
            |r| matches!(r, Ok(r) if r.status() == 200),
        );
        if let Some(ms) = env("SLEEP_MS").and_then(|v| v.parse().ok()) {
            sleep(Duration::from_millis(ms));
        }
        Ok(())
    }

    fn exec(name: &str, _data: &str) -> Result<(), Error> {
        match name {
            "busy" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "membomb" => {
                // Reports how many MiB it holds after each chunk, so a test can see where the
                // cap stopped it.
                let held = Trend::new("membomb_mib");
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![7u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                    held.add(hoard.len() as f64)?;
                }
            }
            "spam" => {
                for i in 0..1000 {
                    println!("spam line {i}");
                }
                Ok(())
            }
            "trap" => panic!("hostile trap"),
            "denied" => {
                let other = env("OTHER_URL").ok_or("OTHER_URL is not set")?;
                let res = http::get(format!("{other}/")).send();
                check(
                    &res,
                    "other host denied",
                    |r| matches!(r, Err(e) if e.code() == 1400),
                );
                Ok(())
            }
            "env" => {
                let invisible = std::env::vars().next().is_none() && std::env::var("HOME").is_err();
                check(&invisible, "host env invisible", |v| *v);
                Ok(())
            }
            "tcp-hoard" => {
                let addr = env("TCP_ADDR").ok_or("TCP_ADDR is not set")?;
                let (host, port) = addr.rsplit_once(':').ok_or("TCP_ADDR is not host:port")?;
                let port: u16 = port.parse()?;
                let mut opened = 0u32;
                let refusal = loop {
                    match tcp::connect(host, port).open() {
                        // Leaked: the handle stays in the host's table for the instance's life.
                        Ok(conn) => std::mem::forget(conn),
                        Err(e) => break Some(e),
                    }
                    opened += 1;
                    if opened == 10_000 {
                        break None;
                    }
                };
                Counter::new("tcp_hoard_opened").add(f64::from(opened))?;
                check(&refusal, "refused past the per-VU cap", |e| {
                    matches!(e, Some(e) if e.code() == 1000
                        && e.to_string().contains("too many open TCP connections"))
                });
                Ok(())
            }
            other => Err(format!("no entry point '{other}'").into()),
        }
    }
}

volley_sdk::scenario!(Hostile);
