//! `--http-debug`: each request and response on stderr, as k6 prints them, with control
//! characters escaped (a response cannot drive the terminal) and each part bounded.

use std::fmt::Write;

use super::{HttpDebug, Outcome, Outgoing};

/// Most bytes of a request or a response (its start line, headers and body) printed; the rest
/// is left out with a note of how much.
pub const MAX_DEBUG_BYTES: usize = 16 << 10;

/// Appends `text` to `out` with what could drive a terminal ([`crate::logging::drives_terminal`];
/// but newlines and tabs in bodies) escaped as `\u{..}`,
/// within `budget` bytes of the original; returns whether all of it fit.
fn push_escaped(out: &mut String, text: &str, budget: &mut usize, keep_newlines: bool) -> bool {
    for (i, c) in text.char_indices() {
        if i >= *budget {
            *budget = 0;
            let _ = write!(out, "… ({} more bytes)", text.len() - i);
            return false;
        }
        if crate::logging::drives_terminal(c) && !(keep_newlines && matches!(c, '\n' | '\t')) {
            let _ = write!(out, "{}", c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    *budget -= text.len();
    true
}

/// One bounded part (a request or a response): lines of text, appended escaped.
struct Part<'a> {
    out: &'a mut String,
    budget: usize,
}

impl Part<'_> {
    /// Appends `text` (escaped, newlines too) then a newline, while the budget lasts.
    fn line(&mut self, text: &str) {
        if self.budget > 0 && push_escaped(self.out, text, &mut self.budget, false) {
            self.out.push('\n');
        }
    }

    /// Appends a body, keeping its newlines and tabs.
    fn body(&mut self, body: &[u8]) {
        if self.budget > 0 {
            self.out.push('\n');
            push_escaped(
                self.out,
                &String::from_utf8_lossy(body),
                &mut self.budget,
                true,
            );
            self.out.push('\n');
        }
    }
}

/// Prints `req` and its outcome when `mode` asks for it.
pub fn print(mode: HttpDebug, req: &Outgoing, outcome: &Outcome) {
    if mode != HttpDebug::Off {
        crate::logging::to_stderr(&render(mode, req, outcome));
    }
}

fn render(mode: HttpDebug, req: &Outgoing, outcome: &Outcome) -> String {
    let mut s = String::from("Request:\n");
    let mut part = Part {
        out: &mut s,
        budget: MAX_DEBUG_BYTES,
    };
    part.line(&format!("{} {}", req.method, req.url));
    for (name, value) in &req.headers {
        part.line(&format!("{name}: {value}"));
    }
    if let (HttpDebug::Full, Some(body)) = (mode, &req.body) {
        part.body(body);
    }
    match &outcome.result {
        Ok(ex) => {
            let _ = write!(s, "\nResponse:\n{} {}\n", ex.proto, ex.status);
            let mut part = Part {
                out: &mut s,
                budget: MAX_DEBUG_BYTES,
            };
            for (name, value) in ex.headers.iter() {
                part.line(&format!("{name}: {value}"));
            }
            if mode == HttpDebug::Full && !ex.body.is_empty() {
                part.body(&ex.body);
            }
        }
        Err(e) => {
            let _ = write!(s, "\nError (code {}): ", e.code());
            let mut part = Part {
                out: &mut s,
                budget: MAX_DEBUG_BYTES,
            };
            part.line(&e.to_string());
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
                headers: [("set-cookie", "s=1")].into_iter().collect(),
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

    #[test]
    fn output_is_escaped_and_bounded() {
        let mut out = String::new();
        let mut budget = 100;
        assert!(push_escaped(&mut out, "a\x1b[2Jb\nc", &mut budget, false));
        assert_eq!(out, "a\\u{1b}[2Jb\\u{a}c");
        let mut out = String::new();
        assert!(push_escaped(&mut out, "x\ny\tz\r", &mut 100, true));
        assert_eq!(out, "x\ny\tz\\u{d}");
        let mut out = String::new();
        assert!(push_escaped(&mut out, "a\u{202e}b", &mut 100, true));
        assert_eq!(
            out, "a\\u{202e}b",
            "bidi overrides are escaped, as in the log"
        );
        let mut out = String::new();
        let mut budget = 4;
        assert!(!push_escaped(&mut out, "0123456789", &mut budget, true));
        assert_eq!((out.as_str(), budget), ("0123… (6 more bytes)", 0));

        let huge = "\x07".repeat(10 * MAX_DEBUG_BYTES);
        let req = Outgoing {
            method: "GET".into(),
            url: "http://a.test/".into(),
            headers: vec![("x-evil".into(), huge.clone())],
            body: Some(bytes::Bytes::from(huge.clone())),
            timeout: std::time::Duration::from_secs(1),
            keep_body: true,
            cookies: Vec::new(),
        };
        let outcome = Outcome {
            result: Ok(Exchange {
                status: 200,
                headers: Default::default(),
                body: bytes::Bytes::from(huge),
                timings: Timings::default(),
                proto: "HTTP/1.1",
                tls_version: None,
            }),
            bytes_sent: 0,
            bytes_received: 0,
        };
        let text = render(HttpDebug::Full, &req, &outcome);
        assert!(!text.contains('\x07'));
        // Each part prints at most its budget, each byte escaped as `\u{7}` (5 bytes).
        assert!(text.len() < 2 * 6 * MAX_DEBUG_BYTES, "{}", text.len());
        assert!(text.contains("more bytes)"));
    }
}
