//! The Monte Carlo scenario: the k6 experiment Volley grew from.
//!
//! Every VU sends `GET ${BASE_URL}/` to a CPU-heavy Monte Carlo endpoint, checks for a 200 and
//! sleeps 0.5 s. The embedded options ramp to 100 VUs over 2 minutes, to 400 over the next 6,
//! then down to 0 over 2, and hold p(95) latency under 2 s with under 1 % failed requests.

use std::time::Duration;

use volley_sdk::{check, env, http, sleep, Error, Scenario};

struct MonteCarlo;

impl Scenario for MonteCarlo {
    const OPTIONS: &'static str = r#"
stages = [
  { duration = "2m", target = 100 },
  { duration = "6m", target = 400 },
  { duration = "2m", target = 0 },
]

[thresholds]
http_req_duration = ["p(95)<2000"]
http_req_failed = ["rate<0.01"]
"#;

    fn iteration(_data: &str) -> Result<(), Error> {
        let base =
            env("BASE_URL").ok_or("BASE_URL is not set (pass -e BASE_URL=http://host:port)")?;
        let res = http::get(format!("{base}/"))
            .header("Content-Type", "application/json")
            .header("Connection", "keep-alive")
            .timeout(Duration::from_secs(60))
            .send();
        check(
            &res,
            "is status 200",
            |r| matches!(r, Ok(r) if r.status() == 200),
        );
        sleep(Duration::from_millis(500));
        Ok(())
    }
}

volley_sdk::scenario!(MonteCarlo);
