//! Test scenario whose behaviour is chosen with `-e` variables:
//! `BASE_URL` (required), `REQ_PATH` (default `/`), `REQUESTS` per iteration (default 1),
//! `SLEEP_MS` after the requests (default 0), `TRAP_ON_ITER` (trap on that iteration number of
//! each VU), `FAIL_ON_ITER` (return an error on that iteration number), `LOG_EVERY_ITER`.
//! Entry point `alt` (k6's `exec`) sends one GET to `/alt`. `CUSTOM_METRICS` records
//! `probe_requests` (counter), `probe_ok` (rate), `probe_vu` (gauge), `probe_duration` (time trend).
//! `GROUPS` sends the requests inside groups `outer` > `inner`. `BATCH=N` sends N GETs with
//! `http::batch` instead of `REQUESTS`. Per-request params: `REDIRECTS=N`, `EXPECT=STATUS`,
//! `COOKIE=name=value`.

use std::time::Duration;

use volley_sdk::metrics::{Counter, Gauge, Rate, Trend};
use volley_sdk::{check, env, group, http, log, sleep, vu, Error, Scenario};

struct Probe;

fn number(name: &str) -> Option<u64> {
    env(name).and_then(|v| v.parse().ok())
}

impl Scenario for Probe {
    fn setup() -> Result<String, Error> {
        Ok("ready".into())
    }

    fn iteration(data: &str) -> Result<(), Error> {
        let iter = vu::iteration();
        if number("TRAP_ON_ITER") == Some(iter) {
            panic!("deliberate trap on iteration {iter}");
        }
        if number("FAIL_ON_ITER") == Some(iter) {
            return Err(format!("deliberate failure on iteration {iter}").into());
        }
        if env("LOG_EVERY_ITER").is_some() {
            println!("vu {} iteration {iter}", vu::id());
        }
        check(data, "setup data arrived", |d| d == "ready");
        let base = env("BASE_URL").ok_or("BASE_URL is not set")?;
        let path = env("REQ_PATH").unwrap_or_else(|| "/".into());
        let requests = || -> Result<(), Error> {
            if let Some(n) = number("BATCH") {
                let list = (0..n).map(|_| http::get(format!("{base}{path}"))).collect();
                for res in http::batch(list) {
                    check(
                        &res,
                        "status is 200",
                        |r| matches!(r, Ok(r) if r.status() == 200),
                    );
                }
                return Ok(());
            }
            for _ in 0..number("REQUESTS").unwrap_or(1) {
                let mut req = http::get(format!("{base}{path}"));
                if let Some(n) = number("REDIRECTS") {
                    req = req.redirects(n as u32);
                }
                if let Some(status) = number("EXPECT") {
                    req = req.expect_statuses(status as u16, status as u16);
                }
                if let Some((name, value)) =
                    env("COOKIE").as_deref().and_then(|c| c.split_once('='))
                {
                    req = req.cookie(name, value);
                }
                let res = req.send();
                let ok = check(
                    &res,
                    "status is 200",
                    |r| matches!(r, Ok(r) if r.status() == 200),
                );
                if env("CUSTOM_METRICS").is_some() {
                    Counter::new("probe_requests").add_tagged(1.0, &[("kind", "get")])?;
                    Rate::new("probe_ok").add(ok)?;
                    Gauge::new("probe_vu").add(f64::from(vu::id()))?;
                    if let Ok(r) = &res {
                        Trend::time("probe_duration").add(r.timings().duration)?;
                    }
                }
            }
            Ok(())
        };
        if env("GROUPS").is_some() {
            group("outer", || group("inner", requests))?;
        } else {
            requests()?;
        }
        if let Some(ms) = number("SLEEP_MS") {
            sleep(Duration::from_millis(ms));
        }
        Ok(())
    }

    /// Entry point `alt` (scenarios with `exec = "alt"`): one GET of `${BASE_URL}/alt`.
    fn exec(name: &str, _data: &str) -> Result<(), Error> {
        if name != "alt" {
            return Err(format!("probe has no entry point '{name}'").into());
        }
        let base = env("BASE_URL").ok_or("BASE_URL is not set")?;
        let res = http::get(format!("{base}/alt")).send();
        check(
            &res,
            "alt status is 200",
            |r| matches!(r, Ok(r) if r.status() == 200),
        );
        Ok(())
    }

    fn teardown(data: &str) -> Result<(), Error> {
        log::info(&format!("teardown with {data}"));
        Ok(())
    }
}

volley_sdk::scenario!(Probe);
