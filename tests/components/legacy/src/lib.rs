//! A scenario built directly against the frozen `volley:scenario@0.1.0` WIT in `wit/` (no SDK):
//! one GET of `BASE_URL` and a check per iteration. Proves 0.1.0 components keep running.

wit_bindgen::generate!({ path: "wit", world: "scenario" });

use volley::scenario::{checks, http, vu};

struct Legacy;

impl Guest for Legacy {
    fn options() -> String {
        String::new()
    }

    fn setup() -> Result<String, String> {
        Ok(String::new())
    }

    fn iteration(_data: String) -> Result<(), String> {
        let base = vu::env("BASE_URL").ok_or("BASE_URL is not set")?;
        let res = http::send(&http::Request {
            method: "GET".into(),
            url: format!("{base}/"),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
            tags: Vec::new(),
            body_mode: http::BodyMode::Discard,
        });
        checks::check(
            "legacy status is 200",
            matches!(res, Ok(r) if r.status == 200),
        );
        Ok(())
    }

    fn teardown(_data: String) -> Result<(), String> {
        Ok(())
    }
}

export!(Legacy);
