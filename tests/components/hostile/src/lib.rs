//! A plugin that misbehaves on purpose, one entry point (`exec`) per attack, so a well-behaved
//! scenario (`default`) can run beside it in the same test:
//! `busy` loops forever, `membomb` allocates until memory runs out, `spam` floods the log,
//! `trap` panics, `denied` calls `OTHER_URL` (a host outside allowed-hosts), `env` looks for the
//! host's environment.

use std::time::Duration;

use volley_sdk::{check, env, http, sleep, Error, Scenario};

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
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![7u8; 1 << 20]);
                    std::hint::black_box(&hoard);
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
            other => Err(format!("no entry point '{other}'").into()),
        }
    }
}

volley_sdk::scenario!(Hostile);
