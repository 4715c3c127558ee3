//! A VU's cookie jar, as k6 keeps one: cookies from `Set-Cookie` go back to matching requests,
//! and the jar is emptied at the start of every iteration.
//!
//! Written here rather than with `cookie_store` (weighed for issue 17; numbers in
//! `docs/design/007-hand-written-or-a-library.md`): its every call takes a `url::Url`, so each
//! request would format and parse one beside hyper's `Uri`, about 4x this jar's cost per request;
//! it yields matches in hash order, so the longest-path-first order and a request's own cookies
//! would still be code here; and it checks public suffixes only against a list the caller loads
//! and keeps current, which without one it does no more than this jar. A jar emptied every
//! iteration holds a few cookies, for which a scan of a `Vec` is the cheapest form.

use std::time::SystemTime;

/// Most cookies a VU's jar holds. Past it, a cookie a server sets replaces the oldest (as
/// browsers evict), and the script's own `jar.set` is refused.
pub const MAX_COOKIES: usize = 1000;
/// Longest `Set-Cookie` text kept, in bytes; a longer one is ignored (from a server) or refused
/// (from the script).
pub const MAX_COOKIE_BYTES: usize = 8 << 10;

/// One stored cookie.
#[derive(Debug, Clone, PartialEq)]
struct Cookie {
    name: String,
    value: String,
    /// Lower-case domain; `host_only` cookies match it exactly, others its subdomains too.
    domain: String,
    host_only: bool,
    path: String,
    secure: bool,
    expires: Option<SystemTime>,
}

/// The jar.
#[derive(Debug, Default)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
}

impl CookieJar {
    /// Forgets every cookie.
    pub fn clear(&mut self) {
        self.cookies.clear();
    }

    /// How many cookies the jar holds (expired ones included until they are replaced).
    pub fn len(&self) -> usize {
        self.cookies.len()
    }

    /// Whether the jar holds no cookie.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// Forgets the cookies a request to `host` and `path` would carry (all of them, or only
    /// those named `name`), whether secure or not.
    pub fn remove(&mut self, host: &str, path: &str, name: Option<&str>) {
        let host = host.to_ascii_lowercase();
        self.cookies.retain(|c| {
            let sent = if c.host_only {
                host == c.domain
            } else {
                host == c.domain || host.ends_with(&format!(".{}", c.domain))
            } && path_matches(path, &c.path);
            !(sent && name.is_none_or(|n| n == c.name))
        });
    }

    /// Stores the cookies of a response from `host` for request path `path`, within
    /// [`MAX_COOKIES`] (the oldest go first) and [`MAX_COOKIE_BYTES`] each: a server cannot
    /// make the jar grow without end, even with `noCookiesReset` over a whole test.
    pub fn store<'a>(
        &mut self,
        host: &str,
        path: &str,
        set_cookies: impl Iterator<Item = &'a str>,
    ) {
        for header in set_cookies.filter(|h| h.len() <= MAX_COOKIE_BYTES) {
            let Some(cookie) = parse(header, host, path) else {
                continue;
            };
            self.cookies.retain(|c| {
                !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path)
            });
            if cookie.expires.is_none_or(|t| t > SystemTime::now()) {
                if self.cookies.len() >= MAX_COOKIES {
                    self.cookies.remove(0);
                }
                self.cookies.push(cookie);
            }
        }
    }

    /// The `Cookie` header value for a request: the jar's matching cookies, then `own` (the
    /// request's own cookies, which replace jar cookies of the same name).
    pub fn header(
        &self,
        secure: bool,
        host: &str,
        path: &str,
        own: &[(String, String)],
    ) -> Option<String> {
        if self.cookies.is_empty() && own.is_empty() {
            // The common case, on every request: nothing to send, nothing to allocate.
            return None;
        }
        let now = SystemTime::now();
        let host = host.to_ascii_lowercase();
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| c.expires.is_none_or(|t| t > now))
            .filter(|c| secure || !c.secure)
            .filter(|c| {
                if c.host_only {
                    host == c.domain
                } else {
                    host == c.domain || host.ends_with(&format!(".{}", c.domain))
                }
            })
            .filter(|c| path_matches(path, &c.path))
            .filter(|c| !own.iter().any(|(name, _)| *name == c.name))
            .collect();
        // Longer paths first, as RFC 6265 asks.
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let pairs: Vec<String> = matching
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .chain(own.iter().map(|(n, v)| format!("{n}={v}")))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request[cookie.len()..].starts_with('/')))
}

/// The default path of RFC 6265: the request path up to its last `/`.
fn default_path(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].into(),
    }
}

