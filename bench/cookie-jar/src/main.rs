//! Per-request cost of Volley's cookie jar against cookie_store 0.22, for the same work:
//! store a response's Set-Cookie headers, then build the Cookie header of the next requests.
#![allow(dead_code)]
#[path = "../../../host/src/transport/cookies.rs"]
mod volley_jar;

use std::hint::black_box;
use std::time::Instant;

const SET: [&str; 3] = [
    "session=abc; Path=/; HttpOnly",
    "cart=1",
    "wide=w; Domain=.shop.test; Path=/; Secure",
];

fn volley(n: u32, cookies: bool) -> f64 {
    let mut jar = volley_jar::CookieJar::default();
    if cookies {
        jar.store("shop.test", "/cart/add", SET.into_iter());
    }
    let t = Instant::now();
    for _ in 0..n {
        black_box(jar.header(false, black_box("shop.test"), black_box("/cart/view"), &[]));
    }
    t.elapsed().as_nanos() as f64 / f64::from(n)
}

/// What the transport would do with cookie_store: a `Url` per request (it has a hyper `Uri`),
/// the matches, sorted by path length as RFC 6265 asks (cookie_store leaves them in hash order),
/// joined into the header.
fn cookie_store(n: u32, cookies: bool) -> f64 {
    let mut store = cookie_store::CookieStore::default();
    if cookies {
        let url = url::Url::parse("http://shop.test/cart/add").unwrap();
        for s in SET {
            let _ = store.parse(s, &url);
        }
    }
    let t = Instant::now();
    for _ in 0..n {
        let (host, path) = (black_box("shop.test"), black_box("/cart/view"));
        let url = url::Url::parse(&format!("http://{host}{path}")).unwrap();
        let mut m = store.matches(&url);
        m.sort_by_key(|c| std::cmp::Reverse(c.path.as_ref().len()));
        let header = (!m.is_empty()).then(|| {
            m.iter()
                .map(|c| format!("{}={}", c.name(), c.value()))
                .collect::<Vec<_>>()
                .join("; ")
        });
        black_box(header);
    }
    t.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    let mut jar = volley_jar::CookieJar::default();
    jar.store("shop.test", "/cart/add", SET.into_iter());
    let mut store = cookie_store::CookieStore::default();
    let url = url::Url::parse("http://shop.test/cart/add").unwrap();
    for s in SET {
        let _ = store.parse(s, &url);
    }
    let mut m = store.matches(&url::Url::parse("http://shop.test/cart/view").unwrap());
    m.sort_by_key(|c| std::cmp::Reverse(c.path.as_ref().len()));
    let theirs: Vec<String> = m
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    println!(
        "same header: volley {:?}, cookie_store {:?}",
        jar.header(false, "shop.test", "/cart/view", &[]),
        theirs.join("; ")
    );
    let n = 1_000_000;
    for cookies in [false, true] {
        let what = if cookies { "3 cookies" } else { "empty jar" };
        // Warm up, then measure.
        volley(n / 10, cookies);
        cookie_store(n / 10, cookies);
        println!(
            "{what}: volley jar {:.0} ns/request, cookie_store {:.0} ns/request",
            volley(n, cookies),
            cookie_store(n, cookies)
        );
    }
}
