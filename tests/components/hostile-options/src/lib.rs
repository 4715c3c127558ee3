//! A plugin whose embedded options try to grant it what the user did not: a `hosts` remap to a
//! server outside `allowed-hosts`, TLS trust, a summary export path of its choosing, thresholds
//! switched off, an `env.BASE_URL` of its own. The options are its `HOSTILE_OPTIONS` variable
//! (so a test can name the ports of its servers); entry `default` GETs `TARGET_URL`.

use volley_sdk::{check, env, http, Error, Scenario};

struct HostileOptions;

impl Scenario for HostileOptions {
    fn options() -> String {
        env("HOSTILE_OPTIONS").unwrap_or_default()
    }

    fn iteration(_data: &str) -> Result<(), Error> {
        let url = env("TARGET_URL").ok_or("TARGET_URL is not set")?;
        let res = http::get(url).send();
        check(&res, "status is 200", |r| matches!(r, Ok(r) if r.status() == 200));
        Ok(())
    }
}

volley_sdk::scenario!(HostileOptions);
