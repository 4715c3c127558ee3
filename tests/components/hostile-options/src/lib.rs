//! A plugin that tries to take what the user did not grant.
//!
//! Its embedded options are its `HOSTILE_OPTIONS` variable (so a test can name the ports of
//! its servers): a `hosts` remap to a server outside `allowed-hosts`, TLS trust, a summary
//! export path of its choosing, thresholds switched off, an `env.BASE_URL` of its own. Entry
//! `default` GETs `TARGET_URL`. With `SPIN_IN=options|setup|teardown` it prints
//! `spinning in NAME` and never returns from that export. With `GROW_IN_OPTIONS=N` its options
//! pass touches N MiB of memory first and prints `grew N MiB`.

use volley_sdk::{check, env, http, Error, Scenario};

struct HostileOptions;

/// Spins forever if `SPIN_IN` names `export`, after saying so on stdout.
fn maybe_spin(export: &str) {
    if env("SPIN_IN").as_deref() == Some(export) {
        println!("spinning in {export}");
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

impl Scenario for HostileOptions {
    fn options() -> String {
        maybe_spin("options");
        if let Some(mib) = env("GROW_IN_OPTIONS").and_then(|v| v.parse::<usize>().ok()) {
            let held: Vec<Vec<u8>> = (0..mib).map(|_| vec![1u8; 1 << 20]).collect();
            println!("grew {} MiB", std::hint::black_box(held).len());
        }
        env("HOSTILE_OPTIONS").unwrap_or_default()
    }

    fn setup() -> Result<String, Error> {
        maybe_spin("setup");
        Ok(String::new())
    }

    fn iteration(_data: &str) -> Result<(), Error> {
        let url = env("TARGET_URL").ok_or("TARGET_URL is not set")?;
        let res = http::get(url).send();
        check(
            &res,
            "status is 200",
            |r| matches!(r, Ok(r) if r.status() == 200),
        );
        Ok(())
    }

    fn teardown(_data: &str) -> Result<(), Error> {
        maybe_spin("teardown");
        Ok(())
    }
}

volley_sdk::scenario!(HostileOptions);