fn parse(header: &str, host: &str, path: &str) -> Option<Cookie> {
    let mut parts = header.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let mut cookie = Cookie {
        name: name.to_string(),
        value: value.trim().trim_matches('"').to_string(),
        domain: host.to_ascii_lowercase(),
        host_only: true,
        path: default_path(path.split('?').next().unwrap_or("/")),
        secure: false,
        expires: None,
    };
    let mut max_age = None;
    for attr in parts {
        let (key, val) = attr.split_once('=').unwrap_or((attr, ""));
        let val = val.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "domain" if !val.is_empty() => {
                let domain = val.trim_start_matches('.').to_ascii_lowercase();
                let host = host.to_ascii_lowercase();
                // A server may only set cookies for itself or a parent domain.
                if host != domain && !host.ends_with(&format!(".{domain}")) {
                    return None;
                }
                cookie.domain = domain;
                cookie.host_only = false;
            }
            "path" if val.starts_with('/') => cookie.path = val.to_string(),
            "secure" => cookie.secure = true,
            "max-age" => max_age = val.parse::<i64>().ok(),
            "expires" => cookie.expires = httpdate::parse_http_date(val).ok(),
            _ => {}
        }
    }
    // Max-Age wins over Expires; zero or less deletes.
    if let Some(secs) = max_age {
        cookie.expires = Some(if secs <= 0 {
            SystemTime::UNIX_EPOCH
        } else {
            SystemTime::now() + std::time::Duration::from_secs(secs as u64)
        });
    }
    Some(cookie)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_come_back_to_matching_requests() {
        let mut jar = CookieJar::default();
        jar.store(
            "shop.test",
            "/cart/add",
            [
                "session=abc; Path=/; HttpOnly",
                "cart=1",
                "wide=w; Domain=.shop.test; Path=/; Secure",
            ]
            .into_iter(),
        );
        assert_eq!(
            jar.header(false, "shop.test", "/cart/view", &[]).as_deref(),
            Some("cart=1; session=abc")
        );
        assert_eq!(
            jar.header(true, "api.shop.test", "/", &[]).as_deref(),
            Some("wide=w"),
            "domain cookies reach subdomains, host-only ones do not"
        );
        assert_eq!(jar.header(false, "other.test", "/", &[]), None);
    }

    #[test]
    fn remove_forgets_what_a_url_would_carry() {
        let mut jar = CookieJar::default();
        jar.store(
            "a.test",
            "/",
            ["x=1; Path=/", "y=2; Path=/", "z=3; Path=/api"].into_iter(),
        );
        jar.store("b.test", "/", ["x=other"].into_iter());
        jar.remove("a.test", "/", Some("x"));
        assert_eq!(
            jar.header(false, "a.test", "/api", &[]).as_deref(),
            Some("z=3; y=2")
        );
        jar.remove("a.test", "/", None);
        assert_eq!(
            jar.header(false, "a.test", "/api", &[]).as_deref(),
            Some("z=3"),
            "/api is not sent to /"
        );
        assert_eq!(
            jar.header(false, "b.test", "/", &[]).as_deref(),
            Some("x=other")
        );
        assert_eq!(jar.len(), 2);
    }

    #[test]
    fn expiry_deletes_and_clear_empties() {
        let mut jar = CookieJar::default();
        jar.store("a.test", "/", ["x=1", "y=2"].into_iter());
        jar.store(
            "a.test",
            "/",
            [
                "x=gone; Max-Age=0",
                "y=old; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            ]
            .into_iter(),
        );
        assert_eq!(jar.header(false, "a.test", "/", &[]), None);
        jar.store("a.test", "/", ["z=3"].into_iter());
        assert_eq!(
            jar.header(
                false,
                "a.test",
                "/",
                &[("z".into(), "mine".into()), ("w".into(), "1".into())]
            )
            .as_deref(),
            Some("z=mine; w=1"),
            "a request's own cookies replace the jar's of the same name"
        );
        jar.clear();
        assert_eq!(jar.header(false, "a.test", "/", &[]), None);
    }

    #[test]
    fn a_server_cannot_grow_the_jar_past_its_bound() {
        let mut jar = CookieJar::default();
        for i in 0..MAX_COOKIES + 5 {
            let header = format!("c{i}=v");
            jar.store("a.test", "/", std::iter::once(header.as_str()));
        }
        assert_eq!(jar.len(), MAX_COOKIES);
        let sent = jar.header(false, "a.test", "/", &[]).unwrap();
        assert!(!sent.contains("c4=v") && sent.contains("c5=v") && sent.contains("c1004=v"));
        let big = format!("big={}", "v".repeat(MAX_COOKIE_BYTES));
        jar.store("a.test", "/", std::iter::once(big.as_str()));
        assert!(!jar
            .header(false, "a.test", "/", &[])
            .unwrap()
            .contains("big="));
    }

    #[test]
    fn foreign_domains_are_refused() {
        let mut jar = CookieJar::default();
        jar.store("a.test", "/", ["x=1; Domain=b.test"].into_iter());
        assert_eq!(jar.header(false, "b.test", "/", &[]), None);
    }
}
