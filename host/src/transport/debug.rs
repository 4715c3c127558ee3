//! `--http-debug`: each request and response on stderr, as k6 prints them.

use std::fmt::Write;

use super::{HttpDebug, Outcome, Outgoing};

/// Prints `req` and its outcome when `mode` asks for it.
pub fn print(mode: HttpDebug, req: &Outgoing, outcome: &Outcome) {
    if mode != HttpDebug::Off {
        eprintln!("{}", render(mode, req, outcome));
    }
}

fn render(mode: HttpDebug, req: &Outgoing, outcome: &Outcome) -> String {
    let mut s = format!("Request:\n{} {}\n", req.method, req.url);
    for (name, value) in &req.headers {
        let _ = writeln!(s, "{name}: {value}");
    }
    if mode == HttpDebug::Full {
        if let Some(body) = &req.body {
            let _ = write!(s, "\n{}\n", String::from_utf8_lossy(body));
        }
    }
    match &outcome.result {
        Ok(ex) => {
            let _ = write!(s, "\nResponse:\n{} {}\n", ex.proto, ex.status);
            for (name, value) in &ex.headers {
                let _ = writeln!(s, "{name}: {value}");
            }
            if mode == HttpDebug::Full && !ex.body.is_empty() {
                let _ = write!(s, "\n{}\n", String::from_utf8_lossy(&ex.body));
            }
        }
        Err(e) => {
            let _ = write!(s, "\nError (code {}): {e}\n", e.code());
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::{Exchange, Timings};
    use super::*;

    #[test]
    fn full_mode_shows_bodies_and_headers_mode_does_not() {
        let req = Outgoing {
            method: "POST".into(),
            url: "http://a.test/login".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(bytes::Bytes::from_static(b"{\"user\":1}")),
            timeout: std::time::Duration::from_secs(1),
            keep_body: true,
            cookies: Vec::new(),
        };
        let outcome = Outcome {
            result: Ok(Exchange {
                status: 201,
                headers: vec![("set-cookie".into(), "s=1".into())],
                body: bytes::Bytes::from_static(b"created"),
                timings: Timings::default(),
                proto: "HTTP/1.1",
                tls_version: None,
            }),
            bytes_sent: 0,
            bytes_received: 0,
        };
        let full = render(HttpDebug::Full, &req, &outcome);
        assert!(full
            .starts_with("Request:\nPOST http://a.test/login\ncontent-type: application/json\n"));
        assert!(
            full.contains("{\"user\":1}")
                && full.contains("\nResponse:\nHTTP/1.1 201\nset-cookie: s=1\n\ncreated")
        );
        let headers = render(HttpDebug::Headers, &req, &outcome);
        assert!(!headers.contains("created") && !headers.contains("user"));
    }
}
