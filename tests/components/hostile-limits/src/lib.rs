//! A plugin that attacks the host's resources, one entry point (`exec`) per attack, each sized by
//! `COUNT` (and `BYTES` where a size matters):
//! `tags` adds `COUNT` samples to one Trend, each under a new `id` tag;
//! `groups` enters `COUNT` nested groups named with `BYTES` bytes, with a check in each;
//! `checks` records `COUNT` checks with distinct names of `BYTES` bytes;
//! `logs` writes `COUNT` lines of `BYTES` bytes each, with terminal escape sequences, to the log
//! and to stdout.

use volley_sdk::metrics::Trend;
use volley_sdk::wit::volley::scenario::group;
use volley_sdk::{check, env, log, Error, Scenario};

struct Hostile;

/// The number in variable `name`, or `default`.
fn number(name: &str, default: usize) -> usize {
    env(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A string of `bytes` bytes that starts with `i` (so each is distinct).
fn named(i: usize, bytes: usize, buf: &mut String) {
    use std::fmt::Write;
    buf.clear();
    let _ = write!(buf, "{i:08}");
    while buf.len() < bytes {
        buf.push('x');
    }
}

impl Scenario for Hostile {
    fn iteration(_data: &str) -> Result<(), Error> {
        Ok(())
    }

    fn exec(name: &str, _data: &str) -> Result<(), Error> {
        let count = number("COUNT", 100_000);
        let bytes = number("BYTES", 65_536);
        let mut buf = String::new();
        match name {
            "tags" => {
                let trend = Trend::new("hostile_trend");
                for i in 0..count {
                    let id = i.to_string();
                    trend.add_tagged((i % 1000) as f64, &[("id", &id), ("kind", "same")])?;
                }
            }
            "groups" => {
                for i in 0..count {
                    named(i, bytes, &mut buf);
                    group::enter(&buf);
                    check(&i, "inside a group", |_| true);
                }
                for _ in 0..count {
                    group::exit();
                }
            }
            "checks" => {
                for i in 0..count {
                    named(i, bytes, &mut buf);
                    check(&i, &buf, |_| true);
                }
            }
            "logs" => {
                for i in 0..count {
                    named(i, bytes, &mut buf);
                    buf.insert_str(0, "\x1b[2J\x1b]0;pwned\x07");
                    log::info(&buf);
                    println!("{buf}");
                }
            }
            other => return Err(format!("no attack {other:?}").into()),
        }
        Ok(())
    }
}

volley_sdk::scenario!(Hostile);
