//! Redirects as Go's client (and so k6) follows them.

use hyper::Uri;

use super::{Exchange, Outgoing};

/// The request a redirect response leads to, if it is one (301, 302, 303, 307, 308 with a
/// `Location`). As Go's client (and so k6) does, 301/302/303 turn a POST (303: anything but
/// HEAD) into a GET without a body; 307/308 repeat the request as it was.
pub fn redirect(req: &Outgoing, ex: &Exchange) -> Option<Outgoing> {
    if !matches!(ex.status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = ex.headers.get("location")?;
    let base: Uri = req.url.parse().ok()?;
    let url = if location.contains("://") {
        location.to_string()
    } else {
        let origin = format!("{}://{}", base.scheme_str()?, base.authority()?);
        if location.starts_with('/') {
            format!("{origin}{location}")
        } else {
            let path = base.path();
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!(
                "{origin}{}{location}",
                if dir.is_empty() { "/" } else { dir }
            )
        }
    };
    let mut next = req.clone();
    next.url = url;
    let to_get = match ex.status {
        303 => req.method != "HEAD",
        301 | 302 => req.method == "POST",
        _ => false,
    };
    if to_get {
        next.method = "GET".into();
        next.body = None;
        next.headers.retain(|(n, _)| {
            !n.eq_ignore_ascii_case("content-type") && !n.eq_ignore_ascii_case("content-length")
        });
    }
    // Cookies are taken from the jar for the new URL; a Host header would be wrong there.
    next.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("host"));
    Some(next)
}
