//! The host side of the WIT `cookies` import (k6's `http.cookieJar()`): the VU's own cookie jar,
//! addressed by URL. A guest can make the jar hold at most [`MAX_COOKIES`] cookies this way (or
//! through servers' `Set-Cookie`), each from at most [`MAX_COOKIE_BYTES`] of text.

use super::bindings::cookies;
use super::state::VuState;
use crate::transport::{MAX_COOKIES, MAX_COOKIE_BYTES};

/// The parts of `url` a jar goes by: whether it is https, its host, its path.
fn target(url: &str) -> Result<(bool, String, String), String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("cookie jar: invalid URL '{url}': {e}"))?;
    let secure = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => {
            return Err(format!(
                "cookie jar: '{url}' is not an http:// or https:// URL"
            ))
        }
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("cookie jar: '{url}' has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let path = match uri.path() {
        "" => "/".to_string(),
        p => p.to_string(),
    };
    Ok((secure, host, path))
}

impl cookies::Host for VuState {
    fn set(&mut self, url: String, set_cookie: String) -> Result<(), String> {
        // As k6 (Go's cookie jar): a URL no request could go to sets nothing, and is no error.
        let Ok((_, host, path)) = target(&url) else {
            return Ok(());
        };
        if set_cookie.len() > MAX_COOKIE_BYTES {
            return Err(format!(
                "cookie jar: a cookie of {} bytes; at most {MAX_COOKIE_BYTES} are taken",
                set_cookie.len()
            ));
        }
        let mut jar = self.client.jar();
        if jar.len() >= MAX_COOKIES {
            return Err(format!(
                "cookie jar: it holds {MAX_COOKIES} cookies, the most a VU's jar holds"
            ));
        }
        jar.store(&host, &path, std::iter::once(set_cookie.as_str()));
        Ok(())
    }

    fn for_url(&mut self, url: String) -> Result<Vec<(String, String)>, String> {
        let (secure, host, path) = target(&url)?;
        let header = self.client.jar().header(secure, &host, &path, &[]);
        Ok(header
            .iter()
            .flat_map(|h| h.split("; "))
            .filter_map(|pair| pair.split_once('='))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect())
    }

    fn clear(&mut self, url: String) -> Result<(), String> {
        let (_, host, path) = target(&url)?;
        self.client.jar().remove(&host, &path, None);
        Ok(())
    }

    fn delete(&mut self, url: String, name: String) -> Result<(), String> {
        let (_, host, path) = target(&url)?;
        self.client.jar().remove(&host, &path, Some(&name));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jar_is_addressed_by_http_urls_only() {
        assert_eq!(
            target("https://a.test").unwrap(),
            (true, "a.test".to_string(), "/".to_string())
        );
        assert_eq!(target("http://a.test/x/y?q").unwrap().2, "/x/y");
        assert!(target("ftp://a.test/").unwrap_err().contains("not an http"));
        assert!(target("not a url").unwrap_err().contains("invalid URL"));
    }
}
